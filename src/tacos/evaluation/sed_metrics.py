"""PSDS1 and pAUROC of text-based SED, exactly as the authors call sed_scores_eval 0.0.4.

- PSDS1: ``intersection_based.psds(..., dtc_threshold=0.7, gtc_threshold=0.7,
  cttc_threshold=None, alpha_ct=0, alpha_st=1, max_efpr=100)``, with per-class PSDS and their
  mean ("psds1 macro", the value PSDS takes with ``alpha_st=0``).
- pAUROC: ``segment_based.auroc(..., max_fpr=0.1, segment_length=1.0)[0]["mean"]``, with the
  per-class values. Segment-based, normalised by max_fpr, no McClish correction: chance is about
  0.05, an oracle 1.0.

``sed_metrics_plain`` is that single call on in-memory score DataFrames; at the real eval size it
needs about 75 GB (DESIGN 6). ``sed_metrics`` gives identical numbers from a score file
(``scores.py``) in memory bounded by a block of classes: with ``alpha_ct=0`` the library treats
every class on its own until it combines the per-class curves, so each worker process runs the
library's own public functions on a few classes across all clips (``intermediate_statistics_deltas``
once, then ``psd_roc`` and ``auroc`` with ``deltas=``), and the parent combines the per-class
PSD-ROCs with the library's ``multi_class_psd_roc_from_single_class_psd_rocs`` (mean minus
``alpha_st`` times the standard deviation of the per-class TPRs at every eFPR) and
``psds_from_psd_roc``, and averages the per-class pAUROCs as ``auroc`` does. No metric arithmetic
is re-implemented here. Per-clip deltas are put in the order of the durations, as the plain call
sums clip durations in that order; the results then equal the plain call bit for bit.

Bootstrap (``n_bootstrap > 0``): each replicate draws as many clips as the set has, with
replacement (seeded); a clip drawn twice enters twice under the keys ``<clip_id>#<position>``.
The per-clip deltas are computed once and reused by every replicate, so a replicate costs the
accumulation only. A replicate scores the classes that have ground truth among its clips (the
rule of ``ground_truth.scored_classes``); sed_scores_eval 0.0.4's ``bootstrapped_psds`` is a
5-fold subsampling instead, not a bootstrap.
"""

from __future__ import annotations

import logging
import os
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

from tacos.evaluation.ground_truth import GroundTruth, scored_classes
from tacos.evaluation.scores import FrameProtocol, ScoreReader, score_dataframe

log = logging.getLogger(__name__)

PSDS1_ARGS = {
    "dtc_threshold": 0.7,
    "gtc_threshold": 0.7,
    "cttc_threshold": None,
    "alpha_ct": 0.0,
    "alpha_st": 1.0,
    "max_efpr": 100.0,
}
PAUROC_ARGS = {"max_fpr": 0.1, "segment_length": 1.0}
METRICS = ("psds1", "psds1_macro", "pauroc")

Roc = tuple[np.ndarray, np.ndarray]  # (TPR, eFPR) of one class


@dataclass(frozen=True)
class SedMetrics:
    """PSDS1, its macro mean and pAUROC, overall and per scored class (fractions, not %)."""

    psds1: float
    psds1_macro: float
    pauroc: float
    psds1_per_class: dict[str, float]
    pauroc_per_class: dict[str, float]

    def to_dict(self) -> dict:
        return {
            "psds1": self.psds1,
            "psds1_macro": self.psds1_macro,
            "pauroc": self.pauroc,
            "n_classes": len(self.psds1_per_class),
            "psds1_per_class": self.psds1_per_class,
            "pauroc_per_class": self.pauroc_per_class,
        }


@dataclass(frozen=True)
class BootstrapResult:
    """Replicate values of each metric (``METRICS``) from a bootstrap over clips."""

    replicates: dict[str, np.ndarray]
    seed: int

    def interval(self, metric: str, confidence: float = 0.95) -> tuple[float, float]:
        """Percentile interval of ``metric`` at ``confidence``."""
        tail = (1.0 - confidence) / 2.0 * 100.0
        low, high = np.percentile(self.replicates[metric], [tail, 100.0 - tail])
        return float(low), float(high)

    def to_dict(self, confidence: float = 0.95) -> dict:
        summary: dict = {"n_bootstrap": len(self.replicates["psds1"]), "seed": self.seed}
        summary["confidence"] = confidence
        for metric, values in self.replicates.items():
            low, high = self.interval(metric, confidence)
            summary[metric] = {
                "mean": float(np.mean(values)),
                "std": float(np.std(values)),
                "low": low,
                "high": high,
            }
        return summary


def sed_metrics_plain(
    scores: Mapping[str, pd.DataFrame],
    ground_truth: GroundTruth,
    audio_durations: Mapping[str, float],
) -> SedMetrics:
    """The reference: one ``psds`` and one ``auroc`` call on all clips and classes at once."""
    psds1, psds1_per_class, *_ = intersection_based.psds(
        dict(scores), ground_truth, dict(audio_durations), **PSDS1_ARGS
    )
    aurocs, _ = segment_based.auroc(
        dict(scores), ground_truth, dict(audio_durations), **PAUROC_ARGS
    )
    pauroc = aurocs.pop("mean")
    return SedMetrics(
        psds1=float(psds1),
        psds1_macro=float(np.mean(list(psds1_per_class.values()))),
        pauroc=float(pauroc),
        psds1_per_class={name: float(value) for name, value in psds1_per_class.items()},
        pauroc_per_class={name: float(value) for name, value in aurocs.items()},
    )


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
    return SedMetrics(
        psds1=float(intersection_based.psds_from_psd_roc(tpr, efpr, max_efpr)),
        psds1_macro=float(np.mean(list(per_class.values()))),
        pauroc=float(np.mean([aurocs[name] for name in aurocs])),
        psds1_per_class=per_class,
        pauroc_per_class={name: float(value) for name, value in aurocs.items()},
    )


def bootstrap_samples(clip_ids: Sequence[str], n_bootstrap: int, seed: int) -> Iterator[list[str]]:
    """Each replicate's clips: ``len(clip_ids)`` draws with replacement from the sorted ids."""
    ordered = sorted(clip_ids)
    rng = np.random.default_rng(seed)
    for _ in range(n_bootstrap):
        yield [ordered[index] for index in rng.integers(0, len(ordered), len(ordered))]


def resampled_ids(sample: Sequence[str]) -> list[str]:
    """Unique keys for a replicate's clips (a clip drawn twice must appear twice)."""
    return [f"{clip_id}#{position}" for position, clip_id in enumerate(sample)]


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


def _check_inputs(reader: ScoreReader, ground_truth: GroundTruth) -> list[str]:
    """The scored classes; every ground-truth clip needs scores, every labelled class a column.

    The ground truth's clips are the evaluated ones: all scored clips, or a subset of them
    (the authors keep only clips with an event of the evaluated set).
    """
    extra = sorted(ground_truth.keys() - set(reader.clip_ids))
    if extra:
        raise ValueError(
            f"{reader.path}: {len(extra)} ground-truth clips have no scores (e.g. {extra[:3]})"
        )
    classes = scored_classes(ground_truth, reader.class_names)
    labelled = {name for events in ground_truth.values() for _, _, name in events}
    unscored = sorted(labelled - set(classes))
    if unscored:
        raise ValueError(f"{reader.path} has no scores for ground-truth classes {unscored[:5]}")
    if not classes:
        raise ValueError("the ground truth has no event of any class in the score file")
    return classes


def _run(tasks: list[_Task], workers: int) -> Iterator[tuple[_ClassResults, list[_ClassResults]]]:
    """Results of the tasks in order; ``spawn`` workers, so no HDF5 handle or thread is forked."""
    if workers <= 1:
        yield from map(_evaluate_task, tasks)
        return
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=get_context("spawn")) as pool:
        yield from pool.map(_evaluate_task, tasks)


def sed_metrics(
    store_path: str | os.PathLike,
    ground_truth: GroundTruth,
    frames: FrameProtocol,
    workers: int = 1,
    classes_per_job: int | None = None,
    n_bootstrap: int = 0,
    seed: int = 0,
) -> tuple[SedMetrics, BootstrapResult | None]:
    """Metrics of a score file in memory bounded by ``classes_per_job`` classes per worker.

    The evaluated clips are those of ``ground_truth``; their durations are the score file's, and
    ``frames`` is the frame protocol (``scores.FRAME_PROTOCOLS``). ``classes_per_job`` defaults
    to the file's classes per chunk. With ``n_bootstrap > 0`` also a bootstrap over clips (see
    module doc).
    """
    with ScoreReader(store_path) as reader:
        classes = _check_inputs(reader, ground_truth)
        per_job = classes_per_job or reader.classes_per_chunk
        tasks = _tasks(str(reader.path), classes, ground_truth, frames, per_job, n_bootstrap, seed)
    full = _ClassResults()
    replicates = [_ClassResults() for _ in range(n_bootstrap)]
    for done, (task_full, task_replicates) in enumerate(_run(tasks, workers), start=1):
        full.update(task_full)
        for replicate, task_replicate in zip(replicates, task_replicates, strict=True):
            replicate.update(task_replicate)
        log.info("SED metrics: %d/%d class blocks done", done, len(tasks))
    ordered = full.ordered(classes)
    metrics = combine_classes(ordered.psd_rocs, ordered.aurocs)
    if not n_bootstrap:
        return metrics, None
    return metrics, _bootstrap_result(replicates, classes, seed)


def _bootstrap_result(
    replicates: list[_ClassResults], classes: Sequence[str], seed: int
) -> BootstrapResult:
    values: dict[str, list[float]] = {metric: [] for metric in METRICS}
    for replicate in replicates:
        ordered = replicate.ordered(classes)
        if not ordered.aurocs:
            raise ValueError("a bootstrap replicate drew no clip with ground truth: too few clips")
        replicate_metrics = combine_classes(ordered.psd_rocs, ordered.aurocs)
        for metric in METRICS:
            values[metric].append(getattr(replicate_metrics, metric))
    return BootstrapResult({metric: np.asarray(found) for metric, found in values.items()}, seed)
