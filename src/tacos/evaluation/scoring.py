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
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tacos.data.audioset import read_class_list
from tacos.data.manifest import Clip, read_manifest
from tacos.data.store import AudioStore
from tacos.evaluation.collapse import CollapseMeter, write_collapse
from tacos.evaluation.scores import ScoreWriter
from tacos.frames import frame_count, input_frames
from tacos.models.dual import AudioTextModel
from tacos.models.peers.base import PeerModel
from tacos.models.supervised import SupervisedSED, supervised_scores

log = logging.getLogger(__name__)


def padded_samples(longest: int, sample_rate: int, delta: float, min_seconds: float) -> int:
    """Input length of a batch: its longest clip, at least ``min_seconds``, in whole frames."""
    samples = max(longest, round(min_seconds * sample_rate))
    return round(input_frames(samples, sample_rate, delta) * sample_rate * delta)


def inference_precision(device: torch.device) -> AbstractContextManager:
    """bf16 autocast on CUDA (fp16 where bf16 is unsupported); full precision on the CPU."""
    if device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def embed_queries(model: AudioTextModel, queries: Sequence[str]) -> torch.Tensor:
    """Unit-norm query embeddings ``[K, D]`` in float32 (the text encoder preprocesses them)."""
    return model.embed_text(list(queries)).float()


@torch.no_grad()
def batch_frames(
    model: AudioTextModel, waveforms: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """Unit-norm frame embeddings ``[B, T, D]`` (float32) of padded waveforms ``[B, samples]``."""
    device = model_device(model)
    with inference_precision(device):
        frames, _, _ = model.embed_audio(waveforms.to(device), lengths.to(device))
    return frames.float()


def frame_scores(frames: torch.Tensor, text: torch.Tensor) -> np.ndarray:
    """Cosine scores ``[B, T, K]`` of frame embeddings against unit-norm query embeddings."""
    return torch.einsum("btd,kd->btk", frames, text.to(frames.device)).cpu().numpy()


def batch_frame_scores(
    model: AudioTextModel, waveforms: torch.Tensor, lengths: torch.Tensor, text: torch.Tensor
) -> np.ndarray:
    """Cosine frame scores ``[B, T, K]`` (float32) of padded waveforms ``[B, samples]``."""
    return frame_scores(batch_frames(model, waveforms, lengths), text)


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
    model: AudioTextModel,
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
    model: AudioTextModel,
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
    scorer = batch_scorer(model, targets)
    step = frame_step(model)
    meter = CollapseMeter(step)
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
            for clip, frames in zip(batch, output.frames, strict=True):
                meter.add(frames[: frame_count(clip.duration, step)].cpu().numpy())
            bar.update(len(batch))
    if collapse_path is not None:
        write_collapse(meter.result(), model_info or {}, collapse_path)
    for target in targets:
        log.info(
            "scored %d clips against %d queries into %s",
            len(present),
            len(target.queries),
            target.out_path,
        )
    return [ScoringRun(Path(target.out_path), len(present), missing) for target in targets]


def frame_step(model: torch.nn.Module) -> float:
    """Seconds per score frame: the dual encoder's delta, the others' frame step."""
    return model.delta if isinstance(model, AudioTextModel) else model.frame_step


@dataclass(frozen=True)
class BatchOutput:
    """One batch scored: per target, each clip's scores ``[T, K]``; each clip's frame
    embeddings ``[T, D]`` (all the frames the model gave, for the collapse diagnostic)."""

    scores: list[Sequence[np.ndarray]]
    frames: Sequence[torch.Tensor]


BatchScorer = Callable[[torch.Tensor, torch.Tensor], BatchOutput]
"""(padded waveforms, real lengths) -> the batch's ``BatchOutput``."""


def batch_scorer(model: torch.nn.Module, targets: Sequence[ScoreTarget]) -> BatchScorer:
    """The scores of one batch for every target: cosine frame scores of a dual encoder (each
    clip embedded once for all targets), a supervised model's post-processed logits, or a
    public model's own scores of each clip at its real length."""
    if isinstance(model, SupervisedSED):
        names = [target.query_set for target in targets]
        return partial(_supervised_batch, model, read_class_list("train"), names)
    texts = [embed_queries(model, target.queries) for target in targets]
    if isinstance(model, PeerModel):
        return partial(_peer_batch, model, texts)

    def dual(waveforms: torch.Tensor, lengths: torch.Tensor) -> BatchOutput:
        frames = batch_frames(model, waveforms, lengths)
        return BatchOutput([frame_scores(frames, text) for text in texts], frames)

    return dual


@torch.no_grad()
def _supervised_batch(
    model: SupervisedSED,
    classes: Sequence[str],
    query_sets: Sequence[str],
    waveforms: torch.Tensor,
    _: torch.Tensor,
) -> BatchOutput:
    """``classes``: the strong head's 447 class names, in its output order."""
    device = model_device(model)
    with inference_precision(device):
        frames = model.frames(waveforms.to(device))
        logits = model.strong_head(frames).float().cpu().numpy()
    scores = [
        np.stack([supervised_scores(clip, classes, name) for clip in logits]) for name in query_sets
    ]
    return BatchOutput(scores, frames.float())


def _peer_batch(
    model: PeerModel, texts: Sequence[torch.Tensor], waveforms: torch.Tensor, lengths: torch.Tensor
) -> BatchOutput:
    with inference_precision(model.device):
        frames = [
            model.clip_frames(wave[:length].numpy())
            for wave, length in zip(waveforms, lengths.tolist(), strict=True)
        ]
    scores = [[model.frame_scores(clip, text) for clip in frames] for text in texts]
    return BatchOutput(scores, frames)


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
