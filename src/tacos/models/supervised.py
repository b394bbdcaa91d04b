"""The supervised SED row of Table 3: ``ASIT_strong_1``'s own 447-class strong head.

As the TACOS authors compute it (their ``SupervisedModel``, which builds PretrainedSED's
``PredictionsWrapper`` with ``n_classes_strong=447``, no RNN, ``seq_len=250``):

- only the first 10 s of each clip are used (``audio[:, :, :320000]`` at 32 kHz); a shorter input
  is zero-padded to 10 s here, so that every clip gives the same 250 frames;
- the backbone's token sequence (ASiT on 10 s: one window of 998 fbank frames, i.e. the class
  token followed by 62 x 8 patch tokens, 497 tokens) is brought to ``seq_len=250`` frames by
  ``adaptive_avg_pool1d`` over time (linear interpolation when the backbone gives fewer frames),
  then ``strong_head = Linear(768, 447)`` gives one logit per class and frame; frame ``t`` covers
  ``[0.04 t, 0.04 (t + 1))``;
- scores are the raw logits (no sigmoid), median-filtered over 9 frames per class column with
  ``scipy.ndimage`` (edge mode ``reflect``, scipy's default, which the authors rely on);
- ``classes407``: the columns of the 407 eval classes; ``categories50``: a category's score is the
  sum of its member classes' filtered logits (filter first, then sum, as the authors do).

Column ``k`` of the head is ``as_strong_train_classes[k]`` of PretrainedSED
(``data_util/audioset_classes.py``), which ``classes_train_447.txt`` reproduces line by line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from tacos.data.audioset import query_set, read_categories
from tacos.models.asit import (
    CheckpointError,
    backbone_state_dict,
    describe_mismatch,
    read_checkpoint,
)
from tacos.models.dual import build_backbone
from tacos.names import QUERY_SETS

STRONG_HEAD_PREFIX = "strong_head."
MEDIAN_FILTER_MODE = "reflect"
"""``scipy.ndimage`` edge mode of the median filter: scipy's default (``d c b a | a b c d | d c b
a``, the edge sample repeated; numpy's ``pad(mode="symmetric")``). The authors call
``scipy.ndimage.filters.median_filter(scores, (median_filter, 1))`` without a mode."""


@dataclass(frozen=True)
class SupervisedConfig:
    """Settings of the authors' supervised row; the defaults are theirs."""

    seq_len: int = 250
    input_seconds: float = 10.0
    median_filter: int = 9
    n_classes: int = 447


def fit_sequence_length(frames: torch.Tensor, seq_len: int) -> torch.Tensor:
    """``[B, T, D]`` -> ``[B, seq_len, D]`` as PretrainedSED's ``PredictionsWrapper`` does:
    adaptive average pooling over time when ``T > seq_len``, linear interpolation
    (``align_corners=False``) when ``T < seq_len``, unchanged when equal."""
    length = frames.shape[1]
    if length == seq_len:
        return frames
    channels_first = frames.transpose(1, 2)
    if length > seq_len:
        fitted = F.adaptive_avg_pool1d(channels_first, seq_len)
    else:
        fitted = F.interpolate(channels_first, size=seq_len, mode="linear")
    return fitted.transpose(1, 2)


class SupervisedSED(nn.Module):
    """Waveforms ``[B, samples]`` -> strong logits ``[B, seq_len, n_classes]``.

    ``backbone`` is any module with ``output_dim`` and ``input_sample_rate`` that maps
    waveforms ``[B, samples]`` to frames ``[B, T, output_dim]`` (``ASiT``, ``DemoAudioEncoder``).
    """

    def __init__(self, backbone: nn.Module, config: SupervisedConfig | None = None) -> None:
        super().__init__()
        self.config = config or SupervisedConfig()
        if self.config.seq_len < 1 or self.config.input_seconds <= 0:
            raise ValueError(f"seq_len and input_seconds must be positive: {self.config}")
        self.backbone = backbone
        self.sample_rate = int(backbone.input_sample_rate)
        self.strong_head = nn.Linear(int(backbone.output_dim), self.config.n_classes)

    @property
    def frame_step(self) -> float:
        """Seconds per output frame: ``input_seconds / seq_len`` (0.04 s)."""
        return self.config.input_seconds / self.config.seq_len

    @property
    def input_samples(self) -> int:
        return round(self.config.input_seconds * self.sample_rate)

    def crop(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The first ``input_seconds`` of each waveform, zero-padded when shorter."""
        if waveforms.ndim != 2:
            raise ValueError(f"waveforms must be [batch, samples], got {tuple(waveforms.shape)}")
        samples = self.input_samples
        cropped = waveforms[:, :samples]
        return F.pad(cropped, (0, samples - cropped.shape[1]))

    def frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Backbone features fitted to ``seq_len`` frames: ``[B, seq_len, output_dim]``."""
        return fit_sequence_length(self.backbone(self.crop(waveforms)), self.config.seq_len)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.strong_head(self.frames(waveforms))


def load_strong_head_checkpoint(model: SupervisedSED, path: str | os.PathLike) -> None:
    """Load ``ASIT_strong_1.pt``'s backbone and its 447-class strong head strictly into ``model``.

    The release file holds ``model.<ViT names>``, ``strong_head.{weight,bias}`` and
    ``weak_head.{weight,bias}``; the weak head is not used. A checkpoint trained with an RNN
    (``seq_model.*``) or another head size is refused. Raises ``FileNotFoundError`` for a missing
    file and ``CheckpointError`` listing missing, unexpected and misshaped keys.
    """
    checkpoint = read_checkpoint(path)
    backbone = backbone_state_dict(checkpoint)
    head = {
        key[len(STRONG_HEAD_PREFIX) :]: value
        for key, value in checkpoint.items()
        if key.startswith(STRONG_HEAD_PREFIX)
    }
    problems = [
        f"{part}: {mismatch}"
        for part, mismatch in (
            ("backbone", describe_mismatch(model.backbone.state_dict(), backbone)),
            ("strong_head", describe_mismatch(model.strong_head.state_dict(), head)),
        )
        if mismatch
    ]
    if problems:
        raise CheckpointError(
            f"checkpoint {path} does not fit the supervised SED model: {'; '.join(problems)}"
        )
    model.backbone.load_state_dict(backbone, strict=True)
    model.strong_head.load_state_dict(head, strict=True)


def _as_array(scores: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().float().cpu().numpy()
    array = np.asarray(scores)
    if array.ndim != 2:
        raise ValueError(f"scores must be [frames, classes], got shape {array.shape}")
    return array


def median_filter_frames(logits: np.ndarray | torch.Tensor, size: int) -> np.ndarray:
    """Median over ``size`` frames of each column of ``[T, K]`` scores, as the authors filter.

    ``scipy.ndimage.median_filter(logits, size=(size, 1), mode="reflect")``: the window is
    centred on the frame, the edges are mirrored including the edge frame, and columns never mix.
    ``size=1`` returns the scores unchanged.
    """
    array = _as_array(logits)
    if int(size) != size or size < 1:
        raise ValueError(f"median filter size must be a positive integer, got {size}")
    return ndimage.median_filter(array, size=(int(size), 1), mode=MEDIAN_FILTER_MODE)


def query_scores(
    logits: np.ndarray | torch.Tensor, train_classes: Sequence[str], query_set_name: str
) -> np.ndarray:
    """Scores ``[T, K]`` of a query set from the strong head's ``[T, 447]`` scores.

    ``train_classes`` names the head's columns in order (``read_class_list("train")``).
    ``classes407``: the columns of the 407 eval classes, in ``read_class_list("eval_train")``
    order. ``categories50``: per category (``category_to_sentence`` order), the sum of its member
    classes' columns (``category_to_audioset``). To reproduce the authors, pass median-filtered
    logits (:func:`supervised_scores`): they filter every class column, then sum.
    """
    array = _as_array(logits)
    names = list(train_classes)
    if len(names) != array.shape[1]:
        raise ValueError(f"{len(names)} class names for {array.shape[1]} score columns")
    column = {name: index for index, name in enumerate(names)}
    if len(column) != len(names):
        raise ValueError("train_classes holds duplicate names")

    def columns(wanted: Sequence[str]) -> list[int]:
        missing = [name for name in wanted if name not in column]
        if missing:
            raise ValueError(f"classes missing from the head's class list: {missing[:10]}")
        return [column[name] for name in wanted]

    if query_set_name == "classes407":
        return array[:, columns(query_set("classes407")[0])]
    if query_set_name == "categories50":
        members = read_categories()["category_to_audioset"]
        pooled = [
            array[:, columns(members[category])].sum(axis=1)
            for category in query_set("categories50")[0]
        ]
        return np.stack(pooled, axis=1)
    raise ValueError(f"unknown query set {query_set_name!r}; choose one of {QUERY_SETS}")


def supervised_scores(
    logits: np.ndarray | torch.Tensor,
    train_classes: Sequence[str],
    query_set_name: str,
    median_filter: int = SupervisedConfig.median_filter,
) -> np.ndarray:
    """The authors' post-processing of one clip's ``[T, 447]`` logits: median filter per class
    column (float32, as they cast), then the query set's columns or category sums."""
    filtered = median_filter_frames(_as_array(logits).astype(np.float32), median_filter)
    return query_scores(filtered, train_classes, query_set_name)


def build_supervised(build: dict) -> SupervisedSED:
    """The supervised model from its spec's build section: ``audio`` (a model section's audio
    part: ASiT or the demo CNN; a checkpoint there is loaded, e.g. for training from it) and
    ``delta`` (which must be the head's frame step, 0.04 s)."""
    model = SupervisedSED(build_backbone(build.get("audio", {})))
    if abs(model.frame_step - float(build["delta"])) > 1e-12:
        raise ValueError(f"the strong head gives {model.frame_step} s frames, not {build['delta']}")
    return model
