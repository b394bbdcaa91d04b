"""Inference: a model's frame embeddings and frame scores for batches of waveforms.

Used by the evaluation's scoring (``tacos.evaluation.scoring``), by detection (``tacos.detect``)
and for the public peers (``tacos.models.peers``). Every model kind answers the same call,
``batch_scorer``: the dual encoder (cosine of unit-norm frame and query embeddings), the
supervised strong head (its post-processed logits) and a peer (its own logits, each clip at its
real length). On CUDA, inference runs under bf16 autocast; scores come back in float32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from tacos.data.audioset import read_class_list
from tacos.frames import input_frames
from tacos.models.dual import AudioTextModel
from tacos.models.peers.base import PeerModel
from tacos.models.supervised import SupervisedSED, supervised_scores


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
def embed_queries(model: AudioTextModel | PeerModel, queries: Sequence[str]) -> torch.Tensor:
    """Query embeddings ``[K, D]`` in float32: unit-norm for a dual encoder (whose text encoder
    preprocesses them), in the form its scores take for a peer."""
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


def batch_scorer(
    model: torch.nn.Module, queries: Sequence[Sequence[str]], query_sets: Sequence[str | None]
) -> BatchScorer:
    """The scores of one batch for every query set (its ``queries``, and its name, by which a
    supervised model scores): cosine frame scores of a dual encoder (each clip embedded once for
    all sets), a supervised model's post-processed logits, or a public model's own scores of
    each clip at its real length."""
    if isinstance(model, SupervisedSED):
        return partial(_supervised_batch, model, read_class_list("train"), query_sets)
    texts = [embed_queries(model, set_queries) for set_queries in queries]
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
