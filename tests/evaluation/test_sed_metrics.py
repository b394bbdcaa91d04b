"""PSDS1 and pAUROC: known values, and the class-blocked path equal to one plain library call
under both frame protocols."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sed_scores_eval import intersection_based

from tacos.evaluation.ground_truth import scored_classes
from tacos.evaluation.scores import ScoreReader, ScoreWriter
from tacos.evaluation.metric_results import PSDS1_ARGS, bootstrap_samples, resampled_ids
from tacos.evaluation.sed_metrics import sed_metrics, sed_metrics_plain
from tacos.frames import frame_count

DELTA = 0.04


def make_case(seed, n_clips, n_classes, signal):
    """Random events, every class with at least one; scores = strength * oracle + noise.

    The strength of class k rises from 0.6 * signal to signal, so that some classes have PSDS
    well above 0 and others pAUROC well below 1 (the metrics' curves are not trivial).
    """
    rng = np.random.default_rng(seed)
    classes = [f"class {k}" for k in range(n_classes)]
    strength = signal * np.linspace(0.6, 1.0, n_classes)
    truth, durations, scores = {}, {}, {}
    for index in range(n_clips):
        clip_id = f"Y{index:03d}"
        duration = float(np.round(rng.uniform(4.0, 10.0), 3))
        events = []
        for k, name in enumerate(classes):
            if rng.random() < 0.4 or index == k:
                onset = float(np.round(rng.uniform(0.0, duration - 1.0), 3))
                offset = float(min(duration, np.round(onset + rng.uniform(0.5, 3.0), 3)))
                events.append((onset, offset, name))
        truth[clip_id], durations[clip_id] = sorted(events), duration
        oracle = oracle_scores(events, classes, duration)
        extra = rng.integers(0, 30)  # frames past the clip's end, stored; trimmed on reading
        padded = np.concatenate([oracle, rng.random((extra, n_classes)) > 0.5])
        scores[clip_id] = strength * padded + rng.random(padded.shape)
    return classes, truth, durations, scores


def oracle_scores(events, classes, duration):
    """1 in frames that overlap an event of the class, 0 elsewhere."""
    n_frames = frame_count(duration, DELTA)
    starts = np.arange(n_frames) * DELTA
    scores = np.zeros((n_frames, len(classes)))
    for onset, offset, name in events:
        scores[(starts < offset) & (starts + DELTA > onset), classes.index(name)] = 1.0
    return scores


def write_store(path, classes, durations, scores, dtype=np.float32, classes_per_chunk=2):
    with ScoreWriter(path, classes, DELTA, dtype, classes_per_chunk, frames_per_chunk=256) as out:
        for clip_id in durations:
            out.add(clip_id, scores[clip_id], durations[clip_id])
    return path


def plain(path, truth, frames="trimmed"):
    with ScoreReader(path) as reader:
        classes = scored_classes(truth, reader.class_names)
        tables = reader.score_dataframes(frames, classes)
        durations = reader.durations
    kept = [clip_id for clip_id in tables if clip_id in truth]
    return sed_metrics_plain(
        {clip_id: tables[clip_id] for clip_id in kept},
        truth,
        {clip_id: durations[clip_id] for clip_id in kept},
    )


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
def test_class_blocked_path_equals_one_plain_call(
    tmp_path, seed, n_classes, signal, dtype, classes_per_chunk, classes_per_job, frames
):
    classes, truth, durations, scores = make_case(seed, 12, n_classes, signal)
    path = write_store(tmp_path / "s.h5", classes, durations, scores, dtype, classes_per_chunk)
    metrics, bootstrap = sed_metrics(path, truth, frames, classes_per_job=classes_per_job)
    reference = plain(path, truth, frames)
    assert reference.psds1_macro > 0.1 or reference.pauroc < 0.95  # curves are not trivial
    assert metrics == reference  # bit for bit, per class too
    assert bootstrap is None


def test_scored_classes_leave_out_classes_without_events(tmp_path):
    classes, truth, durations, scores = make_case(4, 6, 3, signal=1.0)
    truth = {
        clip_id: [event for event in events if event[2] != "class 1"]
        for clip_id, events in truth.items()
    }
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    metrics, _ = sed_metrics(path, truth, "trimmed")
    assert list(metrics.psds1_per_class) == ["class 0", "class 2"]
    assert metrics == plain(path, truth)


def test_two_worker_processes_give_the_same_numbers(tmp_path):
    classes, truth, durations, scores = make_case(5, 10, 4, signal=1.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    assert sed_metrics(path, truth, "trimmed", workers=2) == sed_metrics(
        path, truth, "trimmed", workers=1
    )


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


def test_bootstrap_replicates_equal_plain_calls_on_resampled_clips(tmp_path):
    classes, truth, durations, scores = make_case(0, 12, 4, signal=1.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    metrics, bootstrap = sed_metrics(path, truth, "trimmed", n_bootstrap=3, seed=11)
    assert metrics == plain(path, truth)  # the full-set result is unchanged by the bootstrap
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
            assert bootstrap.replicates[metric][replicate] == getattr(expected, metric)
    low, high = bootstrap.interval("pauroc", confidence=0.9)
    assert min(bootstrap.replicates["pauroc"]) <= low <= high <= max(bootstrap.replicates["pauroc"])
    summary = bootstrap.to_dict(confidence=0.9)
    assert summary["n_bootstrap"] == 3 and summary["seed"] == 11


def test_the_ground_truth_may_evaluate_a_subset_of_the_scored_clips(tmp_path):
    classes, truth, durations, scores = make_case(8, 10, 3, signal=1.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    subset = {clip_id: truth[clip_id] for clip_id in list(truth)[::2]}
    metrics, _ = sed_metrics(path, subset, "trimmed")
    assert metrics == plain(path, subset)
    assert metrics != sed_metrics(path, truth, "trimmed")[0]  # the other clips are left out


def test_ground_truth_clips_without_scores_are_an_error(tmp_path):
    classes, truth, durations, scores = make_case(8, 4, 2, signal=1.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    truth["Yunscored"] = [(0.0, 1.0, classes[0])]
    with pytest.raises(ValueError, match="1 ground-truth clips have no scores"):
        sed_metrics(path, truth, "trimmed")


def test_an_unknown_frame_protocol_is_refused(tmp_path):
    classes, truth, durations, scores = make_case(8, 4, 2, signal=1.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    with pytest.raises(ValueError, match="frame protocol"):
        sed_metrics(path, truth, "padded")


def grid_tables(scores, durations, classes, trimmed):
    """Score DataFrames built here from the frame grid, not by the score reader: every frame
    ``[t * DELTA, (t + 1) * DELTA)``; trimmed, only those starting before the clip's end, the
    last one ending with it."""
    tables = {}
    for clip_id, clip_scores in scores.items():
        values = np.asarray(clip_scores, dtype=np.float32)
        if trimmed:
            values = values[: int(np.ceil(round(durations[clip_id] / DELTA, 6)))]
        edges = np.arange(len(values) + 1, dtype=np.float64) * DELTA
        if trimmed:
            edges[-1] = min(edges[-1], durations[clip_id])
        tables[clip_id] = pd.DataFrame(
            np.concatenate([edges[:-1, None], edges[1:, None], values], axis=1),
            columns=["onset", "offset", *classes],
        )
    return tables


def random_case_with_tails(seed, n_clips, n_classes, tail_score):
    """``make_case`` clips with 5 to 40 extra frames past each clip's end, all scoring
    ``tail_score`` (or random when None)."""
    classes, truth, durations, scores = make_case(seed, n_clips, n_classes, signal=1.0)
    rng = np.random.default_rng(seed + 100)
    padded = {}
    for clip_id, duration in durations.items():
        own = scores[clip_id][: frame_count(duration, DELTA)]
        extra = int(rng.integers(5, 40))
        if tail_score is None:
            tail = rng.random((extra, n_classes)) * own.max()
        else:
            tail = np.full((extra, n_classes), tail_score)
        padded[clip_id] = np.concatenate([own, tail])
    return classes, truth, durations, padded


@pytest.mark.parametrize(("seed", "tail_score"), [(0, None), (3, None), (5, 10.0)])
def test_both_frame_protocols_equal_one_plain_call_on_grid_tables(tmp_path, seed, tail_score):
    classes, truth, durations, scores = random_case_with_tails(seed, 10, 3, tail_score)
    path = write_store(tmp_path / "s.h5", classes, durations, scores, classes_per_chunk=2)
    with ScoreReader(path) as reader:
        assert reader.n_frames.tolist() == [len(scores[clip_id]) for clip_id in durations]
    for frames, trimmed in (("untrimmed", False), ("trimmed", True)):
        metrics, _ = sed_metrics(path, truth, frames)
        tables = grid_tables(scores, durations, classes, trimmed)
        assert metrics == sed_metrics_plain(tables, truth, durations), frames


def test_high_scores_past_the_end_lower_untrimmed_psds1(tmp_path):
    classes, truth, durations, scores = random_case_with_tails(5, 10, 3, tail_score=10.0)
    path = write_store(tmp_path / "s.h5", classes, durations, scores)
    untrimmed, _ = sed_metrics(path, truth, "untrimmed")
    trimmed, _ = sed_metrics(path, truth, "trimmed")
    assert untrimmed.psds1 <= trimmed.psds1
    assert untrimmed.psds1 < trimmed.psds1 - 0.01  # the tails are false positives


def test_the_evaluate_rule_imports_no_torch():
    """The evaluate jobs (and their metric workers) start without torch: 1.5 s each saved."""
    code = "import sys, tacos.evaluation.report; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
