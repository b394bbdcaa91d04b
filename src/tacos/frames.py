"""The frame grid: how many frames a clip has at a frame step, and where each frame starts.

Frame ``t`` covers ``[t * step, (t + 1) * step)``. Every user of frames calls these functions: the
model (its output length and its mask of real frames), the frame-wise loss (region spans), the
score files, detection and the plots, so that they agree on every input (lhotse's
``compute_num_frames`` is the model: one rule, imported everywhere).

Positions are counted in integer micro-frames (``seconds / step`` rounded to 1e-6 frame) before
floor or ceil, so float error cannot move a boundary by a frame: ``0.58 / 0.02`` is
28.999999999999996 in floats and still starts at frame 29, ``0.14 / 0.02`` is 7.000000000000001 and
still ends at frame 7. The same IEEE operations run on Python floats, numpy arrays and torch
tensors, so all three give the same integers.

A clip of ``duration`` seconds has ``frame_count(duration, step)`` frames: those that start before
its end (a clip of 10.00025 s at 20 ms has 501 frames, the last one 0.25 ms long).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, overload

import numpy as np

if TYPE_CHECKING:  # torch tensors are handled through their methods: no torch import here,
    import torch  # so that the metric workers that read score files stay light

MICRO_FRAMES = 10**6
"""Resolution of frame positions: 1e-6 frame (20 ns at 20 ms frames)."""


def _check_step(step: float) -> None:
    if not step > 0:
        raise ValueError(f"the frame step must be a positive duration in seconds, got {step}")


@overload
def micro_frames(seconds: float, step: float) -> int: ...
@overload
def micro_frames(seconds: np.ndarray, step: float) -> np.ndarray: ...
@overload
def micro_frames(seconds: torch.Tensor, step: float) -> torch.Tensor: ...
def micro_frames(seconds, step):
    """``seconds / step`` in integer micro-frames (round half to even, in float64)."""
    _check_step(step)
    if _is_tensor(seconds):
        return (seconds.double() / step * MICRO_FRAMES).round().long()
    scaled = np.rint(np.asarray(seconds, dtype=np.float64) / step * MICRO_FRAMES).astype(np.int64)
    return int(scaled) if scaled.ndim == 0 else scaled


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch")


def frame_floor(seconds, step: float):
    """Index of the frame that contains time ``seconds`` (a region's first frame)."""
    micro = micro_frames(seconds, step)
    return micro // MICRO_FRAMES


def frame_ceil(seconds, step: float):
    """Number of frames that start before time ``seconds`` (a region's end, exclusive)."""
    micro = micro_frames(seconds, step)
    return -((-micro) // MICRO_FRAMES)


def frame_count(duration: float, step: float) -> int:
    """Frames of a clip of ``duration`` seconds: those that start before its end."""
    return int(frame_ceil(float(duration), step))


def input_frames(n_samples: int, sample_rate: int, step: float) -> int:
    """Frames of an input of ``n_samples`` at ``sample_rate`` (at least one)."""
    return max(1, frame_count(n_samples / sample_rate, step))


def frame_edges(n_frames: int, step: float, duration: float | None = None) -> np.ndarray:
    """The ``n_frames + 1`` boundaries ``0, step, 2 step, ...`` of consecutive frames.

    With ``duration``, the last boundary is clipped to it when the frames reach past the clip's
    end (a trimmed clip's last frame ends with the audio); without, the frames are left as the
    model gave them (the authors' untrimmed protocol, frames past the end included).
    """
    _check_step(step)
    edges = np.arange(n_frames + 1, dtype=np.float64) * step
    if duration is not None:
        edges[-1] = min(edges[-1], duration)
    return edges


def same_step(first: float, second: float) -> bool:
    """Whether two frame steps are one grid (equal up to float error)."""
    return math.isclose(first, second, rel_tol=1e-9, abs_tol=0.0)
