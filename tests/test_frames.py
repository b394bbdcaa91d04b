"""The one frame grid: every user of frames gives the same count for every clip.

A clip of ``duration`` seconds has the frames ``[t * delta, (t + 1) * delta)`` that start before
its end. The reference here is exact rational arithmetic (``fractions.Fraction``) on the sample
count and the decimal frame step, independent of ``tacos.frames``; the model's mask, the loss's
region spans, the score files' trimmed frames and detection must all give it.
"""

from __future__ import annotations

import math
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from tacos.detect import DetectionSettings, stitched_scores
from tacos.evaluation.scores import ScoreReader, ScoreWriter, protocol_frames
from tacos.frames import (
    MICRO_FRAMES,
    frame_ceil,
    frame_count,
    frame_edges,
    frame_floor,
    input_frames,
    micro_frames,
    same_step,
)
from tacos.losses import regions_to_frames
from tacos.models.dual import AudioTextModel

RATES = (16000, 32000, 44100)
DELTAS = (0.01, 0.02, 0.04, 0.1, 0.2)


def exact_count(n_samples: int, rate: int, delta: float) -> int:
    """Frames that start before the end of ``n_samples`` at ``rate``, in exact arithmetic."""
    return math.ceil(Fraction(n_samples, rate) / Fraction(str(delta)))


def sample_counts(rate: int, delta: float) -> list[int]:
    """Random lengths up to 12 s, exact frame multiples and one sample either side of them, and
    the edge cases 10 s + 1 sample and 10.00025 s."""
    frame = round(rate * delta)
    assert frame == rate * delta  # whole samples per frame at every rate and delta here
    rng = np.random.default_rng([rate, round(delta * 1000)])
    counts = [int(n) for n in rng.integers(1, 12 * rate, size=40)]
    for frames in (1, 2, 7, 250, 499, 500, 501, 1000):
        counts += [frames * frame - 1, frames * frame, frames * frame + 1]
    counts += [1, 10 * rate + 1, round(10.00025 * rate), round(10.00025 * rate) + 1]
    return sorted({count for count in counts if count > 0})


def exact_floor(n_samples: int, rate: int, delta: float) -> int:
    """The frame that contains time ``n_samples / rate``, in exact arithmetic."""
    return math.floor(Fraction(n_samples, rate) / Fraction(str(delta)))


CASES = [(rate, delta) for rate in RATES for delta in DELTAS]


def test_the_reference_of_the_edge_cases():
    assert exact_count(160_001, 16000, 0.1) == 101
    assert exact_count(160_004, 16000, 0.02) == 501  # 10.00025 s
    assert exact_count(160_000, 16000, 0.04) == 250


@pytest.mark.parametrize(("rate", "delta"), CASES)
def test_frame_count_and_input_frames_match_exact_arithmetic(rate, delta):
    for n in sample_counts(rate, delta):
        expected = exact_count(n, rate, delta)
        assert frame_count(n / rate, delta) == expected, n
        assert input_frames(n, rate, delta) == max(1, expected), n
        assert frame_floor(n / rate, delta) == exact_floor(n, rate, delta), n


@pytest.mark.parametrize(("rate", "delta"), CASES)
def test_numpy_torch_and_float_inputs_agree(rate, delta):
    counts = sample_counts(rate, delta)
    seconds = np.array(counts, dtype=np.float64) / rate
    as_floats = [micro_frames(float(value), delta) for value in seconds]
    assert all(isinstance(value, int) for value in as_floats)
    assert micro_frames(seconds, delta).tolist() == as_floats
    assert micro_frames(torch.from_numpy(seconds), delta).tolist() == as_floats
    ceil = [frame_ceil(float(value), delta) for value in seconds]
    assert frame_ceil(seconds, delta).tolist() == ceil
    assert frame_ceil(torch.from_numpy(seconds), delta).tolist() == ceil
    floor = [frame_floor(float(value), delta) for value in seconds]
    assert frame_floor(seconds, delta).tolist() == floor
    assert frame_floor(torch.from_numpy(seconds), delta).tolist() == floor
    assert ceil == [exact_count(n, rate, delta) for n in counts]


def test_boundaries_on_frame_multiples_do_not_move_with_float_error():
    assert 0.58 / 0.02 < 29 and 0.14 / 0.02 > 7  # the float quotients are off the integers
    assert frame_count(10.0, 0.04) == 250
    assert frame_floor(0.58, 0.02) == 29 and frame_ceil(0.58, 0.02) == 29
    assert frame_ceil(0.14, 0.02) == 7
    assert micro_frames(10.0, 0.04) == 250 * MICRO_FRAMES
    assert frame_count(10.00025, 0.02) == 501
    assert frame_count(160_001 / 16000, 0.1) == 101
    with pytest.raises(ValueError, match="positive"):
        frame_count(1.0, 0.0)


def test_frame_edges_and_same_step():
    assert frame_edges(3, 0.5).tolist() == [0.0, 0.5, 1.0, 1.5]
    assert frame_edges(3, 0.5, duration=1.2).tolist() == [0.0, 0.5, 1.0, 1.2]
    assert frame_edges(3, 0.5, duration=2.0).tolist() == [0.0, 0.5, 1.0, 1.5]
    assert same_step(0.1 * 3, 0.3) and same_step(0.02 * 2, 0.04)
    assert not same_step(0.02, 0.04)


class TailBackbone(nn.Module):
    """Five frames of ones for any input, at a step no delta here uses (always resampled)."""

    output_dim = 2
    frame_step = 0.013

    def __init__(self, rate: int) -> None:
        super().__init__()
        self.input_sample_rate = rate

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(waveforms), 5, self.output_dim)


class TinyText(nn.Module):
    """Stands in for the text tower: the dual encoder only checks its projection size."""

    def __init__(self) -> None:
        super().__init__()
        self.projection = nn.Linear(1, 4)


def tiny_model(rate: int, delta: float) -> AudioTextModel:
    return AudioTextModel(TailBackbone(rate), TinyText(), 2, delta, 3, 4, 4).eval()


class GridModel(nn.Module):
    """A detection model with the grid's frames: one score per whole frame of its input."""

    def __init__(self, rate: int, delta: float) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.sample_rate, self.delta = rate, delta

    def embed_audio(self, waveforms: torch.Tensor, lengths: torch.Tensor):
        frames = input_frames(waveforms.shape[-1], self.sample_rate, self.delta)
        ones = torch.ones(len(waveforms), frames, 1)
        return ones, ones[..., 0].bool(), ones[:, 0]

    def embed_text(self, captions):
        return torch.ones(len(captions), 1)


@pytest.mark.parametrize(("rate", "delta"), CASES)
def test_model_loss_scores_and_detection_count_the_same_frames(rate, delta, tmp_path):
    counts = sample_counts(rate, delta)
    expected = [exact_count(n, rate, delta) for n in counts]
    seconds = [n / rate for n in counts]

    # the model's mask of real frames, on a tiny dual encoder over a longer padded input
    model = tiny_model(rate, delta)
    lengths = torch.tensor(counts)
    assert model.frame_lengths(lengths, 10**6).tolist() == expected
    padded = max(counts) + rate
    n_frames = input_frames(padded, rate, delta)
    assert model.frame_lengths(lengths, n_frames).tolist() == expected  # none clipped
    picks = [0, len(counts) // 2, len(counts) - 1]
    with torch.no_grad():
        frames, mask, _ = model.embed_audio(torch.zeros(len(picks), padded), lengths[picks])
    assert frames.shape[1] == n_frames
    assert mask.sum(dim=1).tolist() == [expected[pick] for pick in picks]

    # the loss: a region ending at the clip's end ends with its last frame
    onset = torch.zeros(len(counts), dtype=torch.float64)
    offset = torch.tensor(seconds, dtype=torch.float64)
    start, end = regions_to_frames(onset, offset, delta, 10**6)
    assert end.tolist() == expected and start.tolist() == [0] * len(counts)
    start, _ = regions_to_frames(offset, offset + 1.0, delta, 10**6)  # starting at that time
    assert start.tolist() == [exact_floor(n, rate, delta) for n in counts]
    _, end = regions_to_frames(onset, offset, delta, torch.tensor(expected))
    assert end.tolist() == expected
    last = torch.tensor([max(0.0, value - delta / 3) for value in seconds], dtype=torch.float64)
    start, end = regions_to_frames(last, offset, delta, torch.tensor(expected))
    assert end.tolist() == expected
    assert start.tolist() == [frame_floor(value, delta) for value in last.tolist()]

    # the score file: 3 frames past each clip's end are stored, the trimmed protocol drops them
    path = tmp_path / "scores.h5"
    with ScoreWriter(path, ["a"], delta) as writer:
        for index, (value, count) in enumerate(zip(seconds, expected, strict=True)):
            writer.add(f"c{index}", np.zeros((count + 3, 1)), value)
    with ScoreReader(path) as reader:
        assert reader.clips_short == 0
        trimmed = reader.score_dataframes("trimmed")
        untrimmed = reader.score_dataframes("untrimmed")
        for index, (value, count) in enumerate(zip(seconds, expected, strict=True)):
            clip = f"c{index}"
            assert protocol_frames(count + 3, delta, value, "trimmed") == count
            assert len(trimmed[clip]) == count and len(untrimmed[clip]) == count + 3
            assert trimmed[clip]["offset"].iloc[-1] == value
            assert trimmed[clip]["onset"].iloc[-1] < value

    # detection: one score per frame of the file
    grid = GridModel(rate, delta)
    settings = DetectionSettings(window=1.0, hop=0.4 if delta in (0.01, 0.02, 0.04) else 0.2)
    text = torch.ones(1, 1)
    for n in [counts[0], *counts[-4:], 10 * rate + 1]:
        scores = stitched_scores(grid, np.zeros(n, np.float32), text, settings)
        assert scores.shape == (exact_count(n, rate, delta), 1), n


def test_the_edge_cases_give_the_same_count_everywhere():
    for n, rate, delta, count in ((160_001, 16000, 0.1, 101), (160_004, 16000, 0.02, 501)):
        seconds = n / rate
        assert frame_count(seconds, delta) == count
        assert input_frames(n, rate, delta) == count
        stand_in = SimpleNamespace(sample_rate=rate, delta=delta)
        assert AudioTextModel.frame_lengths(stand_in, torch.tensor([n]), 2000).tolist() == [count]
        assert tiny_model(rate, delta).frame_lengths(torch.tensor([n]), 2000).tolist() == [count]
        _, end = regions_to_frames(0.0, seconds, delta, 2000)
        assert int(end) == count
        assert protocol_frames(count + 20, delta, seconds, "trimmed") == count
        settings = DetectionSettings(window=2.0, hop=1.0)
        scores = stitched_scores(
            GridModel(rate, delta), np.zeros(n, np.float32), torch.ones(1, 1), settings
        )
        assert len(scores) == count
    assert frame_count(10.00025, 0.02) == 501
    assert frame_count(10.00025, 0.02) == exact_count(160_004, 16000, 0.02)
