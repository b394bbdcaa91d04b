"""PE-A-Frame (``facebook/pe-a-frame-{small,base,large}``, Apache-2.0) through ``transformers``'
``PeAudioFrameLevelModel``: one embedding every 40 ms of 48 kHz audio.

As the model's own ``forward`` computes them: frame embeddings are ``audio_head`` of the audio
encoder's frame states (the class token left out); a query's embedding is ``text_audio_head`` of
the first token of the text model's last hidden state; the score of frame ``t`` and query ``k``
is ``frame_t · text_k × logit_scale + logit_bias``, the logit its sigmoid loss was trained on.
The feature extractor reflect-pads a clip to whole frames, so a clip of ``d`` seconds has
``ceil(d / 0.04)`` frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tacos.models.peers.base import PeerModel


class PeAudioFrame(PeerModel):
    def __init__(self, model, processor) -> None:
        super().__init__()
        self.model = model
        self.processor = processor
        extractor = processor.feature_extractor
        self.sample_rate = int(extractor.sampling_rate)
        hop = int(model.config.audio_config.dac_config.hop_length)
        if hop != int(extractor.hop_length):
            raise ValueError(
                f"the feature extractor pads to {extractor.hop_length} samples but the audio "
                f"encoder's frames are {hop} samples: the folder's files do not belong together"
            )
        self.frame_step = hop / self.sample_rate

    @classmethod
    def from_folder(cls, folder: Path, **settings) -> PeAudioFrame:
        from transformers import AutoProcessor, PeAudioFrameLevelModel

        return cls(
            PeAudioFrameLevelModel.from_pretrained(folder), AutoProcessor.from_pretrained(folder)
        )

    @torch.no_grad()
    def embed_text(self, queries: Sequence[str]) -> torch.Tensor:
        tokens = self.processor.tokenizer(list(queries), padding=True, return_tensors="pt")
        states = self.model.text_model(
            input_ids=tokens["input_ids"].to(self.device),
            attention_mask=tokens["attention_mask"].to(self.device),
            output_hidden_states=True,
        ).hidden_states[-1]
        return self.model.text_audio_head(states[:, 0]).float()

    @torch.no_grad()
    def clip_frames(self, waveform: np.ndarray) -> torch.Tensor:
        inputs = self.processor.feature_extractor(
            waveform, sampling_rate=self.sample_rate, return_tensors="pt"
        )
        frames = self.model.get_audio_embeds(
            inputs["input_values"].to(self.device), inputs["padding_mask"].to(self.device)
        )
        return frames[0].float()

    @torch.no_grad()
    def frame_scores(self, frames: torch.Tensor, text: torch.Tensor) -> np.ndarray:
        scale = self.model.text_audio_logit_scale.float()
        bias = self.model.text_audio_logit_bias.float()
        return (frames @ text.T * scale + bias).cpu().numpy()

    def settings(self) -> dict:
        return {"adapter": "pe_audio_frame", "scores": "frame logits (scale x dot + bias)"}
