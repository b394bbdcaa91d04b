"""Training examples from a manifest and its audio store, and their collation into batches.

Randomness (which caption of a clip, shuffling) derives from (seed, epoch, index) only, never
from a global generator, so a run resumed from an epoch checkpoint sees exactly the batches an
uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Sampler

from tacos.data.manifest import Clip, Region, read_manifest
from tacos.data.store import AudioStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """One clip as training sees it: its audio (cropped to the model's input) and its texts."""

    clip_id: str
    waveform: np.ndarray
    caption: str | None  # drawn from ``captions`` for this epoch
    captions: tuple[str, ...]
    regions: tuple[Region, ...]


@dataclass
class Batch:
    """A padded batch; region rows index clips by ``region_clip``."""

    waveforms: torch.Tensor  # [B, S] float32, zero-padded to the model's input length
    lengths: torch.Tensor  # [B] real samples per clip
    clip_ids: list[str]
    captions: list[str]  # clip-level texts: one per clip (training) or all (retrieval)
    caption_clip: torch.Tensor  # [N] long: the clip each caption belongs to
    region_texts: list[str]
    region_clip: torch.Tensor  # [R] long
    region_onset: torch.Tensor  # [R] float64 seconds
    region_offset: torch.Tensor  # [R] float64 seconds
    region_groups: torch.Tensor  # [R] long: regions of one clip with one text share an id

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            **{
                name: value.to(device) if isinstance(value, torch.Tensor) else value
                for name, value in self.__dict__.items()
            }
        )


ItemMode = Literal["clips", "pairs"]
ITEM_MODES: tuple[ItemMode, ...] = ("clips", "pairs")


class CaptionedClips(Dataset):
    """Clips of a manifest read from their store, with ``regions`` inside the first
    ``max_seconds``.

    ``items="clips"``: one item per clip, whose ``caption`` is one of its captions drawn anew
    each epoch. ``items="pairs"``: one item per (clip, caption) pair, as the authors iterate
    Clotho (``flat_captions=True``: 5 items per clip, about 19.2k per development epoch).
    """

    def __init__(
        self,
        manifest: str | os.PathLike | Sequence[Clip],
        store: str | os.PathLike | AudioStore,
        max_seconds: float,
        seed: int = 0,
        items: ItemMode = "clips",
    ) -> None:
        self.clips = (
            read_manifest(manifest) if isinstance(manifest, str | os.PathLike) else manifest
        )
        self.store = store if isinstance(store, AudioStore) else AudioStore(store)
        missing = [clip.clip_id for clip in self.clips if clip.clip_id not in self.store]
        if missing:
            raise ValueError(
                f"{len(missing)} clips of the manifest are not in {self.store.path} "
                f"(first: {missing[0]}); rebuild the store from this manifest"
            )
        if items not in ITEM_MODES:
            raise ValueError(f"items must be one of {ITEM_MODES}, got {items!r}")
        self.max_seconds = max_seconds
        self.seed = seed
        self.epoch = 0
        self.items = items
        self._pairs = [
            (index, caption)
            for index, clip in enumerate(self.clips)
            for caption in range(len(clip.captions))
        ]
        uncaptioned = sum(not clip.captions for clip in self.clips)
        if items == "pairs" and uncaptioned:
            log.warning("%d clips have no caption and give no (clip, caption) item", uncaptioned)
        cropped = sum(r.onset >= max_seconds for clip in self.clips for r in clip.regions)
        if cropped:
            log.warning(
                "%d regions start after the %g s input crop and are not trained on",
                cropped,
                max_seconds,
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._pairs) if self.items == "pairs" else len(self.clips)

    def __getitem__(self, index: int) -> Example:
        if self.items == "pairs":
            clip_index, caption_index = self._pairs[index]
            clip = self.clips[clip_index]
            caption = clip.captions[caption_index]
        else:
            clip = self.clips[index]
            caption = self._drawn_caption(clip, index)
        waveform = self.store.read(clip.clip_id, start_s=0.0, duration_s=self.max_seconds)
        regions = tuple(region for region in clip.regions if region.onset < self.max_seconds)
        return Example(clip.clip_id, waveform, caption, clip.captions, regions)

    def _drawn_caption(self, clip: Clip, index: int) -> str | None:
        """One of the clip's captions, drawn from (seed, epoch, index): a resumed run repeats it."""
        if not clip.captions:
            return None
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return clip.captions[int(rng.integers(len(clip.captions)))]


class EpochShuffleSampler(Sampler[int]):
    """A permutation per epoch from (seed, epoch); Lightning calls ``set_epoch`` each epoch.

    Under DDP each process takes every world-th index of the same permutation (padded by
    wrapping around to equal shares), so together they see every clip once per epoch. The
    process group is looked up when iterating, after Lightning has started it.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size).tolist()
        rank, world = process_rank_and_world()
        padded = order + order[: len(self) * world - self.size]
        return iter(padded[rank::world])

    def __len__(self) -> int:
        return math.ceil(self.size / process_rank_and_world()[1])


def process_rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (0 and 1 without DDP)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


CollateMode = Literal["clip", "frame", "retrieval"]


def collate(examples: Sequence[Example], n_samples: int, mode: CollateMode) -> Batch:
    """Pad waveforms to ``n_samples``. ``clip``: one caption per clip (clip-level loss);
    ``frame``: the regions with their text groups (and the clip captions when all clips have
    one); ``retrieval``: every caption of every clip."""
    waveforms = torch.zeros(len(examples), n_samples)
    lengths = torch.zeros(len(examples), dtype=torch.long)
    for row, example in enumerate(examples):
        audio = torch.from_numpy(example.waveform[:n_samples])
        waveforms[row, : len(audio)] = audio
        lengths[row] = len(audio)
    region_rows = [
        (clip, region)
        for clip, example in enumerate(examples)
        for region in (example.regions if mode == "frame" else ())
    ]
    group_ids: dict[tuple[int, str], int] = {}
    groups = [
        group_ids.setdefault((clip, region.text), len(group_ids)) for clip, region in region_rows
    ]
    caption_rows = _caption_rows(examples, mode)
    return Batch(
        waveforms=waveforms,
        lengths=lengths,
        clip_ids=[example.clip_id for example in examples],
        captions=[caption for _, caption in caption_rows],
        caption_clip=torch.tensor([clip for clip, _ in caption_rows], dtype=torch.long),
        region_texts=[region.text for _, region in region_rows],
        region_clip=torch.tensor([clip for clip, _ in region_rows], dtype=torch.long),
        region_onset=torch.tensor([r.onset for _, r in region_rows], dtype=torch.float64),
        region_offset=torch.tensor([r.offset for _, r in region_rows], dtype=torch.float64),
        region_groups=torch.tensor(groups, dtype=torch.long),
    )


def _caption_rows(examples: Sequence[Example], mode: CollateMode) -> list[tuple[int, str]]:
    """Frame-level batches also carry one caption per clip when every clip has one, so a
    clip-level loss can be mixed in."""
    if mode == "frame" and any(example.caption is None for example in examples):
        return []
    if mode == "retrieval":
        return [(clip, text) for clip, example in enumerate(examples) for text in example.captions]
    missing = [example.clip_id for example in examples if example.caption is None]
    if missing:
        raise ValueError(f"clip {missing[0]} has no caption for clip-level training")
    return [(clip, example.caption) for clip, example in enumerate(examples)]
