"""Frame scores of a trained model on the AudioSet Strong eval clips, for text-based SED.

Score of query ``k`` in frame ``t`` of a clip = cosine(audio frame ``t``, text embedding of
query ``k``) (docs/protocol.md, section 6): both towers give unit-norm embeddings, so it is a
dot product. No sigmoid, no median filter. Scores are written with ``ScoreWriter``, every frame
of the input (the frame protocol is applied when the file is read).

Padding rule: every batch is zero-padded to its longest clip, but to at least ``min_seconds`` (the
input length the model was trained on, from its spec: 30 s for the paper, as the authors score their
padded 30 s input), and up to a whole number of frames. AudioSet clips last at most 10 s, so every
clip is embedded as one input of ``min_seconds`` whatever its batch: the BiGRU runs over the padding
(dual.py), and a batch-dependent length would make a clip's scores depend on its neighbours and on
the batch size. Only a clip longer than ``min_seconds`` sees a batch-dependent length.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from tacos.data.manifest import Clip, read_manifest
from tacos.data.store import AudioStore
from tacos.evaluation.collapse import CollapseMeter, write_collapse
from tacos.evaluation.scores import ScoreWriter
from tacos.frames import frame_count
from tacos.inference import batch_scorer, frame_step, padded_samples

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoringRun:
    """What ``score_clips`` wrote: the score file, the clips scored, the clips without audio."""

    path: Path
    n_scored: int
    missing_clip_ids: tuple[str, ...]


@dataclass(frozen=True)
class ScoreTarget:
    """One query set to score: its class names, their text queries and the score file."""

    class_names: Sequence[str]
    queries: Sequence[str]
    out_path: str | os.PathLike
    query_set: str | None = None  # its name; a supervised model scores by name, not by text


def score_clips(
    model: torch.nn.Module,
    manifest: str | os.PathLike | Sequence[Clip],
    store: str | os.PathLike | AudioStore,
    class_names: Sequence[str],
    queries: Sequence[str],
    out_path: str | os.PathLike,
    min_seconds: float,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
    model_info: Mapping | None = None,
) -> ScoringRun:
    """Score every manifest clip found in the audio store against the queries; write a score
    file. ``device`` defaults to where the model is; clips absent from the store are skipped
    and returned (the store's build report says why)."""
    target = ScoreTarget(class_names, queries, out_path)
    return score_query_sets(
        model, manifest, store, [target], min_seconds, batch_size, device, progress, model_info
    )[0]


def score_query_sets(
    model: torch.nn.Module,
    manifest: str | os.PathLike | Sequence[Clip],
    store: str | os.PathLike | AudioStore,
    targets: Sequence[ScoreTarget],
    min_seconds: float,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
    model_info: Mapping | None = None,
    collapse_path: str | os.PathLike | None = None,
) -> list[ScoringRun]:
    """``score_clips`` for several query sets at once: each clip is embedded once and scored
    against every set, each set written to its own score file. ``model_info`` (the model's
    ``ModelSpec.identity``) is stored in each file; with ``collapse_path``, the frame-collapse
    diagnostic of the clips' frames (``tacos.evaluation.collapse``) is written there."""
    for target in targets:
        if len(target.class_names) != len(target.queries):
            raise ValueError(
                f"{len(target.class_names)} class names but {len(target.queries)} queries"
            )
    clips = read_manifest(manifest) if isinstance(manifest, str | os.PathLike) else list(manifest)
    store = store if isinstance(store, AudioStore) else AudioStore(store)
    if store.sample_rate != model.sample_rate:
        raise ValueError(
            f"audio store {store.path} holds {store.sample_rate} Hz audio but the model takes "
            f"{model.sample_rate} Hz; build the store at the model's sample rate"
        )
    if device is not None:
        model.to(device)
    model.eval()
    present = [clip for clip in clips if clip.clip_id in store]
    missing = tuple(clip.clip_id for clip in clips if clip.clip_id not in store)
    if missing:
        log.warning(
            "%d clips of the manifest are not in %s, e.g. %s",
            len(missing),
            store.path,
            list(missing[:3]),
        )
    scorer = batch_scorer(
        model, [target.queries for target in targets], [target.query_set for target in targets]
    )
    step = frame_step(model)
    meter = CollapseMeter(step) if collapse_path is not None else None
    with ExitStack() as stack:
        writers = [
            stack.enter_context(
                ScoreWriter(target.out_path, target.class_names, step, model_info=model_info)
            )
            for target in targets
        ]
        bar = stack.enter_context(
            tqdm(total=len(present), unit="clip", disable=not progress, desc="scoring")
        )
        for start in range(0, len(present), batch_size):
            batch = present[start : start + batch_size]
            waveforms, lengths = _padded_batch(batch, store, model, min_seconds)
            output = scorer(waveforms, lengths)
            for writer, scores in zip(writers, output.scores, strict=True):
                for clip, clip_scores in zip(batch, scores, strict=True):
                    writer.add(clip.clip_id, clip_scores, clip.duration)
            if meter is not None:
                for clip, frames in zip(batch, output.frames, strict=True):
                    meter.add(frames[: frame_count(clip.duration, step)].cpu().numpy())
            bar.update(len(batch))
    if meter is not None:
        write_collapse(meter.result(), model_info or {}, collapse_path)
    for target in targets:
        log.info(
            "scored %d clips against %d queries into %s",
            len(present),
            len(target.queries),
            target.out_path,
        )
    return [ScoringRun(Path(target.out_path), len(present), missing) for target in targets]


def _padded_batch(
    batch: Sequence[Clip], store: AudioStore, model: torch.nn.Module, min_seconds: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Waveforms ``[B, samples]`` zero-padded by the module's rule, and their real lengths."""
    waves = [store.read(clip.clip_id) for clip in batch]
    lengths = torch.tensor([len(wave) for wave in waves], dtype=torch.long)
    samples = padded_samples(int(lengths.max()), model.sample_rate, frame_step(model), min_seconds)
    padded = torch.zeros((len(waves), samples), dtype=torch.float32)
    for row, wave in enumerate(waves):
        padded[row, : len(wave)] = torch.from_numpy(wave)
    return padded, lengths
