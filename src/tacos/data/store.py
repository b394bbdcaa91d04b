"""Decoded audio of a whole manifest in one HDF5 file, so training never decodes mp3 again.

Decoding and resampling a 30 s mp3 costs milliseconds of CPU per clip and epoch; reading the
same samples back from one file is an order of magnitude cheaper. The store is built once per
manifest and sample rate.

Layout (format version 1):

- ``samples``: 1-D int16, the clips' waveforms concatenated in manifest order. int16 rather
  than float16: both take 2 bytes a sample, but int16 spreads its 16 bits uniformly (about
  96 dB below the clip's peak) where float16 keeps only 11 bits of mantissa, and a per-clip
  ``scale`` (peak / 32767) keeps the full resolution for quiet clips and never clips the
  overshoot above 1.0 that mp3 decoding and resampling produce.
- ``clip_id`` (utf-8), ``offset``, ``length`` (samples), ``scale``: one row per stored clip;
  a clip's waveform is ``samples[offset:offset + length] * scale``.
- ``skipped_clip_id``, ``skipped_reason``: clips whose audio could not be decoded.
- attrs: ``format_version``, ``sample_rate``, ``manifest_sha256`` (of the manifest as
  ``write_manifest`` writes it), ``complete``, and the progress counters ``clips_done``
  (manifest clips processed, stored or skipped) and ``entries_done`` (rows of the index).

The build writes ``<out>.partial``, records its progress after every few clips and renames the
file to ``<out>`` only when every clip is in; a rerun on a partial made from the same manifest
and sample rate continues after the last recorded clip.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from itertools import islice
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from tacos.data.audio import AudioReadError, load_audio
from tacos.data.manifest import Clip, read_manifest
from tacos.data.report import DataFormatError, DataReport

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SAMPLE_CHUNK = 1 << 16  # 128 KiB of int16: a 10 s crop at 16 kHz touches 3 to 4 chunks
INDEX_CHUNK = 1024
INT16_PEAK = 32767
UNDECODABLE = "undecodable audio"
STRING = h5py.string_dtype("utf-8")
COPY_BLOCK = 1 << 24  # samples copied at a time when a partial is salvaged (32 MiB)
INDEX_DTYPES = {
    "clip_id": STRING,
    "offset": np.int64,
    "length": np.int64,
    "scale": np.float32,
    "skipped_clip_id": STRING,
    "skipped_reason": STRING,
}


def manifest_sha256(clips: Iterable[Clip]) -> str:
    """sha256 of the clips serialised as ``write_manifest`` writes them (equals ``sha256sum``)."""
    digest = hashlib.sha256()
    for clip in clips:
        digest.update((clip.to_json() + "\n").encode("utf-8"))
    return digest.hexdigest()


def report_path(store_path: str | os.PathLike) -> Path:
    """Where the build's ``DataReport`` lies: next to the store."""
    store_path = Path(store_path)
    return store_path.with_name(store_path.name + ".report.json")


def quantise(waveform: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """int16 samples and the float32 scale that maps them back (peak maps to 32767)."""
    peak = float(np.max(np.abs(waveform))) if waveform.size else 0.0
    scale = np.float32(peak / INT16_PEAK if peak > 0.0 else 1.0 / INT16_PEAK)
    samples = np.rint(waveform.astype(np.float64) / np.float64(scale))
    return np.clip(samples, -INT16_PEAK, INT16_PEAK).astype(np.int16), scale


def build_audio_store(
    source: Iterable[Clip] | str | os.PathLike,
    out_path: str | os.PathLike,
    sample_rate: int,
    threads: int = 1,
    checkpoint_every: int = 64,
    progress: bool = True,
) -> DataReport:
    """Decode every clip of a manifest (path or clips) once into one HDF5 store at ``out_path``.

    Decoding runs on ``threads`` threads (libsndfile and soxr release the GIL; measured faster
    than processes, which pay for pickling the waveforms back) while clips are written in
    manifest order. Undecodable clips are skipped and counted in the returned report, which is
    also written to ``report_path(out_path)``.
    """
    clips = read_manifest(source) if isinstance(source, str | os.PathLike) else list(source)
    _check_unique_ids(clips, source)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    fingerprint = {
        "format_version": FORMAT_VERSION,
        "sample_rate": int(sample_rate),
        "manifest_sha256": manifest_sha256(clips),
    }
    report = DataReport(dataset=f"audio store {out_path.name}")
    writer = _StoreWriter.open(partial, fingerprint)
    try:
        _remember_skips(writer, clips, report)
        _write_remaining(writer, clips, sample_rate, threads, checkpoint_every, report, progress)
        writer.finish()
    finally:
        writer.close()
    report.keep("clips", writer.entries_done)
    report.write(report_path(out_path))
    os.replace(partial, out_path)
    log.info("%s", report.summary())
    return report


def _write_remaining(
    writer: _StoreWriter,
    clips: list[Clip],
    sample_rate: int,
    threads: int,
    checkpoint_every: int,
    report: DataReport,
    progress: bool,
) -> None:
    """Decode and write the clips after the writer's progress, checkpointing as it goes."""
    remaining = clips[writer.clips_done :]
    bar = tqdm(
        total=len(clips),
        initial=writer.clips_done,
        unit="clip",
        disable=not progress,
        desc=f"decoding at {sample_rate} Hz",
    )
    with closing(_decode_in_order(remaining, sample_rate, threads)) as decoded, bar:
        for clip, result in decoded:
            if isinstance(result, AudioReadError):
                writer.skip(clip.clip_id, str(result))
                report.skip(UNDECODABLE, clip.audio_path, None, f"clip {clip.clip_id}: {result}")
            else:
                writer.append(clip.clip_id, result)
            if writer.clips_done % checkpoint_every == 0:
                writer.checkpoint()
            bar.update()


def _check_unique_ids(clips: list[Clip], source: object) -> None:
    seen: set[str] = set()
    for position, clip in enumerate(clips):
        if clip.clip_id in seen:
            where = source if isinstance(source, str | os.PathLike) else "clips"
            raise DataFormatError(
                where,
                f"clip id {clip.clip_id!r} occurs twice",
                "give every clip of a manifest its own clip_id",
                row=position + 1,
            )
        seen.add(clip.clip_id)


def _remember_skips(writer: _StoreWriter, clips: list[Clip], report: DataReport) -> None:
    """Carry the skips a resumed partial already recorded into this run's report."""
    audio_paths = {clip.clip_id: clip.audio_path for clip in clips}
    for clip_id, reason in writer.recorded_skips():
        report.skip(UNDECODABLE, audio_paths[clip_id], None, f"clip {clip_id}: {reason}")


def _decode(audio_path: str, sample_rate: int) -> np.ndarray | AudioReadError:
    """Decode in a worker; an unreadable file comes back as a value so the writer can skip it."""
    try:
        return load_audio(audio_path, sample_rate)
    except AudioReadError as error:
        return error


def _decode_in_order(
    clips: list[Clip], sample_rate: int, threads: int
) -> Iterator[tuple[Clip, np.ndarray | AudioReadError]]:
    """Yield decoded clips in their order, keeping ``2 * threads`` decodes in flight."""
    pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="decode")
    upcoming = iter(clips)

    def submit(clip: Clip) -> tuple[Clip, Future]:
        return clip, pool.submit(_decode, clip.audio_path, sample_rate)

    try:
        pending = deque(submit(clip) for clip in islice(upcoming, 2 * max(1, threads)))
        while pending:
            clip, future = pending.popleft()
            pending.extend(submit(following) for following in islice(upcoming, 1))
            yield clip, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _StoreWriter:
    """Appends clips to a partial store and records how far it got."""

    def __init__(self, handle: h5py.File):
        self.handle = handle
        self.clips_done = int(handle.attrs["clips_done"])
        self.entries_done = int(handle.attrs["entries_done"])
        self.skips_done = self.clips_done - self.entries_done
        self.samples_done = _samples_end(handle, self.entries_done)

    @classmethod
    def open(cls, partial: Path, fingerprint: dict) -> _StoreWriter:
        """Resume a partial made with ``fingerprint``, or start afresh."""
        if partial.exists() and _salvage(partial, fingerprint):
            writer = cls(h5py.File(partial, "r+"))
            log.info("resuming %s after %d clips", partial, writer.clips_done)
            return writer
        partial.unlink(missing_ok=True)
        return cls(_create(partial, fingerprint))

    def append(self, clip_id: str, waveform: np.ndarray) -> None:
        samples, scale = quantise(waveform)
        start, stop = self.samples_done, self.samples_done + samples.size
        self.handle["samples"].resize((stop,))
        self.handle["samples"][start:stop] = samples
        row = {"clip_id": clip_id, "offset": start, "length": samples.size, "scale": scale}
        self._append_row(self.entries_done, row)
        self.samples_done = stop
        self.entries_done += 1
        self.clips_done += 1

    def skip(self, clip_id: str, reason: str) -> None:
        self._append_row(self.skips_done, {"skipped_clip_id": clip_id, "skipped_reason": reason})
        self.skips_done += 1
        self.clips_done += 1

    def recorded_skips(self) -> list[tuple[str, str]]:
        ids = self.handle["skipped_clip_id"].asstr()[: self.skips_done]
        reasons = self.handle["skipped_reason"].asstr()[: self.skips_done]
        return list(zip(ids, reasons, strict=True))

    def checkpoint(self) -> None:
        """Record progress; everything before it survives a crash of the process."""
        self.handle.attrs["clips_done"] = self.clips_done
        self.handle.attrs["entries_done"] = self.entries_done
        self.handle.flush()

    def finish(self) -> None:
        self.handle.attrs["complete"] = True
        self.checkpoint()

    def close(self) -> None:
        """Record what was written (also after an error) and close the file."""
        if self.handle.id.valid:
            self.checkpoint()
            self.handle.close()

    def _append_row(self, row_index: int, values: dict) -> None:
        for name, value in values.items():
            self.handle[name].resize((row_index + 1,))
            self.handle[name][row_index] = value


def _create(partial: Path, fingerprint: dict) -> h5py.File:
    handle = h5py.File(partial, "w")
    handle.create_dataset(
        "samples", shape=(0,), maxshape=(None,), dtype=np.int16, chunks=(SAMPLE_CHUNK,)
    )
    for name, dtype in INDEX_DTYPES.items():
        handle.create_dataset(
            name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(INDEX_CHUNK,)
        )
    handle.attrs.update(fingerprint)
    handle.attrs.update({"complete": False, "clips_done": 0, "entries_done": 0})
    handle.flush()
    return handle


def _salvage(partial: Path, fingerprint: dict) -> bool:
    """Rewrite the partial to hold exactly its last checkpoint; False if it cannot be resumed.

    Copying the checkpointed prefix into a fresh file, rather than appending in place, is what
    makes a hard crash resumable: HDF5 metadata changed after the last flush (the global heap
    of the utf-8 ids, for one) can be inconsistent, while the checkpointed data reads fine.
    The copy costs far less than decoding the clips again.
    """
    fresh = partial.with_name(partial.name + ".salvage")
    try:
        with h5py.File(partial, "r") as old:
            if not _resumable(old, partial, fingerprint):
                return False
            with _create(fresh, fingerprint) as new:
                _copy_checkpoint(old, new)
    except (OSError, KeyError, ValueError) as error:
        log.warning("discarding %s: cannot read it (%s)", partial, error)
        fresh.unlink(missing_ok=True)
        return False
    os.replace(fresh, partial)
    return True


def _resumable(handle: h5py.File, partial: Path, fingerprint: dict) -> bool:
    if not all(handle.attrs.get(key) == value for key, value in fingerprint.items()):
        log.info("discarding %s: made from another manifest or sample rate", partial)
        return False
    if not _intact(handle):
        log.warning("discarding %s: its progress does not match its datasets", partial)
        return False
    return True


def _copy_checkpoint(source: h5py.File, target: h5py.File) -> None:
    """Copy the datasets' checkpointed rows and the progress counters."""
    entries = int(source.attrs["entries_done"])
    skips = int(source.attrs["clips_done"]) - entries
    for name, dtype in INDEX_DTYPES.items():
        rows = skips if name.startswith("skipped") else entries
        column = source[name].asstr() if dtype == STRING else source[name]
        target[name].resize((rows,))
        if rows:
            target[name][:] = column[:rows]
    samples = _samples_end(source, entries)
    target["samples"].resize((samples,))
    for start in range(0, samples, COPY_BLOCK):
        stop = min(start + COPY_BLOCK, samples)
        target["samples"][start:stop] = source["samples"][start:stop]
    target.attrs["clips_done"] = source.attrs["clips_done"]
    target.attrs["entries_done"] = entries


def _intact(handle: h5py.File) -> bool:
    """Whether every dataset holds at least what the recorded progress says was written."""
    names = ("samples", *INDEX_DTYPES)
    if not all(name in handle for name in names):
        return False
    entries = int(handle.attrs.get("entries_done", -1))
    skips = int(handle.attrs.get("clips_done", -1)) - entries
    if entries < 0 or skips < 0:
        return False
    rows = {name: handle[name].shape[0] for name in INDEX_DTYPES}
    if any(rows[name] < (skips if name.startswith("skipped") else entries) for name in rows):
        return False
    return handle["samples"].shape[0] >= _samples_end(handle, entries)


def _samples_end(handle: h5py.File, entries: int) -> int:
    """Number of samples the first ``entries`` clips of the index occupy."""
    if entries == 0:
        return 0
    return int(handle["offset"][entries - 1] + handle["length"][entries - 1])


class AudioStore:
    """Read-only random access to a built store: ``store[clip_id]`` and cropped ``read``.

    The index is read once into memory; the HDF5 file is opened lazily in each process, so a
    store can be pickled into DataLoader workers (fork or spawn) without sharing a handle.
    A finished store never changes, so it is opened without HDF5 file locking, which NFS and
    Lustre file systems on clusters often refuse.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with h5py.File(self.path, "r", locking=False) as handle:
            _check_readable(handle, self.path)
            self.sample_rate = int(handle.attrs["sample_rate"])
            self.manifest_sha256 = str(handle.attrs["manifest_sha256"])
            self._ids = tuple(handle["clip_id"].asstr()[:])
            self._offsets = handle["offset"][:]
            self._lengths = handle["length"][:]
            self._scales = handle["scale"][:]
        self._rows = {clip_id: row for row, clip_id in enumerate(self._ids)}
        self._handle: h5py.File | None = None
        self._handle_pid: int | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, clip_id: object) -> bool:
        return clip_id in self._rows

    def __getitem__(self, clip_id: str) -> np.ndarray:
        return self.read(clip_id)

    def num_samples(self, clip_id: str) -> int:
        return int(self._lengths[self._row(clip_id)])

    def duration(self, clip_id: str) -> float:
        """Duration in seconds at the store's sample rate."""
        return self.num_samples(clip_id) / self.sample_rate

    def read(
        self, clip_id: str, start_s: float | None = None, duration_s: float | None = None
    ) -> np.ndarray:
        """float32 waveform of a clip, or of the crop starting at ``start_s`` lasting
        ``duration_s``; only the crop's samples are read. A crop reaching past the clip's end
        comes back shorter (padding is the caller's choice)."""
        if (start_s is not None and start_s < 0) or (duration_s is not None and duration_s < 0):
            raise ValueError(f"crop of {clip_id!r} needs start_s >= 0 and duration_s >= 0")
        row = self._row(clip_id)
        length = int(self._lengths[row])
        start = 0 if start_s is None else min(round(start_s * self.sample_rate), length)
        stop = length
        if duration_s is not None:
            stop = min(length, start + round(duration_s * self.sample_rate))
        offset = int(self._offsets[row])
        waveform = self._samples()[offset + start : offset + stop].astype(np.float32)
        waveform *= self._scales[row]
        return waveform

    def close(self) -> None:
        if self._handle is not None and self._handle_pid == os.getpid():
            self._handle.close()
        self._handle = None
        self._handle_pid = None

    def __enter__(self) -> AudioStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handle"] = None
        state["_handle_pid"] = None
        return state

    def _row(self, clip_id: str) -> int:
        try:
            return self._rows[clip_id]
        except KeyError:
            raise KeyError(f"clip {clip_id!r} is not in the audio store {self.path}") from None

    def _samples(self) -> h5py.Dataset:
        """The samples dataset of a handle opened by this process (never one inherited)."""
        if self._handle is None or self._handle_pid != os.getpid():
            self._handle = h5py.File(self.path, "r", locking=False)
            self._handle_pid = os.getpid()
        return self._handle["samples"]


def _check_readable(handle: h5py.File, path: Path) -> None:
    version = handle.attrs.get("format_version")
    if version != FORMAT_VERSION:
        raise DataFormatError(
            path,
            f"audio store format version {version}, expected {FORMAT_VERSION}",
            "rebuild the store with build_audio_store",
        )
    if not handle.attrs.get("complete", False):
        raise DataFormatError(
            path,
            "audio store is incomplete (an interrupted build)",
            "rerun build_audio_store; it resumes the partial build",
        )
