"""``tacos detect``: sliding windows, stitching, event extraction, TSV, plot and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_model import RATE, TINY_MODEL
from torch import nn

import tacos.cli
from tacos.data.audio import write_audio
from tacos.detect import (
    TSV_HEADER,
    DetectionSettings,
    Event,
    covered_frames,
    detect,
    event_rows,
    extract_events,
    median_frames,
    stitched_scores,
    window_frames,
    window_starts,
)
from tacos.models.checkpoint import ModelSpec, load_trained_model
from tacos.models.dual import build_model

HEADER = "filename\tonset\toffset\tevent_label\tscore"
SPEC = ModelSpec(TINY_MODEL, input_seconds=10.0, sample_rate=RATE, stage="strong", seed=0)
TEN_SECONDS = DetectionSettings(window=10.0, hop=5.0)


class RampModel(nn.Module):
    """A fake model with exact scores: frame value = the frame's mean sample plus 0.001 x the
    frame's position inside its window; query ``k`` embeds to ``k + 1``, so its score is
    ``(k + 1) * value``."""

    delta = 0.04
    sample_rate = 1000
    frame_samples = 40

    def __init__(self, dropped: int = 0) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.lengths: list[int] = []
        self.dropped = dropped  # frames missing at the end of each window (as ASiT's 1491)

    def embed_audio(self, waveforms: torch.Tensor, lengths: torch.Tensor):
        batch, samples = waveforms.shape
        frames = samples // self.frame_samples - self.dropped
        used = waveforms[:, : frames * self.frame_samples]
        means = used.reshape(batch, frames, self.frame_samples).double().mean(dim=-1)
        values = means + 0.001 * torch.arange(frames, dtype=torch.float64)
        self.lengths.extend(lengths.tolist())
        mask = torch.ones(batch, frames, dtype=torch.bool)
        return values[..., None].float(), mask, values.mean(dim=1, keepdim=True).float()

    def embed_text(self, captions: list[str]) -> torch.Tensor:
        return torch.arange(1, len(captions) + 1, dtype=torch.float32)[:, None]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build_model(TINY_MODEL)
    state = {"model." + key: value for key, value in model.state_dict().items()}
    path = tmp_path_factory.mktemp("model") / "model.ckpt"
    torch.save({"state_dict": state, "tacos_model": SPEC.to_dict()}, path)
    return path


@pytest.fixture
def cli(monkeypatch):
    """``tacos detect ARGS`` in this process, without touching the test run's logging."""
    monkeypatch.setattr(tacos.cli, "setup_logging", lambda: None)
    return lambda argv: tacos.cli.main(["detect", *argv])


def tone(seconds: float, frequency: float, seed: int) -> np.ndarray:
    time = np.arange(round(seconds * RATE)) / RATE
    noise = 0.01 * np.random.default_rng(seed).standard_normal(len(time))
    return (0.3 * np.sin(2 * np.pi * frequency * time) * (time % 3 < 1.5) + noise).astype(
        np.float32
    )


def test_window_and_hop_are_whole_frames_and_hop_fits_the_window():
    assert window_frames(10.0, 5.0, 0.04) == (250, 125)
    assert window_frames(0.3, 0.1, 0.02) == (15, 5)
    with pytest.raises(ValueError, match="must not exceed the window"):
        window_frames(4.0, 5.0, 0.04)
    with pytest.raises(ValueError, match=r"hop \(0.05 s\) must be a multiple of the frame"):
        window_frames(10.0, 0.05, 0.04)
    with pytest.raises(ValueError, match="must be positive"):
        window_frames(0.0, 0.0, 0.04)


def test_windows_step_by_the_hop_and_the_last_one_ends_with_the_file():
    assert window_starts(100, 250, 125) == [0]
    assert window_starts(250, 250, 125) == [0]
    assert window_starts(300, 250, 125) == [0, 50]
    assert window_starts(500, 250, 125) == [0, 125, 250]
    # a window that covers 245 of its 250 frames: the last one still ends at the file's end
    assert window_starts(500, 245, 125) == [0, 125, 250, 255]
    assert window_starts(245, 245, 125) == [0]


def test_window_and_hop_default_to_the_models_input_length():
    assert DetectionSettings().window is None and DetectionSettings().hop is None
    assert DetectionSettings().for_model(30.0) == DetectionSettings(window=30.0, hop=15.0)
    assert DetectionSettings(window=4.0).for_model(30.0) == DetectionSettings(window=4.0, hop=2.0)
    explicit = DetectionSettings(window=4.0, hop=1.0, thresholds=(0.2,))
    assert explicit.for_model(30.0) == explicit


def test_covered_frames_are_those_the_model_gives_for_a_window(checkpoint):
    assert covered_frames(RampModel(), 10_000, 250) == 250
    assert covered_frames(RampModel(dropped=5), 10_000, 250) == 245
    model, _ = load_trained_model(checkpoint)
    # the demo CNN gives 251 frames for a 10 s window; the grid's 250 are used
    assert covered_frames(model, 10 * RATE, 250) == 250


def test_three_minutes_are_stitched_by_averaging_overlapping_windows():
    model = RampModel()
    waveform = (np.arange(180_000) / 180_000).astype(np.float32)
    scores = stitched_scores(model, waveform, torch.tensor([[1.0], [2.0]]), TEN_SECONDS)
    assert scores.shape == (4500, 2)  # 180 s / 0.04 s
    starts = [*range(0, 4250, 125), 4250]
    # one probe of a silent window (covered_frames), then the 35 windows
    assert model.lengths[0] == 10_000
    assert len(starts) == 35 and len(model.lengths) == 1 + 35
    position = np.zeros(4500)
    for frame in range(4500):
        covering = [frame - start for start in starts if start <= frame < start + 250]
        position[frame] = np.mean(covering)
    assert position[[0, 130, 4300, 4400, 4499]].tolist() == [0, 67.5, 112.5, 150, 249]
    frame_means = (40 * np.arange(4500) + 19.5) / 180_000
    expected = frame_means + 0.001 * position
    np.testing.assert_allclose(scores[:, 0], expected, atol=1e-6)
    np.testing.assert_allclose(scores[:, 1], 2 * expected, atol=2e-6)


def test_windows_with_fewer_frames_than_the_grid_still_cover_every_frame():
    model = RampModel(dropped=5)  # 245 frames for a 10 s window of 250
    waveform = (np.arange(180_000) / 180_000).astype(np.float32)
    scores = stitched_scores(model, waveform, torch.tensor([[1.0]]), TEN_SECONDS)
    assert scores.shape == (4500, 1)
    starts = [*range(0, 4255, 125), 4255]
    assert len(model.lengths) == 1 + len(starts)  # the probe and the windows
    position = np.zeros(4500)
    for frame in range(4500):
        covering = [frame - start for start in starts if start <= frame < start + 245]
        assert covering, frame
        position[frame] = np.mean(covering)
    frame_means = (40 * np.arange(4500) + 19.5) / 180_000
    np.testing.assert_allclose(scores[:, 0], frame_means + 0.001 * position, atol=1e-6)


def test_a_short_file_is_padded_to_one_window_and_a_partial_frame_counts():
    model = RampModel()
    short = stitched_scores(model, np.ones(3000, np.float32), torch.ones(1, 1), TEN_SECONDS)
    assert short.shape == (75, 1)
    assert model.lengths == [10_000, 3000]  # the probe, then the padded 10 s window's real samples
    np.testing.assert_allclose(short[:, 0], 1.0 + 0.001 * np.arange(75), atol=1e-6)
    longer = stitched_scores(model, np.ones(180_010, np.float32), torch.ones(1, 1), TEN_SECONDS)
    assert longer.shape == (4501, 1)  # ceil(180.01 / 0.04)


SCORES = np.array(
    [
        [0, 0, 0.6, 0.7, 0.6, 0, 0.9, 0, 0, 0.8, 0.8, 0.8],
        [0.8, 0.8, 0.8, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ],
    dtype=np.float32,
).T


def events_of(median_filter: float = 0.0, min_duration: float = 0.0) -> list[tuple]:
    settings = DetectionSettings(median_filter=median_filter, min_duration=min_duration)
    events = extract_events(SCORES, 0.1, 1.15, ["a", "b"], [0.5, 0.75], settings, "x.wav")
    return [(e.label, round(e.onset, 6), round(e.offset, 6), round(e.score, 6)) for e in events]


def test_events_are_runs_over_the_per_query_threshold():
    assert events_of() == [
        ("a", 0.2, 0.5, 0.7),
        ("a", 0.6, 0.7, 0.9),
        ("a", 0.9, 1.15, 0.8),  # the last frame ends with the file
        ("b", 0.0, 0.3, 0.8),
    ]


def test_short_events_are_dropped():
    assert events_of(min_duration=0.2) == [
        ("a", 0.2, 0.5, 0.7),
        ("a", 0.9, 1.15, 0.8),
        ("b", 0.0, 0.3, 0.8),
    ]
    assert events_of(min_duration=0.3) == [("a", 0.2, 0.5, 0.7), ("b", 0.0, 0.3, 0.8)]


def test_median_filter_removes_spikes_and_fills_gaps_but_scores_stay_raw():
    assert median_frames(0.0, 0.1) == 1
    assert median_frames(0.2, 0.1) == 3
    assert median_frames(0.3, 0.1) == 3
    assert events_of(median_filter=0.3) == [
        ("a", 0.2, 0.6, 0.7),
        ("a", 0.9, 1.15, 0.8),
        ("b", 0.0, 0.3, 0.8),
    ]


def test_tsv_rows_are_rounded_and_sorted_by_file_onset_and_label():
    events = [
        Event("b.wav", 0.1, 0.5, "dog", 0.51234),
        Event("a.wav", 2.00049, 3.0, "siren", 0.5),
        Event("a.wav", 2.0, 2.5, "bell", -0.25),
        Event("a.wav", 0.3333333, 1.6666667, "siren", 0.9),
    ]
    assert "\t".join(TSV_HEADER) == HEADER
    assert event_rows(events) == [
        ("a.wav", "0.333", "1.667", "siren", "0.9000"),
        ("a.wav", "2.000", "2.500", "bell", "-0.2500"),
        ("a.wav", "2.000", "3.000", "siren", "0.5000"),
        ("b.wav", "0.100", "0.500", "dog", "0.5123"),
    ]


def test_real_model_scores_three_minutes_on_the_frame_grid(checkpoint, tmp_path):
    model, spec = load_trained_model(checkpoint)
    path = tmp_path / "long.wav"
    write_audio(path, tone(180.0, 500.0, 0), RATE)
    settings = DetectionSettings(thresholds=(0.0,)).for_model(spec.input_seconds)
    assert (settings.window, settings.hop) == (10.0, 5.0)
    (found,) = detect(model, [path], ["a bell rings"], settings)
    assert found.scores.shape == (4500, 1)
    assert np.abs(found.scores).max() <= 1.0 + 1e-5
    assert found.filename == "long.wav" and found.duration == 180.0


def test_cli_writes_sorted_tsv_and_plots_deterministically(checkpoint, tmp_path, cli):
    write_audio(tmp_path / "b.wav", tone(12.0, 700.0, 1), RATE)
    write_audio(tmp_path / "a.wav", tone(7.0, 300.0, 2), RATE)
    common = [str(tmp_path / "b.wav"), str(tmp_path / "a.wav"), "--checkpoint", str(checkpoint)]
    common += ["--query", "A dog barks.", "--query", "siren", "--window", "4", "--hop", "2"]
    outputs = ["--out", str(tmp_path / "all.tsv"), "--plot", str(tmp_path / "scores.png")]
    assert cli([*common, "--threshold", "-1", "--threshold", "1.5", *outputs]) == 0
    lines = (tmp_path / "all.tsv").read_text().splitlines()
    assert lines[0] == HEADER
    rows = [line.split("\t") for line in lines[1:]]
    assert [row[:4] for row in rows] == [
        ["a.wav", "0.000", "7.000", "A dog barks."],
        ["b.wav", "0.000", "12.000", "A dog barks."],
    ]
    for name in ("scores_a.wav.png", "scores_b.wav.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    options = ["--threshold", "0", "--median-filter", "0.2", "--min-duration", "0.1"]
    for run in ("one", "two"):
        assert cli([*common, *options, "--out", str(tmp_path / f"{run}.tsv")]) == 0
    first = (tmp_path / "one.tsv").read_bytes()
    assert first == (tmp_path / "two.tsv").read_bytes()
    rows = [line.split("\t") for line in first.decode().splitlines()[1:]]
    assert rows == sorted(rows, key=lambda row: (row[0], float(row[1]), row[3], float(row[2])))


def test_cli_errors_name_the_problem(checkpoint, tmp_path, cli):
    audio = tmp_path / "fine.wav"
    write_audio(audio, tone(1.0, 440.0, 0), RATE)
    (tmp_path / "bad.wav").write_text("not audio")
    base = ["--checkpoint", str(checkpoint), "--out", str(tmp_path / "e.tsv")]
    cases = [
        ([str(audio), *base, "--query", "  "], r"query 1 \('  '\) is empty"),
        ([str(audio), *base, "--query", "dog", "--query", "?!"], r"query 2 \('\?!'\) is empty"),
        ([str(tmp_path / "bad.wav"), *base, "--query", "dog"], "bad.wav: cannot decode audio"),
        (
            [str(audio), "--checkpoint", str(tmp_path / "missing.ckpt"), "--query", "dog"]
            + ["--out", "x.tsv"],
            "missing.ckpt does not exist",
        ),
        ([str(audio), *base, "--query", "dog", "--window", "4", "--hop", "5"], "must not exceed"),
        (
            [str(audio), *base, "--query", "a", "--query", "b", "--query", "c"]
            + ["--threshold", "0.1", "--threshold", "0.2"],
            "2 thresholds for 3 queries",
        ),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit, match=message):
            cli(argv)
    assert not (tmp_path / "e.tsv").exists()
