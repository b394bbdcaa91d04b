"""The fast engine against the library: many random score files, both frame protocols, bootstrap
replicates with clips drawn many times, and the cuts that keep only the top change points."""

import numpy as np
import pytest
from sed_cases import (
    PSDS1_BOUND,
    assert_same_metrics,
    make_case,
    plain,
    random_case_with_tails,
    write_store,
)

from tacos.evaluation import fast_engine
from tacos.evaluation.ground_truth import merge_events
from tacos.evaluation.metric_results import bootstrap_samples
from tacos.evaluation.sed_metrics import sed_metrics


@pytest.fixture
def cuts(monkeypatch):
    """Every cut the engine proves, as it returns them."""
    found = []
    proven_cut = fast_engine._proven_cut

    def recording(*arguments):
        found.append(proven_cut(*arguments))
        return found[-1]

    monkeypatch.setattr(fast_engine, "_proven_cut", recording)
    return found


@pytest.mark.parametrize("frames", ["trimmed", "untrimmed"])
@pytest.mark.parametrize("seed", range(10))
def test_random_score_files_give_the_plain_calls_numbers(tmp_path, seed, frames):
    rng = np.random.default_rng(seed)
    n_clips, n_classes = int(rng.integers(3, 40)), int(rng.integers(1, 6))
    classes, truth, durations, scores = random_case_with_tails(seed, n_clips, n_classes, None)
    if seed % 3 == 0:
        scores = {clip_id: np.round(values, 1) for clip_id, values in scores.items()}  # ties
    dtype = np.float16 if seed % 2 else np.float32
    path = write_store(tmp_path / "s.h5", classes, durations, scores, dtype, classes_per_chunk=2)
    metrics, _ = sed_metrics(path, truth, frames)
    assert_same_metrics(metrics, plain(path, truth, frames))


@pytest.mark.parametrize("frames", ["trimmed", "untrimmed"])
def test_cuts_on_a_larger_set_keep_the_numbers(tmp_path, cuts, frames):
    classes, truth, durations, scores = make_case(2, 160, 3, signal=0.5)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    metrics, _ = sed_metrics(path, truth, frames)
    assert_same_metrics(metrics, plain(path, truth, frames))
    assert all(np.isfinite(cuts))  # every list was cut: the proof held
    assert len(cuts) == 2 * len(classes)  # one PSDS and one pAUROC cut a class


def test_a_class_in_every_clip_cannot_be_cut_and_keeps_every_point(tmp_path, cuts):
    classes, truth, durations, scores = make_case(4, 60, 2, signal=0.5)
    for clip_id, duration in durations.items():  # "class 0" in every clip: no silent clip
        truth[clip_id] = merge_events([*truth[clip_id], (0.0, min(0.5, duration), "class 0")])
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    metrics, _ = sed_metrics(path, truth, "trimmed")
    assert_same_metrics(metrics, plain(path, truth))
    assert cuts[0] == -np.inf


def test_bootstrap_replicates_equal_the_library_engines(tmp_path, cuts):
    """Replicates of 40 clips drawn 300 times: some clips three times or more in one."""
    classes, truth, durations, scores = make_case(7, 40, 3, signal=0.5)
    path = write_store(tmp_path / "s.h5", classes, durations, scores, np.float16)
    fast, fast_bootstrap = sed_metrics(path, truth, "untrimmed", n_bootstrap=300, seed=5)
    library, library_bootstrap = sed_metrics(
        path, truth, "untrimmed", n_bootstrap=300, seed=5, engine="library"
    )
    assert_same_metrics(fast, library)
    most = max(max(np.unique(sample, return_counts=True)[1]) for sample in samples(truth, 300, 5))
    assert most >= 4
    for metric, bound in (("psds1", PSDS1_BOUND), ("psds1_macro", 0.0), ("pauroc", 0.0)):
        difference = fast_bootstrap.replicates[metric] - library_bootstrap.replicates[metric]
        assert np.abs(difference).max() <= bound, metric
    assert fast_bootstrap.to_dict()["pauroc"] == library_bootstrap.to_dict()["pauroc"]
    assert any(np.isfinite(cuts))


def samples(truth, n_bootstrap, seed):
    return [np.array(sample) for sample in bootstrap_samples(list(truth), n_bootstrap, seed)]


def test_a_replicate_without_ground_truth_is_an_error(tmp_path):
    classes, truth, durations, scores = make_case(3, 30, 1, signal=0.5)
    truth = {clip_id: (events if clip_id == "Y000" else []) for clip_id, events in truth.items()}
    truth["Y000"] = [(0.0, 1.0, "class 0")]
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    with pytest.raises(ValueError, match="drew no clip with ground truth: too few clips"):
        sed_metrics(path, truth, "trimmed", n_bootstrap=50, seed=0)


@pytest.mark.parametrize("frames", ["trimmed", "untrimmed"])
def test_one_frame_clips_give_the_plain_calls_numbers(tmp_path, frames):
    """Two clips of 0.03 s, one frame at 40 ms (one with an event), among longer ones."""
    classes, truth, durations, scores = make_case(9, 12, 2, signal=0.5)
    rng = np.random.default_rng(9)
    for clip_id, events in (("Y000", [(0.0, 0.02, "class 0")]), ("Y001", [])):
        durations[clip_id], truth[clip_id] = 0.03, events
        scores[clip_id] = rng.random((1 if frames == "trimmed" else 3, len(classes)))
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    metrics, _ = sed_metrics(path, truth, frames)
    assert_same_metrics(metrics, plain(path, truth, frames))
