"""PSDS1 and pAUROC: known values, and both engines equal to one plain library call under both
frame protocols (the library engine bit for bit, the fast engine as ``assert_same_metrics``)."""

import subprocess
import sys

import numpy as np
import pytest
from sed_cases import (
    PSDS1_BOUND,
    assert_same_metrics,
    grid_tables,
    make_case,
    oracle_scores,
    plain,
    random_case_with_tails,
    write_store,
)
from sed_scores_eval import intersection_based

from tacos.evaluation.ground_truth import scored_classes
from tacos.evaluation.metric_results import PSDS1_ARGS, bootstrap_samples, resampled_ids
from tacos.evaluation.scores import ScoreReader
from tacos.evaluation.sed_metrics import ENGINES, sed_metrics, sed_metrics_plain


def assert_engine_result(metrics, reference, engine):
    """The library engine gives the plain call's numbers bit for bit, the fast engine within
    ``PSDS1_BOUND`` in PSDS1 and bit for bit in the rest."""
    if engine == "library":
        assert metrics == reference
    else:
        assert_same_metrics(metrics, reference)


def test_oracle_scores_give_psds1_near_one_and_pauroc_one(tmp_path):
    classes, truth, durations, _ = make_case(0, 8, 4, signal=1.0)
    scores = {
        clip_id: oracle_scores(truth[clip_id], classes, durations[clip_id]) for clip_id in truth
    }
    path = write_store(tmp_path / "oracle.h5", classes, durations, scores)
    metrics, _ = sed_metrics(path, truth, "trimmed")
    assert metrics.psds1 > 0.99
    assert metrics.pauroc == 1.0
    assert all(value == 1.0 for value in metrics.pauroc_per_class.values())


def test_random_scores_give_chance_values(tmp_path):
    classes, truth, durations, _ = make_case(1, 100, 3, signal=0.0)
    rng = np.random.default_rng(7)
    scores = {clip_id: rng.random((400, 3)) for clip_id in truth}
    metrics, _ = sed_metrics(
        write_store(tmp_path / "random.h5", classes, durations, scores), truth, "trimmed"
    )
    assert metrics.pauroc == pytest.approx(0.05, abs=0.02)  # 0.1**2 / 2 / 0.1
    assert metrics.psds1 < 0.05


@pytest.mark.parametrize(
    ("seed", "n_classes", "signal", "dtype", "classes_per_chunk", "classes_per_job"),
    [
        (0, 4, 1.0, np.float32, 2, None),
        (6, 4, 1.0, np.float16, 2, 1),
        (2, 6, 1.0, np.float32, 4, 3),
        (1, 5, 0.3, np.float16, 8, None),
    ],
)
@pytest.mark.parametrize("frames", ["trimmed", "untrimmed"])
@pytest.mark.parametrize("engine", ENGINES)
def test_both_engines_equal_one_plain_call(
    tmp_path, seed, n_classes, signal, dtype, classes_per_chunk, classes_per_job, frames, engine
):
    classes, truth, durations, scores = make_case(seed, 12, n_classes, signal)
    path = write_store(tmp_path / "s.h5", classes, durations, scores, dtype, classes_per_chunk)
    metrics, bootstrap = sed_metrics(
        path, truth, frames, classes_per_job=classes_per_job, engine=engine
    )
    reference = plain(path, truth, frames)
    assert reference.psds1_macro > 0.1 or reference.pauroc < 0.95  # curves are not trivial
    assert_engine_result(metrics, reference, engine)
    assert bootstrap is None


@pytest.mark.parametrize("engine", ENGINES)
def test_scored_classes_leave_out_classes_without_events(tmp_path, engine):
    classes, truth, durations, scores = make_case(4, 6, 3, signal=1.0)
    truth = {
        clip_id: [event for event in events if event[2] != "class 1"]
        for clip_id, events in truth.items()
    }
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    metrics, _ = sed_metrics(path, truth, "trimmed", engine=engine)
    assert list(metrics.psds1_per_class) == ["class 0", "class 2"]
    assert_engine_result(metrics, plain(path, truth), engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_two_worker_processes_give_the_same_numbers(tmp_path, engine):
    classes, truth, durations, scores = make_case(5, 10, 4, signal=1.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    arguments = {"n_bootstrap": 3, "engine": engine}
    two = sed_metrics(path, truth, "trimmed", workers=2, **arguments)
    one = sed_metrics(path, truth, "trimmed", workers=1, **arguments)
    assert two[0] == one[0]
    assert two[1].to_dict() == one[1].to_dict()


def test_macro_psds_is_psds_with_alpha_st_zero(tmp_path):
    classes, truth, durations, scores = make_case(6, 10, 4, signal=1.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    metrics, _ = sed_metrics(path, truth, "trimmed")
    with ScoreReader(path) as reader:
        frames, durations = reader.score_dataframes("trimmed"), reader.durations
    arguments = {**PSDS1_ARGS, "alpha_st": 0.0}
    alpha_st_zero, *_ = intersection_based.psds(frames, truth, durations, **arguments)
    assert metrics.psds1_macro == pytest.approx(alpha_st_zero, abs=1e-12)
    assert metrics.psds1 < metrics.psds1_macro  # alpha_st=1 subtracts the spread over classes


@pytest.mark.parametrize("engine", ENGINES)
def test_bootstrap_replicates_equal_plain_calls_on_resampled_clips(tmp_path, engine):
    classes, truth, durations, scores = make_case(0, 12, 4, signal=1.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    metrics, bootstrap = sed_metrics(path, truth, "trimmed", n_bootstrap=3, seed=11, engine=engine)
    # the full-set result is unchanged by the bootstrap
    assert_engine_result(metrics, plain(path, truth), engine)
    with ScoreReader(path) as reader:
        frames, durations = reader.score_dataframes("trimmed"), reader.durations
    samples = list(bootstrap_samples(list(truth), 3, seed=11))
    assert samples == list(bootstrap_samples(sorted(truth, reverse=True), 3, seed=11))
    for replicate, sample in enumerate(samples):
        keys = resampled_ids(sample)
        assert len(set(keys)) == len(sample) > len(set(sample))  # duplicates renamed
        resampled_truth = {key: truth[clip] for key, clip in zip(keys, sample, strict=True)}
        present = scored_classes(resampled_truth, classes)
        resampled_frames = {
            key: frames[clip][["onset", "offset", *present]]
            for key, clip in zip(keys, sample, strict=True)
        }
        resampled_durations = {key: durations[clip] for key, clip in zip(keys, sample, strict=True)}
        expected = sed_metrics_plain(resampled_frames, resampled_truth, resampled_durations)
        for metric in ("psds1", "psds1_macro", "pauroc"):
            bound = PSDS1_BOUND if engine == "fast" and metric == "psds1" else 0.0
            assert abs(bootstrap.replicates[metric][replicate] - getattr(expected, metric)) <= bound
    low, high = bootstrap.interval("pauroc", confidence=0.9)
    assert min(bootstrap.replicates["pauroc"]) <= low <= high <= max(bootstrap.replicates["pauroc"])
    summary = bootstrap.to_dict(confidence=0.9)
    assert summary["n_bootstrap"] == 3 and summary["seed"] == 11


@pytest.mark.parametrize("engine", ENGINES)
def test_the_ground_truth_may_evaluate_a_subset_of_the_scored_clips(tmp_path, engine):
    classes, truth, durations, scores = make_case(8, 10, 3, signal=1.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    subset = {clip_id: truth[clip_id] for clip_id in list(truth)[::2]}
    metrics, _ = sed_metrics(path, subset, "trimmed", engine=engine)
    assert_engine_result(metrics, plain(path, subset), engine)
    assert metrics != sed_metrics(path, truth, "trimmed", engine=engine)[0]  # others left out


def test_ground_truth_clips_without_scores_are_an_error(tmp_path):
    classes, truth, durations, scores = make_case(8, 4, 2, signal=1.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    truth["Yunscored"] = [(0.0, 1.0, classes[0])]
    with pytest.raises(ValueError, match="1 ground-truth clips have no scores"):
        sed_metrics(path, truth, "trimmed")


def test_an_unknown_frame_protocol_or_engine_is_refused(tmp_path):
    classes, truth, durations, scores = make_case(8, 4, 2, signal=1.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    with pytest.raises(ValueError, match="frame protocol"):
        sed_metrics(path, truth, "padded")
    with pytest.raises(ValueError, match=r"evaluation engine must be one of \('fast', 'library'\)"):
        sed_metrics(path, truth, "trimmed", engine="numpy")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("seed", "tail_score"), [(0, None), (3, None), (5, 10.0)])
def test_both_frame_protocols_equal_one_plain_call_on_grid_tables(
    tmp_path, seed, tail_score, engine
):
    classes, truth, durations, scores = random_case_with_tails(seed, 10, 3, tail_score)
    path = write_store(tmp_path / "s.h5", classes, durations, scores, classes_per_chunk=2)
    with ScoreReader(path) as reader:
        assert reader.n_frames.tolist() == [len(scores[clip_id]) for clip_id in durations]
    for frames, trimmed in (("untrimmed", False), ("trimmed", True)):
        metrics, _ = sed_metrics(path, truth, frames, engine=engine)
        tables = grid_tables(scores, durations, classes, trimmed)
        assert_engine_result(metrics, sed_metrics_plain(tables, truth, durations), engine)


def test_high_scores_past_the_end_lower_untrimmed_psds1(tmp_path):
    classes, truth, durations, scores = random_case_with_tails(5, 10, 3, tail_score=10.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    untrimmed, _ = sed_metrics(path, truth, "untrimmed")
    trimmed, _ = sed_metrics(path, truth, "trimmed")
    assert untrimmed.psds1 <= trimmed.psds1
    assert untrimmed.psds1 < trimmed.psds1 - 0.01  # the tails are false positives


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("tacos.evaluation.report", ["torch"]),  # the evaluate job: 1.5 s a start saved
        ("tacos.evaluation.library_engine", ["torch"]),
        ("tacos.evaluation.fast_engine", ["sed_scores_eval", "torch"]),  # its spawned workers
    ],
)
def test_the_evaluate_job_and_its_workers_import_only_what_they_need(module, absent):
    code = f"import sys, {module}; print(sorted({set(absent)!r} & sys.modules.keys()))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
