"""Audio I/O through soundfile (libsndfile reads and writes wav, flac, ogg and mp3).

torchaudio >= 2.9 has no audio I/O of its own without FFmpeg, so every decode in the project
goes through these functions; resampling uses soxr (high quality, fast, deterministic).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr


class AudioReadError(OSError):
    """An audio file is missing or cannot be decoded."""


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    frames: int
    channels: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Header information of an audio file; raises ``AudioReadError`` naming the file."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioReadError(f"{path}: cannot read audio header ({error})") from error
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioReadError(f"{path}: audio header reports no samples")
    return AudioInfo(sample_rate=info.samplerate, frames=info.frames, channels=info.channels)


def load_audio(path: str | os.PathLike, sample_rate: int | None = None) -> np.ndarray:
    """Decode a file to mono float32, resampled to ``sample_rate`` when given."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioReadError(f"{path}: cannot decode audio ({error})") from error
    if data.shape[0] == 0:
        raise AudioReadError(f"{path}: audio file has no samples")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if sample_rate is not None and rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def write_audio(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int) -> None:
    """Write mono audio; the container (wav, flac, mp3, ...) follows the file extension."""
    sf.write(str(path), np.asarray(waveform, dtype=np.float32), sample_rate)
