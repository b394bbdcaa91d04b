"""What the scoring path needs from a public audio-text model: ``PeerModel``.

A peer embeds the queries once, then each clip on its own at its real length (no padding to a
batch or to a training length, so a clip's scores never depend on its neighbours), and scores
the clip's frames with the model's own similarity (its logits, in the form it was trained with).
Its frame ``t`` covers ``[t * frame_step, (t + 1) * frame_step)`` (``tacos.frames``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn


class PeerModel(nn.Module, ABC):
    """A public checkpoint behind the scoring interface; subclasses wrap one model family."""

    ENTRY_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"adapter", "path", "sample_rate", "source", "label", "training_data", "published"}
    )
    """Config entry keys every peer has; the others are the adapter's ``SETTINGS``."""
    SETTINGS: ClassVar[frozenset[str]] = frozenset()
    name: str = ""

    sample_rate: int
    frame_step: float

    @classmethod
    @abstractmethod
    def from_folder(cls, folder: Path, **settings) -> PeerModel:
        """Load the processor and the weights of a ``save_pretrained`` folder."""

    @abstractmethod
    def embed_text(self, queries: Sequence[str]) -> torch.Tensor:
        """Query embeddings ``[K, D]`` in float32, in the form ``frame_scores`` takes."""

    @abstractmethod
    def clip_frames(self, waveform: np.ndarray) -> torch.Tensor:
        """Frame embeddings ``[T, D]`` (float32) of one clip's waveform at ``sample_rate``."""

    @abstractmethod
    def frame_scores(self, frames: torch.Tensor, text: torch.Tensor) -> np.ndarray:
        """The model's scores ``[T, K]`` (float32) of a clip's frames against the queries."""

    @abstractmethod
    def settings(self) -> dict:
        """The adapter's settings as the results' protocol block records them."""

    def identity(self, folder: str) -> dict:
        """What score files and results state of the scored model (``ModelSpec.identity``)."""
        return {
            "stage": "peer",
            "delta": self.frame_step,
            "seed": None,
            "checkpoint": folder,
            "protocol": {"peer": self.name, **self.settings()},
        }

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
