"""Where each clip's detection statistics change, for one class across all clips (numba).

This is the part of sed_scores_eval 0.0.4's ``intermediate_statistics_deltas`` that the fast
engine (``sed_metrics``, engine ``fast``) re-implements, with the library's arithmetic; the
library stays the reference (engine ``library``) and ``tests/evaluation/test_change_points.py``
compares the two.

PSDS1 (intersection-based, ``cttc_threshold=None``). A detection at threshold ``u`` is a maximal
run of frames scoring ``>= u``, from the onset of its first frame to the offset of its last. For
each clip the change points are the scores ``u`` at which the clip's true-positive count
(ground-truth events covered by relevant detections, GTC) or false-positive count (detections
that are not relevant, DTC) changes when the threshold falls to ``u``, with the changes ``dT`` and
``dF``:

- a clip without events of the class changes only its number of detections: ``+1`` at a local
  maximum, ``-1`` at a local minimum, as the library's ``onset_deltas``;
- a clip with events is swept from its highest score down: each frame that switches on starts,
  extends or joins runs, and only the changed runs are measured again. Intersections are the
  library's ``max(min(off, gt_off) - max(on, gt_on), 0)``, totals are rounded to 6 decimals before
  the DTC/GTC comparisons, as the library rounds them. The library sums a ground-truth event's
  intersections over all detections, the sweep adds and removes them as runs change: the sums
  can differ in the last bit, which the rounding to 1e-6 s absorbs.

Only change points scoring ``>= cut`` are kept: ``fast_engine`` chooses the cut so that below it
every replicate's false-positive rate is beyond ``max_efpr`` (those points are cut off anyway).

pAUROC (segment-based, 1 s segments): each segment scores the maximum of the frames that overlap
it (0 where none does) and is positive when an event of the class overlaps it, as the library's
``segment_based.intermediate_statistics_deltas``; times are rounded to 6 decimals as there.
"""

from __future__ import annotations

import numba
import numpy as np

DECIMALS_SCALE = 1e6  # sed_scores_eval's time_decimals=6: np.round(x, 6) is rint(x * 1e6) / 1e6


@numba.njit(cache=True)
def round6(value: float) -> float:
    return np.rint(value * DECIMALS_SCALE) / DECIMALS_SCALE


@numba.njit(cache=True)
def frame_edges(n_frames: int, delta: float, duration: float, trimmed: bool) -> np.ndarray:
    """``tacos.frames.frame_edges``: ``t * delta``, the last edge clipped to the duration when
    trimmed."""
    edges = np.arange(n_frames + 1).astype(np.float64) * delta
    if trimmed:
        edges[-1] = min(edges[-1], duration)
    return edges


@numba.njit(cache=True)
def clip_maxima(scores: np.ndarray, offsets: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The highest kept score of each clip (``scores`` is one class column of the file)."""
    maxima = np.empty(len(offsets), dtype=np.float64)
    for clip in range(len(offsets)):
        maxima[clip] = scores[offsets[clip] : offsets[clip] + kept[clip]].max()
    return maxima


@numba.njit(cache=True)
def _grow(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` with room for at least ``size`` items (doubling). Called once a clip, never in
    a frame loop: arrays reassigned in a loop cost numba a reference count each pass."""
    if size <= len(values):
        return values
    grown = np.empty(max(2 * len(values), size), dtype=values.dtype)
    grown[: len(values)] = values
    return grown


@numba.njit(cache=True)
def _run_intersections(
    start: int, end: int, edges: np.ndarray, gt_on: np.ndarray, gt_off: np.ndarray, out: np.ndarray
) -> float:
    """Each event's intersection with the run of frames ``[start, end)`` into ``out``; the total."""
    onset, offset = edges[start], edges[end]
    total = 0.0
    for event in range(len(gt_on)):
        value = max(min(offset, gt_off[event]) - max(onset, gt_on[event]), 0.0)
        out[event] = value
        total += value
    return total


@numba.njit(cache=True)
def _sweep_clip(scores, edges, gt_on, gt_off, dtc, gtc, cut, out_score, out_dt, out_df, count):
    """Change points of a clip with events, written from ``count`` (room for one a frame scoring
    ``>= cut``); returns the new count.

    Runs are kept at their ends: ``end_of[first frame]`` and ``start_of[last frame]``; a frame
    that switches on joins the runs on its left and right, whose contributions are removed
    before the joined run is measured.
    """
    n_frames, n_events = len(scores), len(gt_on)
    order = np.argsort(-scores)
    active = np.zeros(n_frames, dtype=np.bool_)
    end_of = np.zeros(n_frames, dtype=np.int64)
    start_of = np.zeros(n_frames, dtype=np.int64)
    relevant = np.zeros(n_frames, dtype=np.bool_)  # at a run's first frame
    covered = np.zeros(n_events)  # each event's intersection with the relevant runs
    needed = np.empty(n_events)
    for event in range(n_events):
        needed[event] = round6(gtc * (gt_off[event] - gt_on[event]))
    parts = np.empty(n_events)
    n_runs = n_relevant = last_tp = last_fp = position = 0
    while position < n_frames and scores[order[position]] >= cut:
        level = scores[order[position]]
        while position < n_frames and scores[order[position]] == level:
            frame = order[position]
            position += 1
            active[frame] = True
            start, end = frame, frame + 1
            neighbours = []
            if frame > 0 and active[frame - 1]:
                start = start_of[frame - 1]
                neighbours.append((start, frame))
            if frame + 1 < n_frames and active[frame + 1]:
                end = end_of[frame + 1]
                neighbours.append((frame + 1, end))
            for run_start, run_end in neighbours:
                n_runs -= 1
                if relevant[run_start]:
                    n_relevant -= 1
                    _run_intersections(run_start, run_end, edges, gt_on, gt_off, parts)
                    covered -= parts
            total = _run_intersections(start, end, edges, gt_on, gt_off, parts)
            is_relevant = round6(total) >= round6(dtc * (edges[end] - edges[start]))
            n_runs += 1
            end_of[start], start_of[end - 1], relevant[start] = end, start, is_relevant
            if is_relevant:
                n_relevant += 1
                covered += parts
        true_positives = 0
        for event in range(n_events):
            true_positives += round6(covered[event]) >= needed[event]
        false_positives = n_runs - n_relevant
        if true_positives != last_tp or false_positives != last_fp:
            out_score[count] = level
            out_dt[count] = true_positives - last_tp
            out_df[count] = false_positives - last_fp
            count += 1
            last_tp, last_fp = true_positives, false_positives
    return count


@numba.njit(cache=True)
def _onset_changes(frames, candidates, out_score, out_dt, out_df, count):
    """Change points of a clip without events: +1 false positive at a local maximum, -1 at a
    local minimum (the library's ``onset_deltas``), among the ``candidates`` (the frames scoring
    at least the cut, found first in a loop without stores, which the compiler vectorises),
    written from ``count``; the new count."""
    for frame in candidates:
        value = frames[frame]
        before = frames[frame - 1] if frame > 0 else -np.inf
        after = frames[frame + 1] if frame + 1 < len(frames) else -np.inf
        change = np.int32(value > before) - np.int32(after > value)
        if change != 0:
            out_score[count], out_dt[count], out_df[count] = value, 0, change
            count += 1
    return count


@numba.njit(cache=True)
def change_points(
    scores: np.ndarray,
    offsets: np.ndarray,
    kept: np.ndarray,
    durations: np.ndarray,
    delta: float,
    trimmed: bool,
    event_ptr: np.ndarray,
    event_on: np.ndarray,
    event_off: np.ndarray,
    dtc: float,
    gtc: float,
    cut: float,
):
    """PSDS change points of one class over all clips, scoring ``>= cut``.

    ``scores`` is the class's column of the score file, clip ``c``'s frames at ``offsets[c]``, of
    which the first ``kept[c]`` are scored (the frame protocol); the class's events of clip ``c``
    are ``event_on/off[event_ptr[c]:event_ptr[c + 1]]``. Returns ``(score, dT, dF, clip)``.
    """
    size = 1024
    out_score = np.empty(size, dtype=np.float64)
    out_dt = np.empty(size, dtype=np.int32)
    out_df = np.empty(size, dtype=np.int32)
    out_clip = np.empty(size, dtype=np.int32)
    count = 0
    for clip in range(len(offsets)):
        frames = scores[offsets[clip] : offsets[clip] + kept[clip]]
        candidates = np.flatnonzero(frames >= cut)
        room = count + len(candidates)  # at most one change point a frame
        out_score, out_dt = _grow(out_score, room), _grow(out_dt, room)
        out_df, out_clip = _grow(out_df, room), _grow(out_clip, room)
        first = count
        if event_ptr[clip + 1] > event_ptr[clip]:
            edges = frame_edges(len(frames), delta, durations[clip], trimmed)
            events = slice(event_ptr[clip], event_ptr[clip + 1])
            count = _sweep_clip(
                frames, edges, event_on[events], event_off[events], dtc, gtc, cut,
                out_score, out_dt, out_df, count,
            )  # fmt: skip
        else:
            count = _onset_changes(frames, candidates, out_score, out_dt, out_df, count)
        out_clip[first:count] = clip
    return out_score[:count], out_dt[:count], out_df[:count], out_clip[:count]


@numba.njit(cache=True)
def segment_frames(
    kept: np.ndarray, durations: np.ndarray, delta: float, trimmed: bool, segment_length: float
):
    """Each segment's frame range ``[low, high)`` (relative to its clip; empty: score 0) and
    bounds, clip by clip; ``ptr[c]:ptr[c + 1]`` are clip ``c``'s segments."""
    ptr = np.zeros(len(kept) + 1, dtype=np.int64)
    for clip in range(len(kept)):
        ptr[clip + 1] = ptr[clip] + int(np.ceil(durations[clip] / segment_length))
    low = np.empty(ptr[-1], dtype=np.int64)
    high = np.empty(ptr[-1], dtype=np.int64)
    onset = np.empty(ptr[-1], dtype=np.float64)
    offset = np.empty(ptr[-1], dtype=np.float64)
    for clip in range(len(kept)):
        edges = frame_edges(kept[clip], delta, durations[clip], trimmed)
        for position in range(len(edges)):
            edges[position] = round6(edges[position])
        for index in range(ptr[clip + 1] - ptr[clip]):
            segment = ptr[clip] + index
            onset[segment] = round6(index * segment_length)
            offset[segment] = round6((index + 1) * segment_length)
            first = np.searchsorted(edges, onset[segment], side="right") - 1
            last = np.searchsorted(edges, offset[segment], side="left")
            low[segment] = max(first, 0)
            high[segment] = min(last, len(edges) - 1)
    return ptr, low, high, onset, offset


@numba.njit(cache=True)
def segment_scores(
    scores: np.ndarray,
    offsets: np.ndarray,
    segment_ptr: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    onset: np.ndarray,
    offset: np.ndarray,
    event_ptr: np.ndarray,
    event_on: np.ndarray,
    event_off: np.ndarray,
):
    """Each segment's score (the maximum of its frames, 0 without frames) and label (an event of
    the class overlaps it), for one class column of the score file."""
    values = np.zeros(len(low), dtype=np.float64)
    positive = np.zeros(len(low), dtype=np.bool_)
    for clip in range(len(offsets)):
        for segment in range(segment_ptr[clip], segment_ptr[clip + 1]):
            if high[segment] > low[segment]:
                start = offsets[clip]
                values[segment] = scores[start + low[segment] : start + high[segment]].max()
            for event in range(event_ptr[clip], event_ptr[clip + 1]):
                if (
                    onset[segment] < event_off[event]
                    and offset[segment] > event_on[event]
                    and offset[segment] > onset[segment]
                ):
                    positive[segment] = True
    return values, positive
