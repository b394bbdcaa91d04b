"""Supervised SED training of an audio encoder with a strong head on AudioSet Strong labels.

The paper's audio encoder starts from ``ASIT_strong_1``, which PretrainedSED trained this way on
AudioSet Strong; the demo does the same for its CNN on the demo's AudioSet Strong training split
before Clotho pretraining, so that its pipeline mirrors the paper's, and the trained model is
Table 3's supervised row. Loss: binary cross-entropy of the strong head's frame logits against
frame targets (frame ``t`` of class ``k`` is 1 when an event of ``k`` covers it, on the frame
grid of ``tacos.frames``), over the 447 classes of the head. Most targets are 0, so the head's
biases start at the logit of a small prior (``PRIOR``, as in RetinaNet): otherwise the first
hundreds of steps only learn that every class is mostly absent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F

from tacos.data.audioset import read_class_list
from tacos.losses import regions_to_frames
from tacos.models.checkpoint import ModelSpec
from tacos.models.supervised import SupervisedSED, build_supervised
from tacos.training.data import Batch
from tacos.training.module import OptimConfig, SpecModule
from tacos.training.run import SplitData, TrainingConfig, fit, loader, run_settings

PRIOR = 0.01


def frame_targets(batch: Batch, n_frames: int, step: float, classes: Sequence[str]) -> torch.Tensor:
    """Multi-hot frame targets ``[B, n_frames, len(classes)]`` of a batch's regions.

    A region's text is its AudioSet display name; one that names no class of the head is an
    error (the demo's events are all among the 447 classes).
    """
    column = {name: index for index, name in enumerate(classes)}
    unknown = sorted({text for text in batch.region_texts if text not in column})
    if unknown:
        raise ValueError(f"regions of classes the strong head lacks: {unknown[:5]}")
    targets = torch.zeros((len(batch.clip_ids), n_frames, len(classes)))
    if not batch.region_texts:
        return targets
    start, end = regions_to_frames(batch.region_onset, batch.region_offset, step, n_frames)
    for clip, first, last, text in zip(
        batch.region_clip.tolist(), start.tolist(), end.tolist(), batch.region_texts, strict=True
    ):
        targets[clip, first:last, column[text]] = 1.0
    return targets


class SupervisedModule(SpecModule):
    """A ``SupervisedSED`` trained on frame targets with binary cross-entropy."""

    def __init__(self, model: SupervisedSED, optim: OptimConfig, spec: ModelSpec) -> None:
        super().__init__(model, optim, spec)
        self.classes = read_class_list("train")
        torch.nn.init.constant_(model.strong_head.bias, math.log(PRIOR / (1 - PRIOR)))

    def training_step(self, batch: Batch, batch_index: int) -> torch.Tensor:
        logits = self.model(batch.waveforms)
        targets = frame_targets(batch, logits.shape[1], self.model.frame_step, self.classes)
        loss = F.binary_cross_entropy_with_logits(logits.float(), targets.to(logits.device))
        self.log("train/bce_loss", loss, prog_bar=True, batch_size=len(batch.clip_ids))
        return loss


def train_supervised(
    spec: ModelSpec,
    training: TrainingConfig,
    optim: OptimConfig,
    train_data: SplitData,
    out_dir: str | os.PathLike,
    callbacks: Sequence[L.Callback] = (),
) -> Path:
    """Train the supervised model of ``spec`` on a labelled split; returns the evaluated
    checkpoint (the last epoch: there is no validation split)."""
    L.seed_everything(spec.seed, workers=True)
    module = SupervisedModule(build_supervised(spec.build), optim, spec)
    train_loader = loader(train_data, training, spec.seed, "frame", shuffle=True)
    settings = run_settings(spec, training, optim, train_data=asdict(train_data))
    return fit(module, training, train_loader, None, out_dir, settings, callbacks)
