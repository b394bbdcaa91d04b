"""The LightningModule of every training stage: pretraining and weak or strong fine-tuning.

The loss is ``weights.global * global InfoNCE + weights.frame * frame-wise loss``
(docs/protocol.md, section 5); the stages differ only in their data (Clotho, TACOS weak
captions, TACOS strong regions) and their weights. Validation computes Clotho text-to-audio
retrieval (``val/mAP@10``, which picks the best checkpoint when the best rather than the last
epoch is evaluated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightning as L
import torch
from torch import nn

from tacos.losses import frame_contrastive_loss, global_contrastive_loss, regions_to_frames
from tacos.models.checkpoint import MODEL_SPEC_KEY, ModelSpec
from tacos.training.data import Batch
from tacos.training.distributed import (
    gather_negatives,
    gather_rows,
    global_batch_share,
    is_distributed,
)
from tacos.training.retrieval import retrieval_metrics


@dataclass(frozen=True)
class LossConfig:
    global_weight: float = 1.0
    frame_weight: float = 0.0
    tau: float = 0.05  # global InfoNCE temperature (fixed, docs/protocol.md section 5)
    tau_frame: float = 1.0  # frame-wise temperature (the authors' default)
    intra_clip_negatives: bool = False

    @property
    def frame_level(self) -> bool:
        return self.frame_weight > 0


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-5
    min_lr: float = 1e-7
    weight_decay: float = 0.0
    warmup_epochs: float = 1.0
    cosine_epochs: float = 15.0


def lr_factor(step: int, steps_per_epoch: int, optim: OptimConfig) -> float:
    """The authors' per-step schedule, as a factor of the peak ``lr``.

    Linear warm-up from ``min_lr`` to the peak over ``warmup_epochs``, then cosine down to
    ``min_lr`` over the next ``cosine_epochs`` (their ``rampdown_epochs``: 1 + 15 ends after
    epoch 16), then flat at ``min_lr``.
    """
    floor = optim.min_lr / optim.lr
    warmup = optim.warmup_epochs * steps_per_epoch
    if step < warmup:
        return floor + (1 - floor) * step / warmup
    decay = max(optim.cosine_epochs * steps_per_epoch, 1)
    progress = min((step - warmup) / decay, 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class SpecModule(L.LightningModule):
    """What every training stage shares: the model with its spec (saved in each checkpoint),
    AdamW with the authors' schedule, and per-epoch seeding for exact resumes."""

    def __init__(self, model: nn.Module, optim: OptimConfig, spec: ModelSpec) -> None:
        super().__init__()
        self.model = model
        self.spec = spec
        self.seed = spec.seed
        self.optim = optim

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Keep the model's spec in every checkpoint, so a checkpoint alone rebuilds it."""
        checkpoint[MODEL_SPEC_KEY] = self.spec.to_dict()

    def on_train_epoch_start(self) -> None:
        """Seed dropout and other model randomness from the epoch, so a resumed run repeats it."""
        torch.manual_seed(self.seed * 100_003 + self.current_epoch)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.optim.lr, weight_decay=self.optim.weight_decay
        )
        # Optimiser steps per epoch as this process takes them (under DDP: its share of the
        # batches; with limit_train_batches: the limit), known once the trainer is attached.
        steps_per_epoch = math.ceil(
            self.trainer.estimated_stepping_batches / self.trainer.max_epochs
        )
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: lr_factor(step, steps_per_epoch, self.optim)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class TacosModule(SpecModule):
    """Wraps an ``AudioTextModel`` with its losses and its Clotho retrieval validation."""

    def __init__(
        self,
        model: nn.Module,
        loss: LossConfig,
        optim: OptimConfig,
        spec: ModelSpec,
    ) -> None:
        super().__init__(model, optim, spec)
        self.loss = loss
        self._val_audio: list[torch.Tensor] = []
        self._val_text: list[torch.Tensor] = []
        self._val_caption_clip: list[torch.Tensor] = []

    def training_step(self, batch: Batch, batch_index: int) -> torch.Tensor:
        frames, frame_mask, clip = self.model.embed_audio(batch.waveforms, batch.lengths)
        total = frames.new_zeros(())
        if self.loss.global_weight > 0:
            if len(batch.captions) != len(batch.clip_ids):
                raise ValueError("the clip-level loss needs one caption for every clip")
            text = self.model.embed_text(batch.captions)
            value = self.global_loss(clip, text)
            self.log("train/global_loss", value, batch_size=len(batch.clip_ids))
            total = total + self.loss.global_weight * value
        if self.loss.frame_level:
            value = self.frame_loss(batch, frames, frame_mask)
            self.log("train/frame_loss", value, batch_size=len(batch.clip_ids))
            total = total + self.loss.frame_weight * value
        self.log("train/loss", total, prog_bar=True, batch_size=len(batch.clip_ids))
        return total

    def global_loss(self, clip: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Clip-level InfoNCE; under DDP over the pairs of the whole global batch."""
        if not is_distributed():
            return global_contrastive_loss(clip, text, self.loss.tau)
        all_clip, counts = gather_rows(clip)
        all_text, _ = gather_rows(text)
        offset = sum(counts[: torch.distributed.get_rank()])
        value = global_contrastive_loss(
            clip, text, self.loss.tau, all_audio=all_clip, all_text=all_text, offset=offset
        )
        return global_batch_share(value, len(clip))

    def frame_loss(
        self, batch: Batch, frames: torch.Tensor, frame_mask: torch.Tensor
    ) -> torch.Tensor:
        """Eq. 6 over the batch's regions, mapped to the model's frames of ``delta`` seconds;
        under DDP the negatives are the captions of the whole global batch, and the mean is over
        its regions."""
        real_frames = frame_mask.sum(dim=1)[batch.region_clip]
        start, end = regions_to_frames(
            batch.region_onset, batch.region_offset, self.model.delta, real_frames
        )
        text = self.model.embed_text(batch.region_texts)
        negatives = {}
        if is_distributed():
            negative_text, negative_clip, negative_groups = gather_negatives(
                text,
                batch.region_clip.to(text.device),
                batch.region_groups.to(text.device),
                len(frames),
            )
            negatives = {
                "negative_text": negative_text,
                "negative_clip": negative_clip,
                "negative_groups": negative_groups,
            }
        value = frame_contrastive_loss(
            frames,
            text,
            batch.region_clip,
            start.to(frames.device),
            end.to(frames.device),
            tau=self.loss.tau_frame,
            text_groups=batch.region_groups,
            intra_clip_negatives=self.loss.intra_clip_negatives,
            **negatives,
        )
        return global_batch_share(value, len(text)) if negatives else value

    def validation_step(self, batch: Batch, batch_index: int) -> None:
        """Collect clip embeddings and the embeddings of all captions of each clip."""
        _, _, clip = self.model.embed_audio(batch.waveforms, batch.lengths)
        offset = sum(len(chunk) for chunk in self._val_audio)
        self._val_audio.append(clip.float())
        self._val_text.append(self.model.embed_text(batch.captions).float())
        self._val_caption_clip.append(batch.caption_clip.to(clip.device) + offset)

    def on_validation_epoch_end(self) -> None:
        if not self._val_audio:
            return
        audio = torch.cat(self._val_audio)
        text = torch.cat(self._val_text)
        caption_clip = torch.cat(self._val_caption_clip)
        similarity = (text @ audio.T).cpu().numpy()
        metrics = retrieval_metrics(similarity, caption_clip.cpu().numpy())
        for name, value in metrics.items():
            # Every DDP process ranks the whole validation set, so all hold the same value and
            # the synchronised mean is that value.
            self.log(f"val/{name}", value, prog_bar=name == "mAP@10", sync_dist=True)
        self._val_audio.clear()
        self._val_text.clear()
        self._val_caption_clip.clear()
