"""One typed representation for every dataset: a clip with its captions and timed regions.

Readers of TACOS, Clotho and AudioSet Strong all produce ``Clip`` records; the training and
evaluation stages only ever see these. Manifests are JSON Lines, one clip a line, so they
stream lazily and diff well.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Region:
    """A timed stretch of a clip described by a caption (TACOS) or a class (AudioSet)."""

    text: str
    onset: float
    offset: float
    label: str | None = None  # AudioSet MID; None for free-text captions


@dataclass(frozen=True)
class Clip:
    """An audio clip with its clip-level captions and its timed regions."""

    clip_id: str
    audio_path: str
    duration: float
    captions: tuple[str, ...] = ()
    regions: tuple[Region, ...] = ()
    split: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Clip:
        raw = json.loads(line)
        raw["captions"] = tuple(raw["captions"])
        raw["regions"] = tuple(Region(**region) for region in raw["regions"])
        return cls(**raw)


@dataclass
class ManifestSummary:
    """Counts that a prepared manifest is reported with."""

    clips: int = 0
    regions: int = 0
    captions: int = 0
    hours: float = 0.0
    splits: dict[str, int] = field(default_factory=dict)

    def add(self, clip: Clip) -> None:
        self.clips += 1
        self.regions += len(clip.regions)
        self.captions += len(clip.captions)
        self.hours += clip.duration / 3600.0
        key = clip.split or "none"
        self.splits[key] = self.splits.get(key, 0) + 1


def write_manifest(clips: Iterable[Clip], path: str | os.PathLike) -> ManifestSummary:
    """Write clips as JSON Lines atomically (a crash never leaves a half manifest)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    summary = ManifestSummary()
    with partial.open("w", encoding="utf-8") as handle:
        for clip in clips:
            handle.write(clip.to_json() + "\n")
            summary.add(clip)
    os.replace(partial, path)
    return summary


def iter_manifest(path: str | os.PathLike) -> Iterator[Clip]:
    """Stream clips from a JSON Lines manifest."""
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield Clip.from_json(line)


def read_manifest(path: str | os.PathLike) -> list[Clip]:
    return list(iter_manifest(path))
