"""What the SED metrics are and what they return: the authors' sed_scores_eval 0.0.4 arguments,
the result types, the bootstrap draws and the input checks, shared by both engines.

- PSDS1: ``intersection_based.psds(..., dtc_threshold=0.7, gtc_threshold=0.7,
  cttc_threshold=None, alpha_ct=0, alpha_st=1, max_efpr=100)``, with per-class PSDS and their
  mean ("psds1 macro", the value PSDS takes with ``alpha_st=0``).
- pAUROC: ``segment_based.auroc(..., max_fpr=0.1, segment_length=1.0)[0]["mean"]``, with the
  per-class values. Segment-based, normalised by max_fpr, no McClish correction: chance is about
  0.05, an oracle 1.0.

Bootstrap: each replicate draws as many clips as the set has, with replacement (seeded), from
the sorted clip ids; a clip drawn twice counts twice. A replicate scores the classes that have
ground truth among its clips (the rule of ``ground_truth.scored_classes``). sed_scores_eval
0.0.4's ``bootstrapped_psds`` is a 5-fold subsampling instead, not a bootstrap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tacos.evaluation.ground_truth import GroundTruth, scored_classes
from tacos.evaluation.scores import FrameProtocol, ScoreReader

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
NO_SCORED_CLASS = "a bootstrap replicate drew no clip with ground truth: too few clips"


@dataclass(frozen=True)
class MetricsRequest:
    """What an engine evaluates: a score file against the ground truth of the evaluated clips,
    under a frame protocol; ``classes_per_job`` classes a worker read (default: the file's chunk),
    and ``n_bootstrap`` replicates drawn with ``seed``."""

    store_path: str
    ground_truth: GroundTruth
    frames: FrameProtocol
    workers: int = 1
    classes_per_job: int | None = None
    n_bootstrap: int = 0
    seed: int = 0


@dataclass(frozen=True)
class SedMetrics:
    """PSDS1, its macro mean and pAUROC, overall and per scored class (fractions, not %)."""

    psds1: float
    psds1_macro: float
    pauroc: float
    psds1_per_class: dict[str, float]
    pauroc_per_class: dict[str, float]

    @classmethod
    def of_classes(
        cls,
        psds1: float,
        psds1_per_class: Mapping[str, float],
        pauroc_per_class: Mapping[str, float],
    ) -> SedMetrics:
        """The overall PSDS1 with the per-class values; psds1 macro and pAUROC are their means."""
        psds = {name: float(value) for name, value in psds1_per_class.items()}
        pauroc = {name: float(value) for name, value in pauroc_per_class.items()}
        return cls(
            psds1=float(psds1),
            psds1_macro=float(np.mean(list(psds.values()))),
            pauroc=float(np.mean(list(pauroc.values()))),
            psds1_per_class=psds,
            pauroc_per_class=pauroc,
        )

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

    @classmethod
    def of_replicates(cls, replicates: Iterable[SedMetrics], seed: int) -> BootstrapResult:
        """The metrics of each replicate, in draw order."""
        values: dict[str, list[float]] = {metric: [] for metric in METRICS}
        for replicate in replicates:
            for metric in METRICS:
                values[metric].append(getattr(replicate, metric))
        return cls({metric: np.asarray(found) for metric, found in values.items()}, seed)

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


def bootstrap_draws(n_clips: int, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Each replicate's ``n_clips`` draws with replacement, as positions in the sorted ids."""
    rng = np.random.default_rng(seed)
    for _ in range(n_bootstrap):
        yield rng.integers(0, n_clips, n_clips)


def bootstrap_samples(clip_ids: Sequence[str], n_bootstrap: int, seed: int) -> Iterator[list[str]]:
    """Each replicate's clips: ``len(clip_ids)`` draws with replacement from the sorted ids."""
    ordered = sorted(clip_ids)
    for draws in bootstrap_draws(len(ordered), n_bootstrap, seed):
        yield [ordered[index] for index in draws]


def resampled_ids(sample: Sequence[str]) -> list[str]:
    """Unique keys for a replicate's clips (a clip drawn twice must appear twice)."""
    return [f"{clip_id}#{position}" for position, clip_id in enumerate(sample)]


def check_inputs(reader: ScoreReader, ground_truth: GroundTruth) -> list[str]:
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
