"""The library engine: PSDS1 and pAUROC by sed_scores_eval 0.0.4's own public functions, in
memory bounded by a block of classes (the reference path; ``evaluation.engine: library``).

With ``alpha_ct=0`` the library treats every class on its own until it combines the per-class
curves, so each worker process runs the library on a few classes across all clips
(``intermediate_statistics_deltas`` once, then ``psd_roc`` and ``auroc`` with ``deltas=``), and
the parent combines the per-class PSD-ROCs with the library's
``multi_class_psd_roc_from_single_class_psd_rocs`` and ``psds_from_psd_roc``, and averages the
per-class pAUROCs as ``auroc`` does. No metric arithmetic is re-implemented here. Per-clip
deltas are put in the order of the durations, as the plain call sums clip durations in that
order; the results then equal the plain call bit for bit.

A bootstrap replicate puts a clip drawn twice in under the keys ``<clip_id>#<position>``. The
per-clip deltas are computed once and reused by every replicate, so a replicate costs the
library's accumulation only; that accumulation is what the fast engine (``fast_engine``) makes
cheap enough for 1000 replicates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np
import pandas as pd
from sed_scores_eval import intersection_based, segment_based
from sed_scores_eval.segment_based.intermediate_statistics import (
    intermediate_statistics_deltas as segment_deltas,
)

from tacos.evaluation.ground_truth import GroundTruth
from tacos.evaluation.metric_results import (
    NO_SCORED_CLASS,
    PAUROC_ARGS,
    PSDS1_ARGS,
    BootstrapResult,
    MetricsRequest,
    SedMetrics,
    bootstrap_samples,
    check_inputs,
    resampled_ids,
)
from tacos.evaluation.scores import FrameProtocol, ScoreReader, score_dataframe

log = logging.getLogger(__name__)

Roc = tuple[np.ndarray, np.ndarray]  # (TPR, eFPR) of one class


def combine_classes(psd_rocs: Mapping[str, Roc], aurocs: Mapping[str, float]) -> SedMetrics:
    """Overall metrics from per-class results, with the library's own combination steps.

    Order matters for bit-equality: give the classes in the plain call's column order.
    """
    max_efpr = PSDS1_ARGS["max_efpr"]
    tpr, efpr = intersection_based.multi_class_psd_roc_from_single_class_psd_rocs(
        dict(psd_rocs), alpha_st=PSDS1_ARGS["alpha_st"], max_efpr=max_efpr
    )
    per_class = {
        name: float(intersection_based.psds_from_psd_roc(class_tpr, class_efpr, max_efpr))
        for name, (class_tpr, class_efpr) in psd_rocs.items()
    }
    return SedMetrics.of_classes(
        intersection_based.psds_from_psd_roc(tpr, efpr, max_efpr), per_class, aurocs
    )


@dataclass(frozen=True)
class _Task:
    """One worker's job: a few classes across every clip of the score file."""

    store_path: str
    class_names: tuple[str, ...]
    ground_truth: GroundTruth  # the evaluated clips, with only the events of class_names
    frames: FrameProtocol
    n_bootstrap: int = 0
    seed: int = 0


@dataclass
class _ClassResults:
    psd_rocs: dict[str, Roc] = field(default_factory=dict)
    aurocs: dict[str, float] = field(default_factory=dict)

    def update(self, other: _ClassResults) -> None:
        self.psd_rocs.update(other.psd_rocs)
        self.aurocs.update(other.aurocs)

    def ordered(self, class_names: Sequence[str]) -> _ClassResults:
        present = [name for name in class_names if name in self.aurocs]
        return _ClassResults(
            {name: self.psd_rocs[name] for name in present},
            {name: self.aurocs[name] for name in present},
        )


def _load_scores(task: _Task) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """Score DataFrames and durations of the task's clips (those of its ground truth), in the
    score file's order."""
    with ScoreReader(task.store_path) as reader:
        columns = reader.read_classes(reader.class_index(task.class_names))
        scores = {
            clip_id: score_dataframe(
                clip_scores, reader.delta, reader.durations[clip_id], task.class_names, task.frames
            )
            for clip_id, clip_scores in zip(reader.clip_ids, columns, strict=True)
            if clip_id in task.ground_truth
        }
        return scores, {clip_id: reader.durations[clip_id] for clip_id in scores}


def _class_results(
    psd_deltas: dict,
    auroc_deltas: dict,
    ground_truth: GroundTruth,
    durations: dict[str, float],
) -> _ClassResults:
    """Per-class PSD-ROCs and pAUROCs through the public API, from precomputed deltas."""
    _, psd_rocs = intersection_based.psd_roc(
        None, ground_truth, durations, deltas=psd_deltas, **PSDS1_ARGS
    )
    aurocs, _ = segment_based.auroc(
        None, ground_truth, durations, deltas=auroc_deltas, **PAUROC_ARGS
    )
    aurocs.pop("mean")
    return _ClassResults(
        {name: (tpr, efpr) for name, (tpr, efpr, _) in psd_rocs.items()},
        {name: float(value) for name, value in aurocs.items()},
    )


def _evaluate_task(task: _Task) -> tuple[_ClassResults, list[_ClassResults]]:
    """The full-set results of the task's classes, then those of each bootstrap replicate."""
    scores, durations = _load_scores(task)
    ground_truth = task.ground_truth
    psd_deltas = intersection_based.intermediate_statistics_deltas(
        scores,
        ground_truth,
        dtc_threshold=PSDS1_ARGS["dtc_threshold"],
        gtc_threshold=PSDS1_ARGS["gtc_threshold"],
        cttc_threshold=PSDS1_ARGS["cttc_threshold"],
    )
    auroc_deltas = segment_deltas(
        scores, ground_truth, durations, segment_length=PAUROC_ARGS["segment_length"]
    )
    del scores
    # the order of the durations, in which the plain call sums them (see module doc)
    psd_deltas = {clip_id: psd_deltas[clip_id] for clip_id in durations}
    auroc_deltas = {clip_id: auroc_deltas[clip_id] for clip_id in durations}
    full = _class_results(psd_deltas, auroc_deltas, ground_truth, durations)
    clip_classes = {
        clip_id: {name for _, _, name in events} for clip_id, events in ground_truth.items()
    }
    replicates = []
    for sample in bootstrap_samples(list(durations), task.n_bootstrap, task.seed):
        present = set().union(*(clip_classes[clip_id] for clip_id in sample))
        if not present:
            replicates.append(_ClassResults())
            continue
        keys = resampled_ids(sample)
        pairs = list(zip(keys, sample, strict=True))
        replicates.append(
            _class_results(
                {key: _pick(psd_deltas[clip_id], present) for key, clip_id in pairs},
                {key: _pick(auroc_deltas[clip_id], present) for key, clip_id in pairs},
                {key: ground_truth[clip_id] for key, clip_id in pairs},
                {key: durations[clip_id] for key, clip_id in pairs},
            )
        )
    return full, replicates


def _pick(clip_deltas: dict, class_names: set[str]) -> dict:
    return {name: value for name, value in clip_deltas.items() if name in class_names}


def _tasks(
    store_path: str,
    classes: Sequence[str],
    ground_truth: GroundTruth,
    frames: FrameProtocol,
    classes_per_job: int,
    n_bootstrap: int,
    seed: int,
) -> list[_Task]:
    """Jobs of ``classes_per_job`` consecutive scored classes (in file order), each with the
    ground truth of its classes only (the library rejects events of classes without scores)."""
    tasks = []
    for start in range(0, len(classes), classes_per_job):
        job = tuple(classes[start : start + classes_per_job])
        selected = set(job)
        job_truth = {
            clip_id: [event for event in events if event[2] in selected]
            for clip_id, events in ground_truth.items()
        }
        tasks.append(_Task(store_path, job, job_truth, frames, n_bootstrap, seed))
    return tasks


def _run(tasks: list[_Task], workers: int) -> Iterator[tuple[_ClassResults, list[_ClassResults]]]:
    """Results of the tasks in order; ``spawn`` workers, so no HDF5 handle or thread is forked."""
    if workers <= 1:
        yield from map(_evaluate_task, tasks)
        return
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=get_context("spawn")) as pool:
        yield from pool.map(_evaluate_task, tasks)


def library_sed_metrics(request: MetricsRequest) -> tuple[SedMetrics, BootstrapResult | None]:
    """``sed_metrics`` with the library engine, in memory bounded by a class block a worker."""
    ground_truth, frames = request.ground_truth, request.frames
    n_bootstrap, seed = request.n_bootstrap, request.seed
    with ScoreReader(request.store_path) as reader:
        classes = check_inputs(reader, ground_truth)
        per_job = request.classes_per_job or reader.classes_per_chunk
        tasks = _tasks(str(reader.path), classes, ground_truth, frames, per_job, n_bootstrap, seed)
    full = _ClassResults()
    replicates = [_ClassResults() for _ in range(n_bootstrap)]
    for done, (task_full, task_replicates) in enumerate(_run(tasks, request.workers), start=1):
        full.update(task_full)
        for replicate, task_replicate in zip(replicates, task_replicates, strict=True):
            replicate.update(task_replicate)
        log.info("SED metrics (library): %d/%d class blocks done", done, len(tasks))
    ordered = full.ordered(classes)
    metrics = combine_classes(ordered.psd_rocs, ordered.aurocs)
    if not n_bootstrap:
        return metrics, None
    return metrics, _bootstrap_result(replicates, classes, seed)


def _bootstrap_result(
    replicates: list[_ClassResults], classes: Sequence[str], seed: int
) -> BootstrapResult:
    return BootstrapResult.of_replicates(
        (_replicate_metrics(replicate.ordered(classes)) for replicate in replicates), seed
    )


def _replicate_metrics(ordered: _ClassResults) -> SedMetrics:
    if not ordered.aurocs:
        raise ValueError(NO_SCORED_CLASS)
    return combine_classes(ordered.psd_rocs, ordered.aurocs)
