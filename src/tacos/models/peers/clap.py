"""LAION CLAP (e.g. ``laion/clap-htsat-unfused``) through ``transformers``' ``ClapModel``, made
frame-level with sliding windows.

CLAP embeds a whole clip, so frame ``t`` (``hop_seconds`` long) gets the embedding of the
``window_seconds`` of audio centred on its middle, silence where the window reaches past the clip;
each window goes through the model's own feature extractor (which repeat-pads it to the model's
10 s input) and ``get_audio_features``. A clip of ``d`` seconds has ``frame_count(d, hop)``
frames. The score is the model's audio-to-text logit: cosine × ``exp(logit_scale_a)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tacos.frames import frame_count
from tacos.models.peers.base import PeerModel


class ClapWindows(PeerModel):
    SETTINGS = frozenset({"window_seconds", "hop_seconds", "windows_per_batch"})

    def __init__(
        self,
        model,
        processor,
        window_seconds: float = 1.0,
        hop_seconds: float = 0.5,
        windows_per_batch: int = 64,
    ) -> None:
        super().__init__()
        if not 0 < hop_seconds <= window_seconds:
            raise ValueError(
                f"CLAP windows need 0 < hop_seconds <= window_seconds, got hop {hop_seconds} "
                f"and window {window_seconds}"
            )
        longest = processor.feature_extractor.max_length_s
        if window_seconds > longest:
            raise ValueError(
                f"CLAP window_seconds {window_seconds} exceeds the model's {longest} s input, "
                "which its feature extractor would crop at random"
            )
        self.model = model
        self.processor = processor
        self.sample_rate = int(processor.feature_extractor.sampling_rate)
        self.window_seconds = float(window_seconds)
        self.frame_step = float(hop_seconds)
        self.windows_per_batch = int(windows_per_batch)

    @classmethod
    def from_folder(cls, folder: Path, **settings) -> ClapWindows:
        from transformers import AutoProcessor, ClapModel

        return cls(
            ClapModel.from_pretrained(folder), AutoProcessor.from_pretrained(folder), **settings
        )

    @torch.no_grad()
    def embed_text(self, queries: Sequence[str]) -> torch.Tensor:
        tokens = self.processor.tokenizer(list(queries), padding=True, return_tensors="pt")
        output = self.model.get_text_features(**{k: v.to(self.device) for k, v in tokens.items()})
        return output.pooler_output.float()

    def windows(self, waveform: np.ndarray) -> np.ndarray:
        """``[T, window samples]``: the window centred on each frame, zeros past the clip."""
        n_frames = max(1, frame_count(len(waveform) / self.sample_rate, self.frame_step))
        width = round(self.window_seconds * self.sample_rate)
        hop = self.frame_step * self.sample_rate
        starts = np.rint((np.arange(n_frames) + 0.5) * hop - width / 2).astype(np.int64)
        padded = np.pad(waveform.astype(np.float32), (width, width))
        return np.stack([padded[start + width : start + 2 * width] for start in starts])

    @torch.no_grad()
    def clip_frames(self, waveform: np.ndarray) -> torch.Tensor:
        windows = self.windows(waveform)
        embeddings = []
        for start in range(0, len(windows), self.windows_per_batch):
            features = self.processor.feature_extractor(
                list(windows[start : start + self.windows_per_batch]),
                sampling_rate=self.sample_rate,
                return_tensors="pt",
            )
            output = self.model.get_audio_features(
                **{key: value.to(self.device) for key, value in features.items()}
            )
            embeddings.append(output.pooler_output.float())
        return torch.cat(embeddings)

    @torch.no_grad()
    def frame_scores(self, frames: torch.Tensor, text: torch.Tensor) -> np.ndarray:
        return (frames @ text.T * self.model.logit_scale_a.exp().float()).cpu().numpy()

    def settings(self) -> dict:
        return {
            "adapter": "clap",
            "scores": "window logits (cosine x exp(logit_scale_a))",
            "window_seconds": self.window_seconds,
            "hop_seconds": self.frame_step,
        }
