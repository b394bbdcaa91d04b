"""Frame scores of a whole evaluation set in one HDF5 file, laid out for reads one class at a time.

The real set is 16,935 clips x 407 classes x 250-500 frames: gigabytes of scores that neither
fit thousands of TSV files nor one in-memory evaluation (docs/protocol.md, section 6). The metric
code reads a block of classes across all clips at a time, so the file is chunked by class.

Layout (format version 2):

- ``scores``: float16 or float32 ``[total_frames, n_classes]``, the clips' frames concatenated
  in the order they were added; HDF5 chunks of ``frames_per_chunk x classes_per_chunk``, so
  reading the classes of one chunk column touches nothing else, and appending whole blocks of
  frames writes whole chunks.
- ``clip_id`` (utf-8), ``offset``, ``n_frames``, ``duration``: one row per clip; the clip's
  scores are ``scores[offset:offset + n_frames]``.
- ``class_names`` (utf-8); attrs ``format_version``, ``delta`` (seconds per frame),
  ``classes_per_chunk``, ``clips_short`` (clips whose frames end before the audio does) and
  ``model`` (JSON: the scored model's identity, from its checkpoint).

Frames: frame ``t`` covers ``[t * delta, (t + 1) * delta)`` (``tacos.frames``). The file keeps
every frame the model gave for the clip's input, padding included, so both frame protocols can
be read from it (``FRAME_PROTOCOLS``):

- ``untrimmed`` (the authors'): every frame, also those that start after the clip's end. The
  authors score the padded 30 s input (1491 frames up to 29.82 s) against each clip's real
  duration; frames past the end then count as false positives in PSDS.
- ``trimmed`` (corrected): the ``frame_count(duration)`` frames that start before the clip's end,
  the last one ending with the audio.

Scores are never rounded: ties make pAUROC pessimistic. A clip whose model gave fewer frames
than its duration holds keeps them all and is counted in ``clips_short``.

The writer fills ``<path>.partial`` and renames it to ``<path>`` on ``close()``, so a crashed
scoring run never leaves a file that looks complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import h5py
import numpy as np
import pandas as pd

from tacos.frames import frame_count, frame_edges
from tacos.names import FRAME_PROTOCOLS as NAMED_FRAME_PROTOCOLS

FORMAT_VERSION = 2
STRING = h5py.string_dtype("utf-8")
CLASSES_PER_CHUNK = 8
FRAMES_PER_CHUNK = 1 << 14  # 8 classes x 16384 frames = 256 KiB of float16, 512 KiB of float32
SCORE_DTYPES = (np.float16, np.float32)
FrameProtocol = Literal["untrimmed", "trimmed"]
FRAME_PROTOCOLS: tuple[FrameProtocol, ...] = NAMED_FRAME_PROTOCOLS


def check_frame_protocol(frames: str) -> FrameProtocol:
    if frames not in FRAME_PROTOCOLS:
        raise ValueError(f"frame protocol must be one of {FRAME_PROTOCOLS}, got {frames!r}")
    return frames


def protocol_frames(n_frames: int, delta: float, duration: float, frames: FrameProtocol) -> int:
    """How many of a clip's ``n_frames`` stored frames the frame protocol scores."""
    if check_frame_protocol(frames) == "untrimmed":
        return n_frames
    return min(n_frames, frame_count(duration, delta))


def score_dataframe(
    scores: np.ndarray,
    delta: float,
    duration: float,
    class_names: Sequence[str],
    frames: FrameProtocol,
) -> pd.DataFrame:
    """A sed_scores_eval score DataFrame of one clip's frame scores ``[T, K]`` as stored.

    ``trimmed`` keeps the frames that start before ``duration`` and ends the last with it;
    ``untrimmed`` keeps every frame with its grid times (frames past the end included).
    """
    # imported here: the fast engine's workers read score files without loading the library
    from sed_scores_eval.base_modules.scores import create_score_dataframe

    kept = scores[: protocol_frames(len(scores), delta, duration, frames)]
    edges = frame_edges(len(kept), delta, duration if frames == "trimmed" else None)
    return create_score_dataframe(kept, edges, list(class_names))


class ScoreWriter:
    """Appends clips' frame scores to a new score file; use as a context manager."""

    def __init__(
        self,
        path: str | os.PathLike,
        class_names: Sequence[str],
        delta: float,
        dtype: type = np.float32,
        classes_per_chunk: int = CLASSES_PER_CHUNK,
        frames_per_chunk: int = FRAMES_PER_CHUNK,
        model_info: Mapping | None = None,
    ):
        if np.dtype(dtype) not in [np.dtype(kind) for kind in SCORE_DTYPES]:
            raise ValueError(f"scores are stored as float16 or float32, not {np.dtype(dtype)}")
        if delta <= 0:
            raise ValueError(f"frame duration delta must be positive, got {delta}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.class_names = list(class_names)
        self.delta = float(delta)
        self.frames_per_chunk = frames_per_chunk
        self._file = h5py.File(self.partial, "w")
        n_classes = len(self.class_names)
        self._scores = self._file.create_dataset(
            "scores",
            shape=(0, n_classes),
            maxshape=(None, n_classes),
            dtype=dtype,
            chunks=(frames_per_chunk, min(classes_per_chunk, n_classes)),
        )
        self._file.attrs["format_version"] = FORMAT_VERSION
        self._file.attrs["delta"] = self.delta
        self._file.attrs["classes_per_chunk"] = min(classes_per_chunk, n_classes)
        self._file.attrs["model"] = json.dumps(dict(model_info or {}), sort_keys=True)
        self._file.create_dataset("class_names", data=self.class_names, dtype=STRING)
        self._pending: list[np.ndarray] = []
        self._pending_frames = 0
        self._written_frames = 0
        self._clip_ids: list[str] = []
        self._seen: set[str] = set()
        self._n_frames: list[int] = []
        self._durations: list[float] = []
        self._short = 0

    def add(self, clip_id: str, scores: np.ndarray, duration: float) -> None:
        """Add one clip's frame scores ``[T, n_classes]`` (all frames) and its duration."""
        scores = np.asarray(scores)
        if clip_id in self._seen:
            raise ValueError(f"clip {clip_id!r} was added twice")
        if scores.ndim != 2 or scores.shape[1] != len(self.class_names) or len(scores) == 0:
            raise ValueError(
                f"clip {clip_id!r}: scores must be [frames, {len(self.class_names)}], "
                f"got {scores.shape}"
            )
        if not np.isfinite(scores).all():
            raise ValueError(f"clip {clip_id!r}: scores contain NaN or infinity")
        needed = frame_count(duration, self.delta)
        if needed < 1:
            raise ValueError(f"clip {clip_id!r}: duration {duration} s holds no frame")
        self._short += len(scores) < needed
        kept = scores.astype(self._scores.dtype)
        self._seen.add(clip_id)
        self._clip_ids.append(clip_id)
        self._n_frames.append(len(kept))
        self._durations.append(float(duration))
        self._pending.append(kept)
        self._pending_frames += len(kept)
        if self._pending_frames >= self.frames_per_chunk:
            self._flush(whole_chunks_only=True)

    def _flush(self, whole_chunks_only: bool) -> None:
        """Write pending frames; during adding only whole chunks, so no chunk is written twice."""
        if not self._pending:
            return
        block = np.concatenate(self._pending)
        count = len(block)
        if whole_chunks_only:
            count -= (self._written_frames + count) % self.frames_per_chunk
        start = self._written_frames
        self._scores.resize(start + count, axis=0)
        self._scores[start : start + count] = block[:count]
        self._written_frames += count
        rest = block[count:]
        self._pending = [rest] if len(rest) else []
        self._pending_frames = len(rest)

    def close(self) -> Path:
        """Write the index and move the finished file into place; returns its path."""
        self._flush(whole_chunks_only=False)
        n_frames = np.asarray(self._n_frames, dtype=np.int64)
        offsets = np.cumsum(n_frames) - n_frames
        self._file.create_dataset("clip_id", data=self._clip_ids, dtype=STRING)
        self._file.create_dataset("offset", data=offsets)
        self._file.create_dataset("n_frames", data=n_frames)
        self._file.create_dataset("duration", data=np.asarray(self._durations, dtype=np.float64))
        self._file.attrs["clips_short"] = self._short
        self._file.close()
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (an exception happened while scoring)."""
        self._file.close()
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> ScoreWriter:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is None:
            self.close()
        else:
            self.abort()


class ScoreReader:
    """Reads a score file written by ``ScoreWriter``; use as a context manager."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._file = h5py.File(self.path, "r")
        version = self._file.attrs.get("format_version")
        if version != FORMAT_VERSION:
            self._file.close()
            raise ValueError(f"{self.path}: score file format {version}, expected {FORMAT_VERSION}")
        self.delta = float(self._file.attrs["delta"])
        self.classes_per_chunk = int(self._file.attrs["classes_per_chunk"])
        self.clips_short = int(self._file.attrs["clips_short"])
        self.model_info = json.loads(self._file.attrs["model"])
        self.class_names = [name.decode() for name in self._file["class_names"][:]]
        self.clip_ids = [clip_id.decode() for clip_id in self._file["clip_id"][:]]
        self.offsets = self._file["offset"][:]
        self.n_frames = self._file["n_frames"][:]
        self.durations = dict(zip(self.clip_ids, self._file["duration"][:].tolist(), strict=True))
        self._scores = self._file["scores"]

    @property
    def dtype(self) -> np.dtype:
        return self._scores.dtype

    def class_index(self, class_names: Sequence[str]) -> list[int]:
        """Column indices of ``class_names``; a name the file has no scores for is an error."""
        position = {name: index for index, name in enumerate(self.class_names)}
        missing = [name for name in class_names if name not in position]
        if missing:
            raise KeyError(f"{self.path} has no scores for classes {missing[:5]} ({len(missing)})")
        return [position[name] for name in class_names]

    def read_classes(self, class_indices: Sequence[int]) -> list[np.ndarray]:
        """Stored scores ``[T_i, len(class_indices)]`` of every clip, in file order, for a few
        classes (all stored frames; ``score_dataframe`` applies the frame protocol).

        Reads only the block of columns from the smallest to the largest index, so keep the
        indices within one or a few chunks (``classes_per_chunk``) to bound memory and I/O.
        """
        return np.split(self.read_block(class_indices), self.offsets[1:])

    def read_block(self, class_indices: Sequence[int]) -> np.ndarray:
        """Stored scores ``[total_frames, len(class_indices)]`` of a few classes, all clips'
        frames concatenated in file order (see ``read_classes`` on the columns read)."""
        low, high = min(class_indices), max(class_indices) + 1
        block = self._scores[:, low:high]
        return block[:, [index - low for index in class_indices]]

    def clip_scores(self, clip_index: int) -> np.ndarray:
        """All classes' scores ``[T, K]`` of one clip."""
        start = int(self.offsets[clip_index])
        return self._scores[start : start + int(self.n_frames[clip_index])]

    def score_dataframes(
        self, frames: FrameProtocol, class_names: Sequence[str] | None = None
    ) -> dict[str, pd.DataFrame]:
        """sed_scores_eval score DataFrames of every clip for ``class_names`` (default: all)."""
        class_names = list(self.class_names if class_names is None else class_names)
        columns = self.read_classes(self.class_index(class_names))
        return {
            clip_id: score_dataframe(
                scores, self.delta, self.durations[clip_id], class_names, frames
            )
            for clip_id, scores in zip(self.clip_ids, columns, strict=True)
        }

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ScoreReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
