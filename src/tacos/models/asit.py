"""ASiT ViT-base audio encoder, parameter-compatible with PretrainedSED's ``ASIT_strong_1``.

The module and parameter names (``cls_token``, ``pos_embed``, ``patch_embed.proj``,
``blocks.<i>.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``) are those of the
vision transformer in fschmid56/PretrainedSED, whose release v0.0.1 stores them under the prefix
``model.`` next to two 447-class heads (``strong_head``, ``weak_head``) that we do not use.

Front end and windowing follow the authors' code: 32 kHz input resampled to 16 kHz (Kaiser sinc),
per-clip DC removal, Kaldi fbank (128 mel, 25 ms Hann window, 10 ms shift), normalised with
``(fbank + 4.2677393) / (4.5689974 * 2)``; the spectrogram is cut into windows of 999 frames
(~10 s; a 30 s clip gives 2998 frames, i.e. 3 windows and one dropped frame). Each window gives
one class token and 8 frequency x T' time patch tokens in time-major order.

Frame sequences (``frame_tokens``):

- ``"interleaved"`` (the authors'): each window's class token followed by its patch tokens in
  time-major order, windows concatenated. As 8 frequency tokens share one 160 ms time patch, the
  token sequence advances ~20 ms per token: 3 x (1 + 62 x 8) = 1491 tokens per 30 s.
- ``"frequency_mean"``: patch tokens averaged over frequency, class token dropped: one frame per
  160 ms time patch (62 per window, 186 per 30 s).

The authors' TACOS code (``ASITSEDWrapper``: windows of 999 frames, hop 999, ``seq_len=1491``)
uses the interleaved sequence as is and reads token k as ``[0.02 k, 0.02 (k + 1))``, i.e. 29.82 s;
so does ``tacos.models.dual`` at delta = 0.02 (``frame_step``), resampling only for other deltas.
Checked against PretrainedSED's own ViT and windowing on random weights: same 1491 x 768 output
up to 4e-5 (fused attention).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
import torchaudio.functional as audio_functional
from torch import nn
from torchaudio.compliance import kaldi

ASIT_STRONG_1_URL = (
    "https://github.com/fschmid56/PretrainedSED/releases/download/v0.0.1/ASIT_strong_1.pt"
)
CHECKPOINT_PREFIXES = ("model.asit.", "model.")
"""Prefixes of the backbone keys: ``model.`` in the release file, ``model.asit.`` after
PretrainedSED's own loader has renamed them."""
UNUSED_CHECKPOINT_PREFIXES = ("strong_head.", "weak_head.")
"""PretrainedSED's AudioSet classification heads; the dual encoder has its own head."""

FBANK_MEAN = -4.2677393
FBANK_STD = 4.5689974
FBANK_SHIFT_SECONDS = 0.01
INTERLEAVED_TOKEN_SECONDS = 0.02
"""The authors read interleaved token k as ``[0.02 k, 0.02 (k + 1))`` (1491 tokens per 30 s)."""

FrameTokens = Literal["interleaved", "frequency_mean"]


@dataclass(frozen=True)
class ASiTConfig:
    """Sizes of the encoder; the defaults are ViT-base as in ``ASIT_strong_1``."""

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    patch_size: int = 16
    n_mels: int = 128
    pretrain_frames: int = 592
    """Time frames of the pre-training input (audio_size [128, 592]): the stored positional grid
    is (n_mels / 16) x (592 / 16) = 8 x 37 and is interpolated to each input's patch grid."""
    window_frames: int = 999
    input_sample_rate: int = 32000
    sample_rate: int = 16000
    frame_tokens: FrameTokens = "interleaved"

    @property
    def freq_patches(self) -> int:
        return self.n_mels // self.patch_size

    @property
    def frame_step(self) -> float:
        """Seconds per output frame: 20 ms per interleaved token, one time patch otherwise."""
        if self.frame_tokens == "interleaved":
            return INTERLEAVED_TOKEN_SECONDS
        return self.patch_size * FBANK_SHIFT_SECONDS


class CheckpointError(ValueError):
    """A checkpoint cannot be read, or its parameter names or shapes do not match the model."""


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(query, key, value)
        return self.proj(attended.transpose(1, 2).reshape(batch, tokens, dim))


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6, as in the checkpoint's ViT)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(1, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """``[B, 1, time, mel]`` -> ``[B, T'*F', dim]`` in time-major order."""
        return self.proj(spectrogram).flatten(2).transpose(1, 2)


class ASiT(nn.Module):
    """Waveforms ``[B, samples]`` at ``input_sample_rate`` -> frames ``[B, T_backbone, dim]``."""

    def __init__(self, config: ASiTConfig | None = None) -> None:
        super().__init__()
        self.config = config or ASiTConfig()
        cfg = self.config
        if cfg.frame_tokens not in ("interleaved", "frequency_mean"):
            raise ValueError(f"frame_tokens must be interleaved|frequency_mean: {cfg.frame_tokens}")
        self.input_sample_rate = cfg.input_sample_rate
        self.output_dim = cfg.embed_dim
        self.frame_step = cfg.frame_step
        grid = cfg.freq_patches * (cfg.pretrain_frames // cfg.patch_size)
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid + 1, cfg.embed_dim))
        self.blocks = nn.ModuleList(
            Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        spectrogram = self.fbank(waveforms)
        windows = split_windows(spectrogram, self.config.window_frames, self.config.patch_size)
        full = [window for window in windows if window.shape[1] == windows[0].shape[1]]
        # all full windows of all clips go through the transformer as one batch
        frames = list(self._window_frames(torch.cat(full)).split(len(spectrogram)))
        frames += [self._window_frames(window) for window in windows[len(full) :]]
        return torch.cat(frames, dim=1)

    def fbank(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Normalised Kaldi fbank ``[B, frames, n_mels]`` of 32 kHz waveforms, computed in fp32."""
        cfg = self.config
        with torch.autocast(device_type=waveforms.device.type, enabled=False):
            resampled = audio_functional.resample(
                waveforms.float(),
                cfg.input_sample_rate,
                cfg.sample_rate,
                resampling_method="sinc_interp_kaiser",
            )
            features = [self._clip_fbank(clip) for clip in resampled]
        return (torch.stack(features) - FBANK_MEAN) / (FBANK_STD * 2)

    def _clip_fbank(self, clip: torch.Tensor) -> torch.Tensor:
        return kaldi.fbank(
            (clip - clip.mean()).unsqueeze(0),
            htk_compat=True,
            sample_frequency=self.config.sample_rate,
            use_energy=False,
            window_type="hanning",
            num_mel_bins=self.config.n_mels,
            dither=0.0,
            frame_shift=10,
        )

    def encode_window(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """``[B, time, mel]`` -> tokens ``[B, 1 + T'*F', dim]`` (class token first)."""
        time_frames, mels = spectrogram.shape[1:]
        patches = self.patch_embed(spectrogram.unsqueeze(1))
        tokens = torch.cat([self.cls_token.expand(len(patches), -1, -1), patches], dim=1)
        tokens = tokens + self.position_embedding(time_frames, mels)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def position_embedding(self, time_frames: int, mels: int) -> torch.Tensor:
        """The stored (freq x time) grid, bicubically resized to this input's (time x freq) grid.

        The grid is reshaped in the stored order and resized to the time-major order of the
        tokens, as in the pre-training code, so that the checkpoint's weights see the positional
        codes they were trained with; at exactly the pre-training size it is used unchanged.
        """
        cfg = self.config
        if (time_frames, mels) == (cfg.pretrain_frames, cfg.n_mels):
            return self.pos_embed
        size = cfg.patch_size
        stored = (
            self.pos_embed[:, 1:]
            .transpose(1, 2)
            .reshape(1, cfg.embed_dim, cfg.freq_patches, cfg.pretrain_frames // size)
        )
        resized = F.interpolate(
            stored, size=(time_frames // size, mels // size), mode="bicubic", align_corners=False
        )
        return torch.cat([self.pos_embed[:, :1], resized.flatten(2).transpose(1, 2)], dim=1)

    def _window_frames(self, spectrogram: torch.Tensor) -> torch.Tensor:
        tokens = self.encode_window(spectrogram)
        if self.config.frame_tokens == "interleaved":
            return tokens
        patches = tokens[:, 1:]
        time_patches = spectrogram.shape[1] // self.config.patch_size
        return patches.reshape(len(patches), time_patches, -1, patches.shape[-1]).mean(dim=2)


def split_windows(spectrogram: torch.Tensor, window: int, min_frames: int) -> list[torch.Tensor]:
    """Cut ``[B, time, mel]`` into consecutive windows of ``window`` frames.

    An input no longer than one window is one window. A shorter remainder becomes a last, shorter
    window when it holds at least one patch (``min_frames``) and is dropped otherwise, which for
    a 30 s clip (2998 frames) reproduces the authors' three windows.
    """
    total = spectrogram.shape[1]
    if total <= window:
        return [spectrogram]
    starts = range(0, total - min_frames + 1, window)
    return [spectrogram[:, start : start + window] for start in starts]


def backbone_state_dict(checkpoint: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Backbone parameters of a PretrainedSED checkpoint, with the known prefixes stripped."""
    state = {}
    for key, value in checkpoint.items():
        if key.startswith(UNUSED_CHECKPOINT_PREFIXES):
            continue
        prefix = next((p for p in CHECKPOINT_PREFIXES if key.startswith(p)), "")
        state[key[len(prefix) :]] = value
    return state


def read_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The flat parameter dict of a PretrainedSED release file (or of a Lightning-style file
    holding it under ``state_dict``), loaded on the CPU with ``weights_only=True``.

    Raises ``FileNotFoundError`` naming the download URL, and ``CheckpointError`` for a file that
    cannot be read.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"ASiT checkpoint {path} not found; download it from {ASIT_STRONG_1_URL} "
            "and set audio.checkpoint to the file"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from error
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f"checkpoint {path} holds a {type(checkpoint).__name__}, not a parameter dict"
        )
    return checkpoint


def load_asit_checkpoint(model: ASiT, path: str | os.PathLike) -> None:
    """Load ``ASIT_strong_1.pt`` (or any state dict with the same names) strictly into ``model``.

    Raises ``FileNotFoundError`` naming the download URL, and ``CheckpointError`` for an
    unreadable file or one whose keys differ (listing missing, unexpected and misshaped keys).
    """
    state = backbone_state_dict(read_checkpoint(path))
    problems = describe_mismatch(model.state_dict(), state)
    if problems:
        raise CheckpointError(f"checkpoint {path} does not fit the ASiT model: {problems}")
    model.load_state_dict(state, strict=True)


def describe_mismatch(
    expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], shown: int = 10
) -> str:
    """Human-readable key and shape differences; empty when the two state dicts match."""
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    reshaped = [
        f"{key} {tuple(found[key].shape)} != {tuple(value.shape)}"
        for key, value in expected.items()
        if key in found and found[key].shape != value.shape
    ]
    parts = [
        f"{len(items)} {label} (first {min(shown, len(items))}: {', '.join(items[:shown])})"
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", reshaped),
        )
        if items
    ]
    return "; ".join(parts)
