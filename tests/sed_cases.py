"""Score files and ground truth the metric tests build: random events, scores that follow them,
and the plain library call the engines are compared with."""

import numpy as np
import pandas as pd

from tacos.evaluation.ground_truth import scored_classes
from tacos.evaluation.scores import ScoreReader, ScoreWriter
from tacos.evaluation.sed_metrics import SedMetrics, sed_metrics_plain
from tacos.frames import frame_count

PSDS1_BOUND = 1e-12  # the fast engine's PSDS1 against the library's (curves module doc)

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


def assert_same_metrics(metrics: SedMetrics, reference: SedMetrics) -> None:
    """Equal per-class values, macro PSDS and pAUROC; PSDS1 within ``PSDS1_BOUND``."""
    assert metrics.psds1_per_class == reference.psds1_per_class
    assert metrics.pauroc_per_class == reference.pauroc_per_class
    assert metrics.psds1_macro == reference.psds1_macro
    assert metrics.pauroc == reference.pauroc
    assert abs(metrics.psds1 - reference.psds1) <= PSDS1_BOUND
