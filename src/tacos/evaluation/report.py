"""The evaluation results JSON of one model and query set: PSDS1, pAUROC and their bootstrap.

Layout (keys in this order; values are fractions, the paper prints percentages)::

    {"model": {"stage", "delta", "seed", "checkpoint"}, "query_set", "n_clips",
     "n_clips_missing", "metrics": SedMetrics.to_dict(), "bootstrap": BootstrapResult.to_dict()
     or null, "notes": [...]}

``n_clips`` counts the clips in the score file. ``n_clips_missing`` counts the clips of the
AudioSet labels that were not scored: those the manifest's report skipped for missing or
unreadable audio, plus manifest clips without scores (undecodable in the audio store). Without
the manifest report only the latter are known, and a note says so.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from tacos.data.audioset import read_categories
from tacos.data.manifest import Clip, read_manifest
from tacos.evaluation.ground_truth import (
    GroundTruth,
    build_ground_truth,
    category_renaming,
    events_from_clips,
)
from tacos.evaluation.scores import ScoreReader
from tacos.evaluation.scoring import query_set
from tacos.evaluation.sed_metrics import sed_metrics

log = logging.getLogger(__name__)

MODEL_KEYS = ("stage", "delta", "seed", "checkpoint")
AUDIO_SKIPS = ("missing_audio", "unreadable_audio")  # the AudioSet reader's skip kinds
CONFIDENCE = 0.95
TRIM_NOTE = (
    "score frames past each clip's end are trimmed (they would count as false positives in PSDS)"
)


def ground_truth_for(clips: Sequence[Clip], query_set_name: str) -> GroundTruth:
    """Ground truth of the query set's classes; ``categories50`` pools the 117 AudioSet classes
    into their 50 categories."""
    class_names, _ = query_set(query_set_name)
    renaming = None
    if query_set_name == "categories50":
        renaming = category_renaming(read_categories()["category_to_audioset"])
    return build_ground_truth(events_from_clips(clips), class_names, renaming)


def skipped_audio(manifest_report: str | os.PathLike) -> int:
    """Clips the manifest's reader skipped because their audio was absent or unreadable."""
    skipped = json.loads(Path(manifest_report).read_text(encoding="utf-8"))["skipped"]
    return sum(int(skipped.get(kind, 0)) for kind in AUDIO_SKIPS)


def evaluate(
    score_path: str | os.PathLike,
    manifest: str | os.PathLike | Sequence[Clip],
    query_set_name: str,
    workers: int = 1,
    n_bootstrap: int = 0,
    seed: int = 0,
    model_info: Mapping | None = None,
    manifest_report: str | os.PathLike | None = None,
) -> dict:
    """PSDS1 and pAUROC of a score file against the manifest's labels, as the results dict.

    ``model_info`` needs exactly the keys ``MODEL_KEYS``; without it only ``delta`` (the score
    file's) is filled in.
    """
    clips = read_manifest(manifest) if isinstance(manifest, str | os.PathLike) else list(manifest)
    class_names, _ = query_set(query_set_name)
    with ScoreReader(score_path) as reader:
        _check_score_file(reader, class_names, query_set_name)
        delta, clips_short, scored_ids = reader.delta, reader.clips_short, set(reader.clip_ids)
    by_id = {clip.clip_id: clip for clip in clips}
    unknown = sorted(scored_ids - by_id.keys())
    if unknown:
        raise ValueError(f"{score_path} scores clips that are not in the manifest: {unknown[:3]}")
    scored = [clip for clip in clips if clip.clip_id in scored_ids]
    ground_truth = ground_truth_for(scored, query_set_name)
    metrics, bootstrap = sed_metrics(
        score_path, ground_truth, workers=workers, n_bootstrap=n_bootstrap, seed=seed
    )
    missing = len(clips) - len(scored)
    notes = [TRIM_NOTE]
    if manifest_report is not None:
        missing += skipped_audio(manifest_report)
    else:
        notes.append(
            "n_clips_missing counts only manifest clips without scores (no manifest "
            "report, so clips of the labels without audio are not counted)"
        )
    n_classes = len(metrics.psds1_per_class)
    if n_classes < len(class_names):
        notes.append(
            f"{n_classes} of the {len(class_names)} classes have "
            "ground-truth events among the scored clips; only those are scored"
        )
    if clips_short:
        notes.append(f"{clips_short} clips have fewer score frames than their duration holds")
    return {
        "model": _model_block(model_info, delta),
        "query_set": query_set_name,
        "n_clips": len(scored),
        "n_clips_missing": missing,
        "metrics": metrics.to_dict(),
        "bootstrap": bootstrap.to_dict(CONFIDENCE) if bootstrap is not None else None,
        "notes": notes,
    }


def write_results(results: Mapping, path: str | os.PathLike) -> Path:
    """Write the results JSON atomically (a crash never leaves a half file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def _check_score_file(reader: ScoreReader, class_names: Sequence[str], name: str) -> None:
    if reader.class_names != list(class_names):
        raise ValueError(
            f"{reader.path} holds scores of {len(reader.class_names)} classes that are not the "
            f"query set {name!r} ({len(class_names)} classes); score with that query set"
        )


def _model_block(model_info: Mapping | None, delta: float) -> dict:
    if model_info is None:
        return {"stage": None, "delta": delta, "seed": None, "checkpoint": None}
    if set(model_info) != set(MODEL_KEYS):
        raise ValueError(
            f"model_info needs exactly the keys {MODEL_KEYS}, got {sorted(model_info)}"
        )
    return {key: model_info[key] for key in MODEL_KEYS}
