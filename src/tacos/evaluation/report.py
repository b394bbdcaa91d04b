"""The evaluation results JSON of one model, query set and frame protocol: PSDS1, pAUROC and
their bootstrap.

Layout (keys in this order; values are fractions, the paper prints percentages)::

    {"model": {"stage", "delta", "seed", "checkpoint"}, "query_set", "protocol": {...},
     "n_clips", "n_clips_without_events", "n_clips_missing", "metrics": SedMetrics.to_dict(),
     "bootstrap": BootstrapResult.to_dict() or null, "notes": [...]}

``model`` is the scored model's identity as its checkpoint states it (the score file carries
it). ``protocol`` records every choice that produced the numbers: the training-side ones from
the checkpoint (evaluated weights, Clotho items, TACOS split) and the evaluation's own (frame
protocol, clip set, scores, median filter).

``n_clips`` counts the evaluated clips. ``n_clips_without_events`` counts the scored clips left
out because none of their events is of the evaluated set (clip set ``with_events``, the
authors'); 0 with ``all``. ``n_clips_missing`` counts the clips of the AudioSet labels that were
not scored: those the manifest's report skipped for missing or unreadable audio, plus manifest
clips without scores (undecodable in the audio store). Without the manifest report only the
latter are known, and a note says so.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from tacos.data.audioset import query_set, read_categories
from tacos.data.manifest import Clip, read_manifest
from tacos.evaluation.ground_truth import (
    GroundTruth,
    build_ground_truth,
    category_renaming,
    events_from_clips,
)
from tacos.evaluation.scores import FrameProtocol, ScoreReader, check_frame_protocol
from tacos.evaluation.sed_metrics import sed_metrics

log = logging.getLogger(__name__)

MODEL_KEYS = ("stage", "delta", "seed", "checkpoint")
AUDIO_SKIPS = ("missing_audio", "unreadable_audio")  # the AudioSet reader's skip kinds
CONFIDENCE = 0.95
CLIP_SETS = ("with_events", "all")
FRAME_NOTES = {
    "trimmed": "score frames past each clip's end are trimmed (corrected protocol)",
    "untrimmed": (
        "every frame of the model's padded input is scored against the clip's real duration "
        "(the authors' protocol): frames past the end count as false positives in PSDS"
    ),
}


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
    frames: FrameProtocol,
    clips: str = "with_events",
    workers: int = 1,
    n_bootstrap: int = 0,
    seed: int = 0,
    manifest_report: str | os.PathLike | None = None,
    engine: str = "fast",
) -> dict:
    """PSDS1 and pAUROC of a score file against the manifest's labels, as the results dict.

    ``frames`` is the frame protocol (``untrimmed``: the authors', ``trimmed``: corrected);
    ``clips`` the clip set (``with_events``: the authors', only clips with an event of the
    query set; ``all``: every scored clip).
    """
    check_frame_protocol(frames)
    if clips not in CLIP_SETS:
        raise ValueError(f"clip set must be one of {CLIP_SETS}, got {clips!r}")
    manifest_clips = (
        read_manifest(manifest) if isinstance(manifest, str | os.PathLike) else list(manifest)
    )
    class_names, _ = query_set(query_set_name)
    with ScoreReader(score_path) as reader:
        _check_score_file(reader, class_names, query_set_name)
        delta, clips_short, scored_ids = reader.delta, reader.clips_short, set(reader.clip_ids)
        model_info = reader.model_info
    by_id = {clip.clip_id: clip for clip in manifest_clips}
    unknown = sorted(scored_ids - by_id.keys())
    if unknown:
        raise ValueError(f"{score_path} scores clips that are not in the manifest: {unknown[:3]}")
    scored = [clip for clip in manifest_clips if clip.clip_id in scored_ids]
    ground_truth = ground_truth_for(scored, query_set_name)
    without_events = [clip_id for clip_id, events in ground_truth.items() if not events]
    if clips == "with_events":
        ground_truth = {clip_id: events for clip_id, events in ground_truth.items() if events}
    metrics, bootstrap = sed_metrics(
        score_path,
        ground_truth,
        frames,
        workers=workers,
        n_bootstrap=n_bootstrap,
        seed=seed,
        engine=engine,
    )
    missing = len(manifest_clips) - len(scored)
    notes = [FRAME_NOTES[frames]]
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
        "model": _model_block(model_info, delta, score_path),
        "query_set": query_set_name,
        "protocol": {
            **model_info.get("protocol", {}),
            "frames": frames,
            "clips": clips,
            "engine": engine,
        },
        "n_clips": len(ground_truth),
        "n_clips_without_events": len(without_events) if clips == "with_events" else 0,
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


def _model_block(model_info: Mapping, delta: float, score_path: str | os.PathLike) -> dict:
    """Stage, delta, seed and checkpoint of the scored model, as its score file states them."""
    missing = [key for key in MODEL_KEYS if key not in model_info]
    if missing:
        raise ValueError(
            f"{score_path} does not say which model it scores (no {missing} in its 'model' "
            "attribute); score it again with the score rule"
        )
    if model_info["delta"] != delta:
        raise ValueError(
            f"{score_path}: frame step {delta} s but the model's is {model_info['delta']} s"
        )
    return {key: model_info[key] for key in MODEL_KEYS}
