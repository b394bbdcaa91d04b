"""The fast engine: PSDS1, pAUROC and their bootstrap at the real eval size in minutes.

Two phases, each spread over worker processes:

1. Change points, class block by class block (``change_points``): each worker reads a few
   classes across all clips from the score file and finds, per class, where the detection
   counts change (PSDS) and each segment's score and label (pAUROC). Only the top of each list
   is kept: the points whose false-positive rate stays within ``max_efpr`` (``max_fpr``) in at
   least one replicate. The cut is proven for every replicate before it is used: below it, each
   of the clips without events of the class that scores above it has a detection, and those
   detections alone put every replicate beyond ``max_efpr``; likewise the negative segments
   above it put every replicate beyond ``max_fpr``. Where no such cut exists, all points are
   kept.
2. Replicates, block by block (``curves.replicate_metrics``): the full set is replicate 0 with
   every clip once; bootstrap replicate ``r`` weights each clip by how often it was drawn.

The per-class lists move from phase 1 to phase 2 through ``.npy`` files in a temporary folder,
which each phase-2 worker maps once.
"""

from __future__ import annotations

import functools
import logging
import math
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from tacos.evaluation import change_points, curves
from tacos.evaluation.ground_truth import GroundTruth
from tacos.evaluation.metric_results import (
    NO_SCORED_CLASS,
    PAUROC_ARGS,
    PSDS1_ARGS,
    BootstrapResult,
    MetricsRequest,
    SedMetrics,
    bootstrap_draws,
    check_inputs,
)
from tacos.evaluation.scores import FrameProtocol, ScoreReader, protocol_frames
from tacos.logs import progress

log = logging.getLogger(__name__)

CUT_MARGIN = 1.2  # first cut: 20 % more points than the full set needs, then grown by half
REPLICATES_PER_JOB = 50
WEIGHTS_FILE = "weights.npy"
CLASS_ARRAYS = (
    "cp_ptr", "cp_groups", "cp_group_ends", "cp_clip", "cp_d_tp", "cp_d_fp",
    "segment_ptr", "segment_groups", "segment_group_ends", "segment_clip", "segment_positive",
)  # fmt: skip


@dataclass(frozen=True)
class _Clips:
    """The evaluated clips in score-file order, and where their frames are."""

    ids: list[str]
    offsets: np.ndarray  # first stored frame of each clip
    kept: np.ndarray  # frames the protocol scores
    durations: np.ndarray
    delta: float
    trimmed: bool


@dataclass(frozen=True)
class _BlockTask:
    """Phase 1 for a few classes: their columns in the file and their events per clip."""

    store_path: str
    columns: tuple[int, ...]
    events: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # (ptr, onsets, offsets)
    clips: _Clips
    folder: str
    max_false_positives: np.ndarray  # each replicate's last false-positive count within max_efpr


@dataclass
class _ClassLists:
    """One class's kept change points and segments, falling by score, with tie-group ends."""

    cp_clip: np.ndarray
    cp_d_tp: np.ndarray
    cp_d_fp: np.ndarray
    cp_group_ends: np.ndarray
    segment_clip: np.ndarray
    segment_positive: np.ndarray
    segment_group_ends: np.ndarray
    counts: np.ndarray  # [replicates, 3]: weighted events, positive and negative segments
    uncut: int  # lists kept whole because no cut could be proven (0, 1 or 2)


def _group_ends(sorted_scores: np.ndarray) -> np.ndarray:
    """Ends of the runs of equal values in a sorted array."""
    if len(sorted_scores) == 0:
        return np.zeros(0, dtype=np.int64)
    changes = np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]) + 1
    return np.append(changes, len(sorted_scores)).astype(np.int64)


def _chunks(n_items: int, size: int) -> list[range]:
    return [range(start, min(start + size, n_items)) for start in range(0, n_items, size)]


def _falling(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-scores, kind="stable")


def _proven_cut(
    candidates: np.ndarray,
    candidate_clips: np.ndarray,
    weights: np.ndarray,
    beyond: Callable[[np.ndarray], np.ndarray],
    needed: int,
) -> float:
    """The highest cut such that, in every replicate, the candidates scoring at least the cut
    are beyond the limit (``beyond`` of their weighted count per replicate, the library's own
    comparison); -inf when there is none.

    ``candidates``: scores that each stand for one point beyond the limit below them (a clip's
    maximum, a negative segment's score); ``needed``: how many of them the full set needs.
    """
    ranked = np.sort(candidates)[::-1]
    count = math.ceil(CUT_MARGIN * needed)
    while count < len(ranked):
        cut = ranked[count - 1]
        counts = np.bincount(candidate_clips[candidates >= cut], minlength=weights.shape[1])
        if np.all(beyond(weights @ counts.astype(np.float64))):
            return float(cut)
        count = math.ceil(count * 1.5)
    return -np.inf


def _class_lists(
    column: np.ndarray,
    events: tuple[np.ndarray, np.ndarray, np.ndarray],
    clips: _Clips,
    segments: tuple,
    weights: np.ndarray,
    max_fp: np.ndarray,
) -> _ClassLists:
    """Phase 1 for one class (see module doc)."""
    event_ptr, onsets, offsets = events
    events_per_clip = np.diff(event_ptr)
    segment_ptr, low, high, segment_on, segment_off = segments
    values, positive = change_points.segment_scores(
        column, clips.offsets, segment_ptr, low, high, segment_on, segment_off,
        event_ptr, onsets, offsets,
    )  # fmt: skip
    segment_clip = np.repeat(np.arange(len(clips.ids), dtype=np.int32), np.diff(segment_ptr))
    per_clip = np.stack(
        [
            events_per_clip,
            np.bincount(segment_clip[positive], minlength=len(clips.ids)),
            np.bincount(segment_clip[~positive], minlength=len(clips.ids)),
        ],
        axis=1,
    ).astype(np.float64)
    counts = np.rint(weights @ per_clip).astype(np.int64)

    max_fpr = PAUROC_ARGS["max_fpr"]
    silent = np.flatnonzero(events_per_clip == 0)
    maxima = change_points.clip_maxima(column, clips.offsets, clips.kept)
    cut = _proven_cut(
        maxima[silent],
        silent,
        weights,
        lambda false_positives: false_positives > max_fp,  # max_fp: the last count within
        int(max_fp.max()) + 1,
    )
    score, d_tp, d_fp, cp_clip = change_points.change_points(
        column, clips.offsets, clips.kept, clips.durations, clips.delta, clips.trimmed,
        event_ptr, onsets, offsets, PSDS1_ARGS["dtc_threshold"], PSDS1_ARGS["gtc_threshold"], cut,
    )  # fmt: skip
    order = _falling(score)

    negative = np.flatnonzero(~positive)
    segment_cut = _proven_cut(
        values[negative],
        segment_clip[negative],
        weights,
        lambda false_positives: false_positives / counts[:, 2] > max_fpr,  # the library's FPR
        int(math.ceil(max_fpr * counts[:, 2].max())) + 1,
    )
    kept = np.flatnonzero(values >= segment_cut)
    segment_order = kept[_falling(values[kept])]
    return _ClassLists(
        cp_clip[order], d_tp[order], d_fp[order], _group_ends(score[order]),
        segment_clip[segment_order], positive[segment_order],
        _group_ends(values[segment_order]), counts,
        int(cut == -np.inf) + int(segment_cut == -np.inf),
    )  # fmt: skip


@functools.lru_cache(maxsize=1)
def _float_weights(folder: str) -> np.ndarray:
    """The multiplicities as float64 for the matrix products, converted once a process."""
    return np.load(Path(folder) / WEIGHTS_FILE).astype(np.float64)


def _class_block(task: _BlockTask) -> list[_ClassLists]:
    """Phase 1 for the task's classes: read their columns once, then class by class."""
    clips = task.clips
    weights = _float_weights(task.folder)
    segments = change_points.segment_frames(
        clips.kept, clips.durations, clips.delta, clips.trimmed, PAUROC_ARGS["segment_length"]
    )
    with ScoreReader(task.store_path) as reader:
        block = reader.read_block(task.columns)
    return [
        _class_lists(
            np.ascontiguousarray(block[:, index], dtype=np.float32),
            events,
            clips,
            segments,
            weights,
            task.max_false_positives,
        )
        for index, events in enumerate(task.events)
    ]


def _save_lists(folder: Path, lists: Sequence[_ClassLists]) -> np.ndarray:
    """Concatenate the classes' lists into the arrays of ``CLASS_ARRAYS`` in ``folder``; returns
    the weighted counts ``[replicates, classes, 3]``."""
    arrays: dict[str, np.ndarray] = {}
    for prefix in ("cp", "segment"):
        clip_key = f"{prefix}_clip"
        sizes = [len(getattr(item, clip_key)) for item in lists]
        arrays[f"{prefix}_ptr"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        group_ends = [getattr(item, f"{prefix}_group_ends") for item in lists]
        arrays[f"{prefix}_groups"] = np.concatenate(
            [[0], np.cumsum([len(ends) for ends in group_ends])]
        ).astype(np.int64)
        arrays[f"{prefix}_group_ends"] = np.concatenate(
            [
                ends + start
                for ends, start in zip(group_ends, arrays[f"{prefix}_ptr"][:-1], strict=True)
            ]
        ).astype(np.int64)
    for key in ("cp_clip", "cp_d_tp", "cp_d_fp", "segment_clip", "segment_positive"):
        arrays[key] = np.concatenate([getattr(item, key) for item in lists])
    for key in CLASS_ARRAYS:
        np.save(folder / f"{key}.npy", arrays[key])
    return np.stack([item.counts for item in lists], axis=1)


@functools.lru_cache(maxsize=1)
def _load(folder: str) -> dict[str, np.ndarray]:
    """The class lists and the weights of ``folder``, mapped once a process."""
    keys = (*CLASS_ARRAYS, WEIGHTS_FILE.removesuffix(".npy"))
    return {key: np.load(Path(folder) / f"{key}.npy", mmap_mode="r") for key in keys}


def _replicates(
    job: tuple[str, range, np.ndarray, np.ndarray],
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Phase 2 for a block of replicates: ``(psds1, per-class PSDS, per-class pAUROC)`` each."""
    folder, replicates, durations, counts = job
    loaded = _load(folder)
    arrays = [np.asarray(loaded[key]) for key in CLASS_ARRAYS]
    results = []
    for position, replicate in enumerate(replicates):
        weights = np.asarray(loaded["weights"][replicate], dtype=np.int64)
        n_ref, n_positive, n_negative = counts[position].T
        results.append(
            curves.replicate_metrics(
                weights,
                durations[position],
                n_ref,
                n_positive,
                n_negative,
                *arrays,
                PSDS1_ARGS["max_efpr"],
                PAUROC_ARGS["max_fpr"],
            )
        )
    return results


class _Runner:
    """Runs jobs in order, in this process or in ``spawn`` workers (no HDF5 handle or thread is
    forked), started once for both phases; each phase shows a progress bar in the log."""

    def __init__(self, workers: int):
        self.pool = None
        if workers > 1:
            self.pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))

    def map(self, function, jobs: list, description: str) -> list:
        results = []
        with progress(total=len(jobs), desc=description, unit="job") as bar:
            outputs = map(function, jobs) if self.pool is None else self.pool.map(function, jobs)
            for output in outputs:
                results.append(output)
                bar.update()
        return results

    def __enter__(self) -> _Runner:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _evaluated_clips(reader: ScoreReader, ground_truth: GroundTruth, frames: FrameProtocol):
    rows = [row for row, clip_id in enumerate(reader.clip_ids) if clip_id in ground_truth]
    ids = [reader.clip_ids[row] for row in rows]
    durations = np.array([reader.durations[clip_id] for clip_id in ids], dtype=np.float64)
    kept = [
        protocol_frames(int(reader.n_frames[row]), reader.delta, duration, frames)
        for row, duration in zip(rows, durations.tolist(), strict=True)
    ]
    return _Clips(
        ids,
        reader.offsets[rows].astype(np.int64),
        np.asarray(kept, dtype=np.int64),
        durations,
        reader.delta,
        frames == "trimmed",
    )


def _events(ground_truth: GroundTruth, clips: _Clips, class_name: str):
    """The class's events as (ptr, onsets, offsets) over the clips, in the ground truth's order."""
    ptr, onsets, offsets = [0], [], []
    for clip_id in clips.ids:
        for onset, offset, name in ground_truth[clip_id]:
            if name == class_name:
                onsets.append(onset)
                offsets.append(offset)
        ptr.append(len(onsets))
    return (
        np.asarray(ptr, dtype=np.int64),
        np.asarray(onsets, dtype=np.float64),
        np.asarray(offsets, dtype=np.float64),
    )


def _weights(clips: _Clips, n_bootstrap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Clip multiplicities ``[1 + n_bootstrap, clips]`` (row 0: the full set) and each row's
    summed duration, added in the order the library adds them (file order; draw order)."""
    ordered = np.argsort(np.array(clips.ids), kind="stable")  # file positions of the sorted ids
    weights = np.ones((1 + n_bootstrap, len(clips.ids)), dtype=np.int16)
    durations = [float(np.cumsum(clips.durations)[-1])]
    for row, draws in enumerate(bootstrap_draws(len(clips.ids), n_bootstrap, seed), start=1):
        drawn = ordered[draws]
        weights[row] = np.bincount(drawn, minlength=len(clips.ids))
        durations.append(float(np.cumsum(clips.durations[drawn])[-1]))
    return weights, np.asarray(durations)


def fast_sed_metrics(request: MetricsRequest) -> tuple[SedMetrics, BootstrapResult | None]:
    """``sed_metrics`` with the fast engine (see module doc)."""
    store_path, ground_truth, frames = request.store_path, request.ground_truth, request.frames
    workers, n_bootstrap, seed = request.workers, request.n_bootstrap, request.seed
    with ScoreReader(store_path) as reader:
        classes = check_inputs(reader, ground_truth)
        clips = _evaluated_clips(reader, ground_truth, frames)
        columns = reader.class_index(classes)
        per_job = request.classes_per_job or reader.classes_per_chunk
        label = f"{reader.path.stem} ({frames})"
    weights, durations = _weights(clips, n_bootstrap, seed)
    with (
        tempfile.TemporaryDirectory(prefix="tacos-metrics-") as folder,
        _Runner(min(workers, len(classes))) as runner,
    ):
        np.save(Path(folder) / WEIGHTS_FILE, weights)
        max_fp = np.array(
            [curves.max_false_positives(duration, PSDS1_ARGS["max_efpr"]) for duration in durations]
        )
        tasks = [
            _BlockTask(
                str(store_path),
                tuple(columns[index] for index in block),
                tuple(_events(ground_truth, clips, classes[index]) for index in block),
                clips,
                folder,
                max_fp,
            )
            for block in _chunks(len(classes), per_job)
        ]
        changes = runner.map(_class_block, tasks, f"{label}: change points")
        lists = [lists for block in changes for lists in block]
        log.info(
            "%s: kept %d change points and %d segments of %d classes (%d lists whole: no cut "
            "could be proven)",
            label,
            sum(len(item.cp_clip) for item in lists),
            sum(len(item.segment_clip) for item in lists),
            len(lists),
            sum(item.uncut for item in lists),
        )
        counts = _save_lists(Path(folder), lists)
        del lists
        jobs = [
            (folder, rows, durations[rows.start : rows.stop], counts[rows.start : rows.stop])
            for rows in _chunks(len(durations), REPLICATES_PER_JOB)
        ]
        replicates = runner.map(_replicates, jobs, f"{label}: replicates")
        results = [result for block in replicates for result in block]
    return _metrics(results[0], classes), _bootstrap(results[1:], classes, seed)


def _metrics(result: tuple[float, np.ndarray, np.ndarray], classes: Sequence[str]) -> SedMetrics:
    combined, psds, pauroc = result
    return SedMetrics.of_classes(
        combined, dict(zip(classes, psds, strict=True)), dict(zip(classes, pauroc, strict=True))
    )


def _replicate_metrics(
    result: tuple[float, np.ndarray, np.ndarray], classes: Sequence[str]
) -> SedMetrics:
    """A replicate's metrics over the classes with events in it (NaN: none drawn)."""
    combined, psds, pauroc = result
    present = ~np.isnan(psds)
    if not present.any():
        raise ValueError(NO_SCORED_CLASS)
    names = [name for name, kept in zip(classes, present, strict=True) if kept]
    return _metrics((combined, psds[present], pauroc[present]), names)


def _bootstrap(results: list, classes: Sequence[str], seed: int) -> BootstrapResult | None:
    """Replicate values of each metric; a replicate's classes are those with events in it."""
    if not results:
        return None
    return BootstrapResult.of_replicates(
        (_replicate_metrics(result, classes) for result in results), seed
    )
