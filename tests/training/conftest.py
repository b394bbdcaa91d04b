"""A tiny captioned dataset (manifest + audio store) and a tiny model for training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_model import RATE

from tacos.data.audio import write_audio
from tacos.data.manifest import Clip, Region, write_manifest
from tacos.data.store import build_audio_store

SECONDS = 4.0
WORDS = ["a dog barks", "a bell rings", "rain falls", "a siren wails"]


def make_split(root: Path, name: str, n_clips: int, seed: int) -> tuple[Path, Path]:
    """Clips of two tones at random times, each tone captioned by its word."""
    rng = np.random.default_rng(seed)
    clips = []
    for index in range(n_clips):
        time = np.arange(int(RATE * SECONDS)) / RATE
        audio = 0.01 * rng.standard_normal(len(time))
        regions = []
        for word in rng.choice(len(WORDS), size=2, replace=False):
            onset = float(np.round(rng.uniform(0, 3), 2))
            offset = float(np.round(onset + rng.uniform(0.3, 1.0), 2))
            inside = (time >= onset) & (time < offset)
            audio[inside] += 0.3 * np.sin(2 * np.pi * 300 * (word + 1) * time[inside])
            regions.append(Region(WORDS[word], onset, offset))
        path = root / name / f"{index}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, audio, RATE)
        captions = tuple(f"{a.text} and {b.text}" for a, b in [regions, regions[::-1]])
        clips.append(Clip(f"{name}{index}", str(path), SECONDS, captions, tuple(regions), name))
    manifest = root / f"{name}.jsonl"
    write_manifest(clips, manifest)
    store = root / f"{name}.h5"
    build_audio_store(manifest, store, RATE, progress=False)
    return manifest, store


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_data")
    return {"train": make_split(root, "train", 8, 0), "val": make_split(root, "val", 4, 1)}
