import json

import numpy as np
import pytest

from tacos.evaluation.collapse import (
    COLLAPSED,
    HISTOGRAM_BINS,
    CollapseMeter,
    read_collapse,
    window_similarities,
    write_collapse,
)


def test_identical_frames_are_fully_collapsed():
    frames = np.tile([[3.0, 4.0]], (20, 1))
    assert window_similarities(frames, 0.1).tolist() == [1.0, 1.0]


def test_alternating_orthogonal_frames_have_zero_similarity():
    frames = np.array([[1.0, 0.0], [0.0, 2.0]] * 5)
    assert window_similarities(frames, 0.25).tolist() == [0.0, 0.0, 0.0]


def test_pairs_across_a_window_boundary_are_not_counted():
    # 0.25 s frames: frames 0-3 in the first window, 4-7 in the second; only the pair (3, 4)
    # crosses the boundary, and it is the only dissimilar one
    frames = np.array([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4)
    assert window_similarities(frames, 0.25).tolist() == [1.0, 1.0]


def test_window_value_is_the_mean_of_its_pairs():
    angle = np.pi / 3  # cosine 0.5
    frames = np.array([[1.0, 0.0], [np.cos(angle), np.sin(angle)], [np.cos(angle), np.sin(angle)]])
    values = window_similarities(frames, 0.2)
    assert values == pytest.approx([0.75], abs=1e-15)


def test_frames_on_the_grid_fall_into_windows_without_float_error():
    # 0.02 s frames: 50 per window (58 * 0.02 = 1.16 s lies in the second window)
    frames = np.ones((60, 3))
    frames[50:, 0] = -1.0
    values = window_similarities(frames, 0.02)
    assert len(values) == 2
    assert values[0] == pytest.approx(1.0)


def test_a_step_of_a_whole_window_has_no_pairs():
    assert len(window_similarities(np.ones((10, 2)), 1.0)) == 0
    assert len(window_similarities(np.ones((1, 2)), 0.1)) == 0


def test_zero_frames_do_not_divide_by_zero():
    values = window_similarities(np.zeros((4, 2)), 0.25)
    assert values.tolist() == [0.0]


def test_meter_summarises_the_windows_of_every_clip():
    meter = CollapseMeter(0.25)
    meter.add(np.tile([[1.0, 0.0]], (8, 1)))  # two windows of 1.0
    meter.add(np.array([[1.0, 0.0], [0.0, 1.0]] * 2))  # one window of 0.0
    result = meter.result()
    assert result["n_clips"] == 2
    assert result["n_windows"] == 3
    assert result["mean"] == pytest.approx(2 / 3)
    assert result["std"] == pytest.approx(np.std([1.0, 1.0, 0.0]))
    assert result["collapsed_share"] == pytest.approx(2 / 3)
    assert result["collapsed_threshold"] == COLLAPSED
    counts = result["histogram"]["counts"]
    assert len(counts) == HISTOGRAM_BINS and sum(counts) == 3
    # 1.0 lies in the last bin, 0.0 in the middle one
    assert counts[-1] == 2 and counts[HISTOGRAM_BINS // 2] == 1


def test_meter_without_windows_reports_null():
    meter = CollapseMeter(1.0)
    meter.add(np.ones((5, 2)))
    result = meter.result()
    assert (result["n_windows"], result["mean"], result["std"]) == (0, None, None)


def test_written_diagnostic_carries_the_model_and_is_valid_json(tmp_path):
    meter = CollapseMeter(0.5)
    meter.add(np.ones((4, 2)))
    path = write_collapse(meter.result(), {"stage": "strong", "seed": 1}, tmp_path / "c.json")
    assert json.loads(path.read_text())["model"] == {"stage": "strong", "seed": 1}
    assert read_collapse(path)["n_windows"] == 2
    assert not list(tmp_path.glob("*.partial"))
