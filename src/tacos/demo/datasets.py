"""The writers of the demo datasets, in the on-disk formats of the releases.

``make_demo_data(out_dir, config)`` writes three folders that the real readers read unchanged:

- ``tacos/``: TACOS (Zenodo 15379789) layout. ``annotations_strong.csv`` (filename, text, onset,
  offset; one row per region), ``annotations_weak.csv`` (filename, text; one summary sentence per
  file), ``metadata.csv`` (the release's 20 columns), ``development_split.csv`` and
  ``test_split.csv`` (filename), ``audio/<freesound_id>.mp3``. Also ``annotations_strong_raw.csv``
  (same columns and rows as the strong file, annotator-style text before LLM cleaning): it exists
  only in the demo, because the real raw captions are not released. In ``metadata.csv``,
  ``duration`` is the (fictional) original Freesound file's length and ``start_time_s`` /
  ``end_time_s`` the excerpt that became the clip; read clip lengths from the audio.
- ``clotho/``: Clotho v2.1 layout. ``clotho_captions_<split>.csv`` (file_name, caption_1..5),
  ``clotho_metadata_<split>.csv`` (file_name, keywords, sound_id, sound_link, start_end_samples,
  manufacturer, license) and wav audio in ``development/``, ``validation/``, ``evaluation/``.
- ``audioset/``: AudioSet Strong layout. ``audioset_eval_strong.tsv`` (segment_id,
  start_time_seconds, end_time_seconds, label=MID), ``mid_to_display_name.tsv`` (the real one)
  and ``audio/Y<ytid>.wav`` 10 s clips.

Every clip is background noise plus events of the sound vocabulary at random positions, with
random co-occurrence (so a clip-level caption says nothing about when each event happens). All
randomness flows from one seed through ``numpy.random.SeedSequence`` children: one per dataset,
then one per split or clip, so resizing one dataset leaves the others byte-identical. Text is
written with fixed number formatting and ``\\n`` line endings: the same seed gives the same bytes.

Config keys of ``make_demo_data`` (defaults in ``DEFAULT_CONFIG``): ``seed``; ``sample_rate``
(16000; the real TACOS audio is 32 kHz mp3, the demo stays small and fast); ``tacos``:
``n_development``, ``n_test``, ``min_duration``, ``max_duration`` (s), ``max_regions`` (events per
clip, 1..6); ``clotho``: ``n_development``, ``n_validation``, ``n_evaluation``, ``min_duration``,
``max_duration``; ``audioset``: ``n_eval``, ``duration``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from tacos.data.audio import write_audio
from tacos.data.audioset import read_categories, resource_path
from tacos.data.formats import (
    AUDIOSET_STRONG_COLUMNS,
    CLOTHO_CAPTION_COLUMNS,
    CLOTHO_METADATA_COLUMNS,
    TACOS_METADATA_COLUMNS,
    TACOS_SPLIT_COLUMNS,
    TACOS_STRONG_COLUMNS,
    TACOS_WEAK_COLUMNS,
    format_seconds,
    write_table,
)
from tacos.demo.captions import (
    clotho_captions,
    raw_caption,
    strong_caption,
    weak_caption,
)
from tacos.demo.freesound import clotho_metadata, tacos_metadata
from tacos.demo.scenes import compose_scene
from tacos.demo.sounds import EVENTS, VOCABULARY
from tacos.names import DATASET_SPLITS

log = logging.getLogger(__name__)

DEFAULT_CONFIG: dict = {
    "seed": 20250512,
    "sample_rate": 16000,
    "tacos": {
        "n_development": 160,
        "n_test": 40,
        "min_duration": 15.0,
        "max_duration": 30.0,
        "max_regions": 6,
    },
    "clotho": {
        "n_development": 60,
        "n_validation": 20,
        "n_evaluation": 20,
        "min_duration": 15.0,
        "max_duration": 30.0,
    },
    "audioset": {"n_eval": 60, "duration": 10.0, "n_train": 0},
}
MANIFEST_NAME = "demo_manifest.json"
DEMO_ENTRIES = ("tacos", "clotho", "audioset", MANIFEST_NAME)  # what make_demo_data writes

CLOTHO_SPLITS = DATASET_SPLITS["clotho"]
YOUTUBE_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

CLOTHO_MAX_EVENTS = 4  # five captions naming every event stay Clotho-length (8-20 words)
AUDIOSET_MAX_EVENTS = 5


# ---------------------------------------------------------------------------------------------
# Writing helpers


def _seed_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    """A fresh SeedSequence: spawning is stateful, so a reused one would give other children."""
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key)
    return np.random.SeedSequence(int(seed))


def _clip_duration(rng: np.random.Generator, low: float, high: float) -> float:
    """A clip length in whole milliseconds."""
    return round(float(rng.uniform(low, high)), 3)


def _required_event(index: int) -> str:
    """Cycle through the vocabulary so every event type occurs once enough clips exist."""
    return VOCABULARY[index % len(VOCABULARY)].name


def _map(function: Callable, *per_clip: Iterable, workers: int = 1, **shared: Any) -> list:
    """``function`` of each clip's ``per_clip`` arguments and the ``shared`` keyword arguments of
    all clips, in ``workers`` processes when more than one.

    Every clip has its own seed, so the result does not depend on the number of workers.
    """
    function = partial(function, **shared)
    if workers <= 1:
        return list(map(function, *per_clip))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, *per_clip, chunksize=4))


def _unique_ids(rng: np.random.Generator, count: int, low: int, high: int) -> list[int]:
    return sorted(int(i) + low for i in rng.choice(high - low, size=count, replace=False))


# ---------------------------------------------------------------------------------------------
# TACOS


@dataclass(frozen=True)
class _TacosRecord:
    """Everything written about one TACOS demo clip."""

    filename: str
    strong: tuple[tuple[str, float, float], ...]
    raw: tuple[str, ...]
    weak: str
    metadata: tuple


def _tacos_clip(
    seed: np.random.SeedSequence,
    index: int,
    freesound_id: int,
    audio_dir: Path,
    sample_rate: int,
    durations: tuple[float, float],
    max_regions: int,
) -> _TacosRecord:
    """Write one TACOS clip's mp3; return its captions (clean, raw, weak) and metadata row."""
    rng = np.random.default_rng(seed)
    duration = _clip_duration(rng, *durations)
    scene = compose_scene(rng, duration, sample_rate, max_regions, _required_event(index))
    strong = tuple(
        (strong_caption(region.event, rng), region.onset, region.offset) for region in scene.regions
    )
    raw = tuple(
        raw_caption(text, region.event, rng)
        for (text, _, _), region in zip(strong, scene.regions, strict=True)
    )
    weak = weak_caption([(r.event, r.onset, r.offset) for r in scene.regions], rng)
    write_audio(audio_dir / f"{freesound_id}.mp3", scene.waveform, sample_rate)
    metadata = tacos_metadata(rng, freesound_id, scene, weak)
    return _TacosRecord(f"{freesound_id}.mp3", strong, raw, weak, metadata)


def write_tacos_demo(
    out_dir: str | os.PathLike,
    n_development: int,
    n_test: int,
    seed: int | np.random.SeedSequence,
    sample_rate: int = 16000,
    min_duration: float = 15.0,
    max_duration: float = 30.0,
    max_regions: int = 6,
    workers: int = 1,
) -> dict:
    """Write the TACOS demo (layout of Zenodo record 15379789) and return its counts."""
    out_dir = Path(out_dir)
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    layout_seed, clips_seed = _seed_sequence(seed).spawn(2)
    layout = np.random.default_rng(layout_seed)
    total = n_development + n_test
    ids = _unique_ids(layout, total, 1000, 800000)
    test_ids = {ids[i] for i in layout.permutation(total)[:n_test]}
    records = _map(
        _tacos_clip,
        clips_seed.spawn(total),
        range(total),
        ids,
        workers=workers,
        audio_dir=audio_dir,
        sample_rate=sample_rate,
        durations=(min_duration, max_duration),
        max_regions=max_regions,
    )
    strong_rows = [
        (rec.filename, text, format_seconds(on), format_seconds(off))
        for rec in records
        for text, on, off in rec.strong
    ]
    raw_rows = [
        (rec.filename, raw, format_seconds(on), format_seconds(off))
        for rec in records
        for raw, (_, on, off) in zip(rec.raw, rec.strong, strict=True)
    ]
    write_table(out_dir / "annotations_strong.csv", TACOS_STRONG_COLUMNS, strong_rows)
    write_table(out_dir / "annotations_strong_raw.csv", TACOS_STRONG_COLUMNS, raw_rows)
    write_table(
        out_dir / "annotations_weak.csv",
        TACOS_WEAK_COLUMNS,
        [(rec.filename, rec.weak) for rec in records],
    )
    write_table(out_dir / "metadata.csv", TACOS_METADATA_COLUMNS, [r.metadata for r in records])
    for name, in_split in (("development", False), ("test", True)):
        files = [(f"{fid}.mp3",) for fid in ids if (fid in test_ids) == in_split]
        write_table(out_dir / f"{name}_split.csv", TACOS_SPLIT_COLUMNS, files)
    return {
        "files": total,
        "development": n_development,
        "test": n_test,
        "regions": len(strong_rows),
    }


# ---------------------------------------------------------------------------------------------
# Clotho


def _clotho_clip(
    seed: np.random.SeedSequence,
    index: int,
    name: str,
    sound_id: int,
    audio_dir: Path,
    sample_rate: int,
    durations: tuple[float, float],
) -> tuple[tuple, tuple]:
    """Write one Clotho clip's wav; return its captions row and its metadata row."""
    rng = np.random.default_rng(seed)
    duration = _clip_duration(rng, *durations)
    scene = compose_scene(rng, duration, sample_rate, CLOTHO_MAX_EVENTS, _required_event(index))
    write_audio(audio_dir / name, scene.waveform, sample_rate)
    events = [region.event for region in scene.regions]
    captions = (name, *clotho_captions(events, rng))
    return captions, clotho_metadata(rng, name, sound_id, events, scene.duration)


def write_clotho_demo(
    out_dir: str | os.PathLike,
    n_development: int,
    n_validation: int,
    n_evaluation: int,
    seed: int | np.random.SeedSequence,
    sample_rate: int = 16000,
    min_duration: float = 15.0,
    max_duration: float = 30.0,
    workers: int = 1,
) -> dict:
    """Write the Clotho v2.1 demo (captions, metadata, wav per split) and return its counts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = dict(zip(CLOTHO_SPLITS, (n_development, n_validation, n_evaluation), strict=True))
    layout_seed, *split_seeds = _seed_sequence(seed).spawn(1 + len(CLOTHO_SPLITS))
    sound_ids = _unique_ids(np.random.default_rng(layout_seed), sum(sizes.values()), 1000, 600000)
    first = 0
    for split, split_seed in zip(CLOTHO_SPLITS, split_seeds, strict=True):
        count = sizes[split]
        audio_dir = out_dir / split
        audio_dir.mkdir(parents=True, exist_ok=True)
        rows = _map(
            _clotho_clip,
            split_seed.spawn(count),
            range(first, first + count),
            [f"clip_{first + i:05d}.wav" for i in range(count)],
            sound_ids[first : first + count],
            workers=workers,
            audio_dir=audio_dir,
            sample_rate=sample_rate,
            durations=(min_duration, max_duration),
        )
        write_table(
            out_dir / f"clotho_captions_{split}.csv", CLOTHO_CAPTION_COLUMNS, [r[0] for r in rows]
        )
        write_table(
            out_dir / f"clotho_metadata_{split}.csv",
            CLOTHO_METADATA_COLUMNS,
            [r[1] for r in rows],
            encoding="iso-8859-1",
        )
        first += count
    return {"files": first, **sizes}


# ---------------------------------------------------------------------------------------------
# AudioSet Strong


def _youtube_ids(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct 11-character YouTube-like ids."""
    ids: list[str] = []
    while len(ids) < count:
        letters = rng.integers(0, len(YOUTUBE_ID_ALPHABET), size=11)
        ytid = "".join(YOUTUBE_ID_ALPHABET[i] for i in letters)
        if ytid not in ids:
            ids.append(ytid)
    return ids


def _audioset_clip(
    seed: np.random.SeedSequence,
    index: int,
    clip: tuple[str, int],
    audio_dir: Path,
    sample_rate: int,
    duration: float,
) -> list[tuple]:
    """Write one AudioSet clip's wav; return its label rows."""
    ytid, start_ms = clip
    rng = np.random.default_rng(seed)
    scene = compose_scene(rng, duration, sample_rate, AUDIOSET_MAX_EVENTS, _required_event(index))
    write_audio(audio_dir / f"Y{ytid}.wav", scene.waveform, sample_rate)
    return [
        (
            f"{ytid}_{start_ms}",
            format_seconds(r.onset),
            format_seconds(r.offset),
            EVENTS[r.event].mid,
        )
        for r in scene.regions
    ]


def _write_audioset_split(
    path: Path,
    clips: Sequence[tuple[str, int]],
    seed: np.random.SeedSequence,
    audio_dir: Path,
    sample_rate: int,
    duration: float,
    workers: int,
) -> int:
    """Write the clips' wavs and their labels TSV; returns the number of label rows."""
    per_clip = _map(
        _audioset_clip,
        seed.spawn(len(clips)),
        range(len(clips)),
        clips,
        workers=workers,
        audio_dir=audio_dir,
        sample_rate=sample_rate,
        duration=duration,
    )
    rows = [row for clip_rows in per_clip for row in clip_rows]
    rows.sort(key=lambda row: (row[0], float(row[1]), float(row[2]), row[3]))
    write_table(path, AUDIOSET_STRONG_COLUMNS, rows, delimiter="\t")
    return len(rows)


def write_audioset_demo(
    out_dir: str | os.PathLike,
    n_eval: int,
    seed: int | np.random.SeedSequence,
    sample_rate: int = 16000,
    duration: float = 10.0,
    workers: int = 1,
    n_train: int = 0,
) -> dict:
    """Write the AudioSet Strong demo: the eval labels TSV with real MIDs and its wav clips, and
    with ``n_train`` a training split (``audioset_train_strong.tsv``, other YouTube ids, audio in
    the same folder) for the supervised pretraining of the demo's audio encoder. The eval files
    do not depend on ``n_train``."""
    out_dir = Path(out_dir)
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    root = _seed_sequence(seed)
    layout_seed, clips_seed = root.spawn(2)
    layout = np.random.default_rng(layout_seed)
    clips = [(ytid, 10000 * int(layout.integers(0, 30))) for ytid in _youtube_ids(layout, n_eval)]
    counts = {"files": n_eval}
    counts["regions"] = _write_audioset_split(
        out_dir / "audioset_eval_strong.tsv",
        clips,
        clips_seed,
        audio_dir,
        sample_rate,
        duration,
        workers,
    )
    if n_train:
        train_layout_seed, train_clips_seed = root.spawn(2)
        train_layout = np.random.default_rng(train_layout_seed)
        eval_ids = {ytid for ytid, _ in clips}
        candidates = _youtube_ids(train_layout, n_train + n_eval)
        train_ids = [ytid for ytid in candidates if ytid not in eval_ids][:n_train]
        train_clips = [(ytid, 10000 * int(train_layout.integers(0, 30))) for ytid in train_ids]
        counts["train_files"] = n_train
        counts["train_regions"] = _write_audioset_split(
            out_dir / "audioset_train_strong.tsv",
            train_clips,
            train_clips_seed,
            audio_dir,
            sample_rate,
            duration,
            workers,
        )
    shutil.copyfile(resource_path("mid_to_display_name.tsv"), out_dir / "mid_to_display_name.tsv")
    return counts


# ---------------------------------------------------------------------------------------------
# All three


def merge_config(config: dict | None) -> dict:
    """``DEFAULT_CONFIG`` updated with ``config``; an unknown key is an error naming it."""
    merged = copy.deepcopy(DEFAULT_CONFIG)
    for key, value in (config or {}).items():
        if key not in merged:
            raise ValueError(f"unknown demo config key {key!r}; known: {sorted(merged)}")
        if isinstance(merged[key], dict):
            unknown = set(value) - set(merged[key])
            if unknown:
                raise ValueError(f"unknown demo config keys {sorted(unknown)} under {key!r}")
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def vocabulary_table() -> list[dict]:
    """The event types with their AudioSet classes (and 50-category, if any), for the manifest."""
    category_of = {
        name: category
        for category, names in read_categories()["category_to_audioset"].items()
        for name in names
    }
    return [
        {
            "event": event.name,
            "mid": event.mid,
            "display_name": event.display_name,
            "category_50": category_of.get(event.display_name),
            "min_duration": event.min_duration,
            "max_duration": event.max_duration,
        }
        for event in VOCABULARY
    ]


def _prepare_out_dir(out_dir: Path) -> None:
    """Empty ``out_dir`` of an earlier demo; refuse a folder that holds anything else."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = {path.name: path for path in out_dir.iterdir()}
    foreign = sorted(set(entries) - set(DEMO_ENTRIES))
    if foreign:
        raise FileExistsError(
            f"{out_dir} is not empty and holds files the demo did not write ({foreign[:5]}); "
            "choose an empty folder for the demo data"
        )
    for path in entries.values():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def make_demo_data(
    out_dir: str | os.PathLike, config: dict | None = None, workers: int = 1
) -> dict:
    """Write ``tacos/``, ``clotho/``, ``audioset/`` and ``demo_manifest.json`` under ``out_dir``.

    Clips are synthesised by ``workers`` processes; the bytes do not depend on it. Returns the
    manifest (sizes, seed, sample rate, counts and the vocabulary table).
    """
    out_dir = Path(out_dir)
    cfg = merge_config(config)
    _prepare_out_dir(out_dir)
    rate = int(cfg["sample_rate"])
    writers = {
        "tacos": write_tacos_demo,
        "clotho": write_clotho_demo,
        "audioset": write_audioset_demo,
    }
    seeds = np.random.SeedSequence(int(cfg["seed"])).spawn(len(writers))
    counts = {}
    for (name, write), seed in zip(writers.items(), seeds, strict=True):
        started = time.perf_counter()
        counts[name] = write(
            out_dir / name, seed=seed, sample_rate=rate, workers=workers, **cfg[name]
        )
        log.info("%s demo: %s in %.1f s", name, counts[name], time.perf_counter() - started)
    manifest = {
        "seed": int(cfg["seed"]),
        "sample_rate": rate,
        "sizes": {name: cfg[name] for name in writers},
        "counts": counts,
        "vocabulary": vocabulary_table(),
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (out_dir / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return manifest
