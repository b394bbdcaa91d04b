"""Frame collapse: how much neighbouring frame embeddings of a model differ.

A frame-level model whose frames barely change over a second cannot place an event's onset or
offset. For every clip, the frames that start before its end are unit-normalised and cut into
windows of ``WINDOW_SECONDS`` on the frame grid (frame ``t`` lies in window
``frame_floor(t * step, WINDOW_SECONDS)``); a window's value is the mean cosine similarity of its
neighbouring frame pairs (windows with one frame have none and are not counted). Over the eval
set: the mean and the population standard deviation (the spread) of the window values, the share
of windows above ``COLLAPSED`` (frames that barely differ) and a histogram for the figure; null
where no window has two frames (a frame step of a whole window or more).

Written as one JSON per scored model (``write_collapse``), next to its score files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tacos.frames import frame_floor

WINDOW_SECONDS = 1.0
COLLAPSED = 0.9
HISTOGRAM_BINS = 2000  # over [-1, 1]: bins of 0.001, fine enough near 1, where models lie


def window_similarities(
    frames: np.ndarray, step: float, window: float = WINDOW_SECONDS
) -> np.ndarray:
    """One clip's window values: the mean neighbour cosine of each window with two frames."""
    frames = np.asarray(frames, dtype=np.float64)
    if len(frames) < 2:
        return np.zeros(0)
    norms = np.linalg.norm(frames, axis=1, keepdims=True)
    unit = frames / np.where(norms > 0, norms, 1.0)
    cosines = np.einsum("td,td->t", unit[:-1], unit[1:])
    windows = frame_floor(np.arange(len(frames)) * step, window)
    same = windows[:-1] == windows[1:]
    pair_windows = windows[:-1][same]
    sums = np.bincount(pair_windows, weights=cosines[same])
    counts = np.bincount(pair_windows)
    kept = counts > 0
    return sums[kept] / counts[kept]


class CollapseMeter:
    """Accumulates the window values of a model's clips."""

    def __init__(self, step: float, window: float = WINDOW_SECONDS) -> None:
        self.step = float(step)
        self.window = float(window)
        self.n_clips = 0
        self.values: list[np.ndarray] = []

    def add(self, frames: np.ndarray) -> None:
        """One clip's frame embeddings ``[T, D]`` (only the frames that start before its end)."""
        self.values.append(window_similarities(frames, self.step, self.window))
        self.n_clips += 1

    def result(self) -> dict:
        values = np.concatenate(self.values) if self.values else np.zeros(0)
        histogram, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(-1.0, 1.0))
        empty = len(values) == 0
        return {
            "window_seconds": self.window,
            "frame_step": self.step,
            "n_clips": self.n_clips,
            "n_windows": int(len(values)),
            "mean": None if empty else float(values.mean()),
            "std": None if empty else float(values.std()),
            "collapsed_threshold": COLLAPSED,
            "collapsed_share": None if empty else float((values > COLLAPSED).mean()),
            "histogram": {"edges": edges.tolist(), "counts": histogram.tolist()},
        }


def write_collapse(result: Mapping, model: Mapping, path: str | os.PathLike) -> Path:
    """The diagnostic with the model's identity, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(
        json.dumps({"model": dict(model), **result}, indent=2) + "\n", encoding="utf-8"
    )
    os.replace(partial, path)
    return path


def read_collapse(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
