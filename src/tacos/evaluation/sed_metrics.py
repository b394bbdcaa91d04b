"""PSDS1 and pAUROC of text-based SED from a score file, exactly as the authors call sed_scores_eval
0.0.4 (the arguments and result types: ``metric_results``).

Two engines give the same numbers (``evaluation.engine`` in the config):

- ``fast`` (default, ``fast_engine``): the library's arithmetic re-implemented, compiled with
  numba, so that a bootstrap replicate costs milliseconds; equal to the library bit for bit in
  the per-class values, pAUROC and the macro PSDS, and within 1e-12 in PSDS1 (``curves``).
- ``library`` (``library_engine``): the library's own public functions, class block by class
  block; the reference, and the switch back if the fast engine is ever in doubt.

``sed_metrics_plain`` is the single library call on in-memory score DataFrames, which at the
real eval size needs about 75 GB; the tests compare both engines with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sed_scores_eval import intersection_based, segment_based

from tacos.evaluation.fast_engine import fast_sed_metrics
from tacos.evaluation.ground_truth import GroundTruth
from tacos.evaluation.library_engine import library_sed_metrics
from tacos.evaluation.metric_results import (
    PAUROC_ARGS,
    PSDS1_ARGS,
    BootstrapResult,
    MetricsRequest,
    SedMetrics,
)
from tacos.evaluation.scores import FrameProtocol, check_frame_protocol

ENGINES = ("fast", "library")


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


def sed_metrics(
    store_path: str | os.PathLike,
    ground_truth: GroundTruth,
    frames: FrameProtocol,
    workers: int = 1,
    classes_per_job: int | None = None,
    n_bootstrap: int = 0,
    seed: int = 0,
    engine: str = "fast",
) -> tuple[SedMetrics, BootstrapResult | None]:
    """Metrics of a score file, and with ``n_bootstrap > 0`` their bootstrap over clips.

    The evaluated clips are those of ``ground_truth``; their durations are the score file's, and
    ``frames`` is the frame protocol (``scores.FRAME_PROTOCOLS``). Workers read
    ``classes_per_job`` classes at a time (default: the file's classes per chunk).
    """
    check_frame_protocol(frames)
    if engine not in ENGINES:
        raise ValueError(f"evaluation engine must be one of {ENGINES}, got {engine!r}")
    run = fast_sed_metrics if engine == "fast" else library_sed_metrics
    request = MetricsRequest(
        str(store_path), ground_truth, frames, workers, classes_per_job, n_bootstrap, seed
    )
    return run(request)
