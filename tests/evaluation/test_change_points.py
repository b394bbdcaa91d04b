"""The change points of one class over all clips equal sed_scores_eval 0.0.4's statistics, on
random cases with ties, touching events, many events a clip, frames past the end, one-frame
clips and clips with fewer frames than their duration holds."""

import numpy as np
import pytest
from sed_scores_eval import intersection_based
from sed_scores_eval.base_modules import statistics
from sed_scores_eval.base_modules.scores import create_score_dataframe
from sed_scores_eval.segment_based.intermediate_statistics import (
    intermediate_statistics_deltas as segment_deltas,
)

from tacos.evaluation import change_points
from tacos.evaluation.ground_truth import merge_events
from tacos.frames import frame_count, frame_edges

DELTA = 0.04
CLASSES = ["a", "b", "c"]


def random_events(rng, duration, grid):
    """Events of each class one after another; on the 0.2 s grid some touch (then merged)."""
    events = []
    for name in CLASSES:
        time = 0.0
        while rng.random() < 0.7 and time < duration:
            if grid:
                onset = round(time + int(rng.integers(0, 3)) * 0.2, 1)
                offset = min(duration, round(onset + int(rng.integers(1, 5)) * 0.2, 1))
            else:
                onset = float(np.round(time + rng.uniform(0.0, 1.0), 3))
                offset = float(min(duration, np.round(onset + rng.uniform(0.01, 1.5), 3)))
            if onset >= duration or offset <= onset:
                break
            events.append((onset, offset, name))
            time = offset  # the next event may start where this one ends
    return merge_events(events)


def random_case(seed, trimmed, n_clips=16):
    """Clips with their stored frames, duration and events; scores rise inside events."""
    rng = np.random.default_rng(seed)
    grid = seed % 2 == 0
    clips = []
    for index in range(n_clips):
        if index == 0:
            duration = 0.03  # one frame
        elif grid:
            duration = float(rng.integers(1, 40) * 0.2)
        else:
            duration = float(np.round(rng.uniform(0.05, 8.0), 3))
        n_frames = frame_count(duration, DELTA)
        if index == 1:
            n_frames = max(1, n_frames // 2)  # fewer frames than the duration holds
        elif not trimmed:
            n_frames += int(rng.integers(0, 25))  # frames past the end
        scores = rng.random((n_frames, len(CLASSES))).astype(np.float32)
        if rng.random() < 0.5:
            scores = np.round(scores * 4) / 4  # many ties
        events = random_events(rng, duration, grid)
        starts = np.arange(n_frames) * DELTA
        for onset, offset, name in events:
            inside = (starts < offset) & (starts + DELTA > onset)
            scores[inside, CLASSES.index(name)] += np.float32(rng.choice([0.25, 0.5, 1.0]))
        clips.append((f"Y{index:03d}", duration, scores, events))
    return clips


def kept_frames(n_frames, duration, trimmed):
    return min(n_frames, frame_count(duration, DELTA)) if trimmed else n_frames


def library_inputs(clips, trimmed):
    tables, truth, durations = {}, {}, {}
    for clip_id, duration, scores, events in clips:
        kept = kept_frames(len(scores), duration, trimmed)
        edges = frame_edges(kept, DELTA, duration if trimmed else None)
        tables[clip_id] = create_score_dataframe(scores[:kept], edges, CLASSES)
        truth[clip_id], durations[clip_id] = events, duration
    return tables, truth, durations


def class_inputs(clips, trimmed, name):
    """The kernels' arguments for one class: its column, the clips' layout, its events."""
    n_frames = np.array([len(scores) for _, _, scores, _ in clips])
    offsets = np.cumsum(n_frames) - n_frames
    durations = np.array([duration for _, duration, _, _ in clips])
    kept = np.array([kept_frames(n, d, trimmed) for n, d in zip(n_frames, durations, strict=True)])
    column = np.concatenate([scores[:, CLASSES.index(name)] for _, _, scores, _ in clips])
    ptr, onsets, offsets_ = [0], [], []
    for *_, events in clips:
        spans = [(onset, offset) for onset, offset, label in events if label == name]
        onsets += [onset for onset, _ in spans]
        offsets_ += [offset for _, offset in spans]
        ptr.append(len(onsets))
    events = (np.array(ptr), np.array(onsets, dtype=float), np.array(offsets_, dtype=float))
    return column, offsets, kept, durations, events


@pytest.mark.parametrize("trimmed", [True, False])
@pytest.mark.parametrize("seed", range(12))
def test_accumulated_counts_equal_the_library_at_every_threshold(seed, trimmed):
    clips = random_case(seed, trimmed)
    tables, truth, _ = library_inputs(clips, trimmed)
    deltas = intersection_based.intermediate_statistics_deltas(
        tables, truth, dtc_threshold=0.7, gtc_threshold=0.7, cttc_threshold=None
    )
    expected = statistics.accumulated_intermediate_statistics_from_deltas(deltas)
    for name in CLASSES:
        column, offsets, kept, durations, events = class_inputs(clips, trimmed, name)
        score, d_tp, d_fp, clip = change_points.change_points(
            column, offsets, kept, durations, DELTA, trimmed, *events, 0.7, 0.7, -np.inf
        )
        thresholds, counts = expected[name]
        above = score[None, :] >= thresholds[:, None]
        assert (above * d_tp).sum(1).tolist() == counts["tps"].tolist()
        assert (above * d_fp).sum(1).tolist() == counts["fps"].tolist()
        assert np.all(np.diff(clip) >= 0)  # clip by clip


def test_many_events_of_one_class_in_a_clip_equal_the_library():
    """Twelve events in one clip: the library sums their intersections pairwise, the sweep
    adds and removes them; the rounding to 1e-6 s makes both count the same."""
    rng = np.random.default_rng(3)
    duration = 12.0
    events = [(k + 0.123, k + 0.6 + rng.uniform(0.0, 0.3), "a") for k in range(12)]
    n_frames = frame_count(duration, DELTA)
    scores = rng.random((n_frames, 3)).astype(np.float32)
    starts = np.arange(n_frames) * DELTA
    for onset, offset, _ in events:
        scores[(starts < offset) & (starts + DELTA > onset), 0] += 0.6
    others = [(0.5, 1.0, "b"), (1.5, 2.0, "c")]  # the library needs events of every class
    clips = [("Y000", duration, scores, events), ("Y001", 3.0, scores[:75], others)]
    tables, truth, _ = library_inputs(clips, True)
    deltas = intersection_based.intermediate_statistics_deltas(
        tables, truth, dtc_threshold=0.7, gtc_threshold=0.7, cttc_threshold=None
    )
    thresholds, counts = statistics.accumulated_intermediate_statistics_from_deltas(deltas)["a"]
    column, offsets, kept, durations, class_events = class_inputs(clips, True, "a")
    score, d_tp, d_fp, _ = change_points.change_points(
        column, offsets, kept, durations, DELTA, True, *class_events, 0.7, 0.7, -np.inf
    )
    above = score[None, :] >= thresholds[:, None]
    assert counts["tps"].max() > 6
    assert (above * d_tp).sum(1).tolist() == counts["tps"].tolist()
    assert (above * d_fp).sum(1).tolist() == counts["fps"].tolist()


def test_a_cut_keeps_exactly_the_change_points_at_or_above_it():
    clips = random_case(5, trimmed=False)
    column, offsets, kept, durations, events = class_inputs(clips, False, "b")
    every = change_points.change_points(
        column, offsets, kept, durations, DELTA, False, *events, 0.7, 0.7, -np.inf
    )
    cut = float(np.median(every[0]))
    above = change_points.change_points(
        column, offsets, kept, durations, DELTA, False, *events, 0.7, 0.7, cut
    )
    mask = every[0] >= cut
    for kept_part, full_part in zip(above, every, strict=True):
        assert kept_part.tolist() == full_part[mask].tolist()


@pytest.mark.parametrize("trimmed", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_segment_scores_and_labels_equal_the_library(seed, trimmed):
    clips = random_case(seed, trimmed)
    tables, truth, durations = library_inputs(clips, trimmed)
    expected = segment_deltas(tables, truth, durations, segment_length=1.0)
    for name in CLASSES:
        column, offsets, kept, clip_durations, events = class_inputs(clips, trimmed, name)
        ptr, low, high, onset, offset = change_points.segment_frames(
            kept, clip_durations, DELTA, trimmed, 1.0
        )
        values, positive = change_points.segment_scores(
            column, offsets, ptr, low, high, onset, offset, *events
        )
        for index, (clip_id, *_) in enumerate(clips):
            library_scores, library_counts = expected[clip_id][name]
            segment = slice(ptr[index], ptr[index + 1])
            assert values[segment].tolist() == library_scores.tolist()
            assert positive[segment].tolist() == library_counts["tps"].tolist()
    assert ptr[1] == 1  # the one-frame clip has one segment


def test_clip_maxima_are_the_highest_kept_score():
    column = np.array([0.1, 0.9, 0.3, 0.5, 0.7, 0.2], dtype=np.float32)
    maxima = change_points.clip_maxima(column, np.array([0, 3]), np.array([1, 3]))
    assert maxima.tolist() == [np.float32(0.1), np.float32(0.7)]


def test_round6_is_numpys_round_to_six_decimals():
    values = np.random.default_rng(0).uniform(-20.0, 20.0, 10_000)
    values = np.concatenate([values, np.arange(-5, 5) * 0.0000005, [0.7 * 0.28, 1.0000005]])
    assert [change_points.round6(value) for value in values] == np.round(values, 6).tolist()
