"""Frame scores of a trained model on the AudioSet Strong eval clips, for text-based SED.

Score of query ``k`` in frame ``t`` of a clip = cosine(audio frame ``t``, text embedding of
query ``k``) (DESIGN 6): both towers give unit-norm embeddings, so it is a dot product. No
sigmoid, no median filter. Scores are written with ``ScoreWriter``, which trims frames that
start after the clip's end.

Padding rule: every batch is zero-padded to its longest clip, but to at least ``min_seconds``
(default 10 s, the AudioSet clip length; the workflow passes the training input length), and up
to a whole number of frames. AudioSet clips last at most 10 s, so every clip is embedded as one
input of ``min_seconds`` whatever its batch: the BiGRU runs over the padding (dual.py), and a
batch-dependent length would make a clip's scores depend on its neighbours and on the batch
size. Only a clip longer than ``min_seconds`` sees a batch-dependent length.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tacos.data.audioset import read_categories, read_class_list
from tacos.data.manifest import Clip, read_manifest
from tacos.data.store import AudioStore
from tacos.evaluation.scores import ScoreWriter
from tacos.models.dual import AudioTextModel

log = logging.getLogger(__name__)

QUERY_SETS = ("classes407", "categories50")
MIN_SECONDS = 10.0


def query_set(name: str) -> tuple[list[str], list[str]]:
    """Class names and their text queries: ``classes407`` (each display name queried by itself)
    or ``categories50`` (each category queried by its sentence, e.g. "A dog is barking.")."""
    if name == "classes407":
        names = read_class_list("eval_train")
        return names, list(names)
    if name == "categories50":
        sentences = read_categories()["category_to_sentence"]
        return list(sentences), list(sentences.values())
    raise ValueError(f"unknown query set {name!r}; choose one of {QUERY_SETS}")


def padded_samples(longest: int, sample_rate: int, delta: float, min_seconds: float) -> int:
    """Input length of a batch: its longest clip, at least ``min_seconds``, in whole frames."""
    frame = sample_rate * delta
    samples = max(longest, round(min_seconds * sample_rate))
    return round(math.ceil(round(samples / frame, 6)) * frame)


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


def score_clips(
    model: AudioTextModel,
    manifest: str | os.PathLike | Sequence[Clip],
    store: str | os.PathLike | AudioStore,
    class_names: Sequence[str],
    queries: Sequence[str],
    out_path: str | os.PathLike,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
    min_seconds: float = MIN_SECONDS,
) -> ScoringRun:
    """Score every manifest clip found in the audio store against the queries; write a score
    file. ``device`` defaults to where the model is; clips absent from the store are skipped
    and returned (the store's build report says why)."""
    target = ScoreTarget(class_names, queries, out_path)
    return score_query_sets(
        model, manifest, store, [target], batch_size, device, progress, min_seconds
    )[0]


def score_query_sets(
    model: AudioTextModel,
    manifest: str | os.PathLike | Sequence[Clip],
    store: str | os.PathLike | AudioStore,
    targets: Sequence[ScoreTarget],
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
    min_seconds: float = MIN_SECONDS,
) -> list[ScoringRun]:
    """``score_clips`` for several query sets at once: each clip is embedded once and scored
    against every set, each set written to its own score file."""
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
    texts = [embed_queries(model, target.queries) for target in targets]
    with ExitStack() as stack:
        writers = [
            stack.enter_context(ScoreWriter(target.out_path, target.class_names, delta=model.delta))
            for target in targets
        ]
        bar = stack.enter_context(
            tqdm(total=len(present), unit="clip", disable=not progress, desc="scoring")
        )
        for start in range(0, len(present), batch_size):
            batch = present[start : start + batch_size]
            waveforms, lengths = _padded_batch(batch, store, model, min_seconds)
            frames = batch_frames(model, waveforms, lengths)
            for writer, text in zip(writers, texts, strict=True):
                for clip, clip_scores in zip(batch, frame_scores(frames, text), strict=True):
                    writer.add(clip.clip_id, clip_scores, clip.duration)
            bar.update(len(batch))
    for target in targets:
        log.info(
            "scored %d clips against %d queries into %s",
            len(present),
            len(target.queries),
            target.out_path,
        )
    return [ScoringRun(Path(target.out_path), len(present), missing) for target in targets]


def _padded_batch(
    batch: Sequence[Clip], store: AudioStore, model: AudioTextModel, min_seconds: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Waveforms ``[B, samples]`` zero-padded by the module's rule, and their real lengths."""
    waves = [store.read(clip.clip_id) for clip in batch]
    lengths = torch.tensor([len(wave) for wave in waves], dtype=torch.long)
    samples = padded_samples(int(lengths.max()), model.sample_rate, model.delta, min_seconds)
    padded = torch.zeros((len(waves), samples), dtype=torch.float32)
    for row, wave in enumerate(waves):
        padded[row, : len(wave)] = torch.from_numpy(wave)
    return padded, lengths
