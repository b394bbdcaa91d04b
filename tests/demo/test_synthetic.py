"""The demo datasets: deterministic bytes, the releases' exact formats, sane regions and captions,
real AudioSet classes and acoustically distinct event types."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from tacos.data.audio import audio_info
from tacos.data.audioset import read_categories, read_class_list, read_mid_map, resource_path
from tacos.demo import VOCABULARY, compose_scene, make_demo_data, synthesize_event
from tacos.demo.captions import (
    CORRUPTION_KINDS,
    EVENT_WORDS,
    FIRST_PERSON,
    HEDGES,
    OPINIONS,
    TRANSCRIPTS,
    VISUAL_REFERENCES,
    clotho_captions,
    corrupt_caption,
    raw_caption,
    words_of,
)
from tacos.demo.datasets import merge_config

RATE = 16000
TINY = {
    "seed": 7,
    "sample_rate": RATE,
    "tacos": {
        "n_development": 6,
        "n_test": 3,
        "min_duration": 4.0,
        "max_duration": 6.0,
        "max_regions": 4,
    },
    "clotho": {
        "n_development": 2,
        "n_validation": 1,
        "n_evaluation": 1,
        "min_duration": 3.0,
        "max_duration": 4.0,
    },
    "audioset": {"n_eval": 4, "duration": 10.0},
}
TACOS_METADATA_HEADER = (
    "filename,keywords,freesound_id,sound_link,manufacturer,license,superclass,subclass,title,"
    "description,duration,original_samplerate,original_bitdepth,original_file_type,"
    "num_downloads,avg_rating,geotag,start_time_s,end_time_s,original_filename"
)


def digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def read_rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def event_named_by(caption: str) -> str:
    """The one event whose keywords a caption uses."""
    words = set(words_of(caption))
    named = [name for name, entry in EVENT_WORDS.items() if words & set(entry.keywords)]
    assert len(named) == 1, (caption, named)
    return named[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    make_demo_data(root, TINY)
    return root


def test_same_seed_gives_byte_identical_output_with_any_worker_count(demo, tmp_path):
    make_demo_data(tmp_path / "again", TINY, workers=2)
    first, second = digests(demo), digests(tmp_path / "again")
    assert len(first) == 9 + 4 + 4 + 15  # tacos, clotho, audioset audio; text files
    assert first == second


def test_rerun_replaces_an_earlier_demo_but_refuses_a_foreign_folder(demo, tmp_path):
    before = digests(demo)
    (demo / "demo_manifest.json").unlink()  # Snakemake deletes a rule's output before a rerun
    make_demo_data(demo, TINY)
    assert digests(demo) == before
    (tmp_path / "tacos").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"did not write \(\['notes.txt'\]\)"):
        make_demo_data(tmp_path, TINY)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_other_seed_changes_every_dataset(demo, tmp_path):
    make_demo_data(tmp_path, {**TINY, "seed": 8})
    first, other = digests(demo), digests(tmp_path)
    for name in (
        "tacos/annotations_strong.csv",
        "clotho/clotho_captions_development.csv",
        "audioset/audioset_eval_strong.tsv",
    ):
        assert first[name] != other[name]


def test_resizing_one_dataset_leaves_the_others_identical(demo, tmp_path):
    resized = {**TINY, "clotho": {**TINY["clotho"], "n_development": 3}}
    make_demo_data(tmp_path, resized)
    first, other = digests(demo), digests(tmp_path)
    for prefix in ("tacos/", "audioset/"):
        assert {k: v for k, v in first.items() if k.startswith(prefix)} == {
            k: v for k, v in other.items() if k.startswith(prefix)
        }
    assert (
        first["clotho/clotho_captions_development.csv"]
        != other["clotho/clotho_captions_development.csv"]
    )


def test_every_text_file_has_the_release_header_and_unix_newlines(demo):
    headers = {
        "tacos/annotations_strong.csv": "filename,text,onset,offset",
        "tacos/annotations_strong_raw.csv": "filename,text,onset,offset",
        "tacos/annotations_weak.csv": "filename,text",
        "tacos/metadata.csv": TACOS_METADATA_HEADER,
        "tacos/development_split.csv": "filename",
        "tacos/test_split.csv": "filename",
        "audioset/audioset_eval_strong.tsv": "segment_id\tstart_time_seconds\t"
        "end_time_seconds\tlabel",
    }
    for split in ("development", "validation", "evaluation"):
        headers[f"clotho/clotho_captions_{split}.csv"] = (
            "file_name,caption_1,caption_2,caption_3,caption_4,caption_5"
        )
        headers[f"clotho/clotho_metadata_{split}.csv"] = (
            "file_name,keywords,sound_id,sound_link,start_end_samples,manufacturer,license"
        )
    for name, header in headers.items():
        data = (demo / name).read_bytes()
        assert b"\r" not in data
        assert data.decode("utf-8").split("\n")[0] == header
    mids = demo / "audioset/mid_to_display_name.tsv"
    assert mids.read_bytes() == resource_path("mid_to_display_name.tsv").read_bytes()


def test_tacos_files_agree_and_audio_matches_metadata(demo):
    tacos = demo / "tacos"
    metadata = read_rows(tacos / "metadata.csv")
    dev = [row["filename"] for row in read_rows(tacos / "development_split.csv")]
    test = [row["filename"] for row in read_rows(tacos / "test_split.csv")]
    assert (len(dev), len(test)) == (6, 3)
    assert sorted(dev + test) == sorted(row["filename"] for row in metadata)
    weak = [row["filename"] for row in read_rows(tacos / "annotations_weak.csv")]
    assert weak == [row["filename"] for row in metadata]
    for row in metadata:
        assert row["filename"] == f"{row['freesound_id']}.mp3"
        assert row["sound_link"].endswith(f"/sounds/{row['freesound_id']}/")
        clip_length = float(row["end_time_s"]) - float(row["start_time_s"])
        assert float(row["duration"]) >= float(row["end_time_s"])
        info = audio_info(tacos / "audio" / row["filename"])
        assert info.sample_rate == RATE
        assert abs(info.duration - clip_length) < 0.005
        assert 4.0 <= info.duration <= 6.0


def test_clotho_and_audioset_audio_decode_at_the_configured_rate_and_length(demo):
    for split, count in (("development", 2), ("validation", 1), ("evaluation", 1)):
        rows = read_rows(demo / f"clotho/clotho_captions_{split}.csv")
        assert len(rows) == count
        for row in rows:
            assert re.fullmatch(r"clip_\d{5}\.wav", row["file_name"])
            info = audio_info(demo / "clotho" / split / row["file_name"])
            assert info.sample_rate == RATE and 3.0 <= info.duration <= 4.0
    labels = read_rows(demo / "audioset/audioset_eval_strong.tsv", delimiter="\t")
    segments = sorted({row["segment_id"] for row in labels})
    assert len(segments) == 4
    for segment in segments:
        ytid, start_ms = segment.rsplit("_", 1)
        assert re.fullmatch(r"[A-Za-z0-9_-]{11}", ytid) and int(start_ms) % 1000 == 0
        info = audio_info(demo / "audioset/audio" / f"Y{ytid}.wav")
        assert (info.sample_rate, info.frames) == (RATE, 10 * RATE)


def test_regions_lie_inside_their_clips(demo):
    durations = {
        row["filename"]: audio_info(demo / "tacos/audio" / row["filename"]).duration
        for row in read_rows(demo / "tacos/metadata.csv")
    }
    per_file: dict[str, int] = {}
    for row in read_rows(demo / "tacos/annotations_strong.csv"):
        onset, offset = float(row["onset"]), float(row["offset"])
        assert 0.0 <= onset < offset <= durations[row["filename"]] + 1e-9
        per_file[row["filename"]] = per_file.get(row["filename"], 0) + 1
    assert set(per_file) == set(durations)
    assert all(1 <= count <= 4 for count in per_file.values())
    mid_of = {event.mid for event in VOCABULARY}
    for row in read_rows(demo / "audioset/audioset_eval_strong.tsv", delimiter="\t"):
        assert 0.0 <= float(row["start_time_seconds"]) < float(row["end_time_seconds"]) <= 10.0
        assert row["label"] in mid_of


def test_scenes_have_short_and_overlapping_events_and_cover_the_vocabulary():
    rng = np.random.default_rng(3)
    scenes = [compose_scene(rng, 12.0, RATE, 6, VOCABULARY[i % 16].name) for i in range(32)]
    regions = [region for scene in scenes for region in scene.regions]
    assert {region.event for region in regions} == {event.name for event in VOCABULARY}
    assert any(region.offset - region.onset < 1.0 for region in regions)
    assert any(
        a.offset > b.onset
        for scene in scenes
        for a, b in zip(scene.regions, scene.regions[1:], strict=False)
    )
    for scene in scenes:
        assert 1 <= len(scene.regions) <= 6
        assert len({region.event for region in scene.regions}) == len(scene.regions)
        assert all(
            r.onset == round(r.onset, 3) and r.offset == round(r.offset, 3) for r in scene.regions
        )
        assert np.abs(scene.waveform).max() <= 0.95 + 1e-6


def test_weak_caption_names_the_strong_events_in_temporal_order(demo):
    strong: dict[str, list[str]] = {}
    for row in read_rows(demo / "tacos/annotations_strong.csv"):
        strong.setdefault(row["filename"], []).append(event_named_by(row["text"]))
    for row in read_rows(demo / "tacos/annotations_weak.csv"):
        words = words_of(row["text"])
        positions = [
            min(i for i, word in enumerate(words) if word in EVENT_WORDS[event].keywords)
            for event in strong[row["filename"]]
        ]
        assert positions == sorted(positions), (row["text"], strong[row["filename"]])
        assert row["text"].endswith(".") and row["text"].count(".") == 1


def test_raw_captions_are_corrupted_copies_of_the_clean_regions(demo):
    clean = read_rows(demo / "tacos/annotations_strong.csv")
    raw = read_rows(demo / "tacos/annotations_strong_raw.csv")
    assert [(r["filename"], r["onset"], r["offset"]) for r in raw] == [
        (r["filename"], r["onset"], r["offset"]) for r in clean
    ]
    assert all(a["text"] != b["text"] for a, b in zip(raw, clean, strict=True))


def test_raw_caption_corruptions_each_leave_their_mark():
    rng = np.random.default_rng(0)
    clean = "A dog barks loudly."
    marks = {
        "hedge": lambda text: text.lower().startswith(tuple(h.lower() for h in HEDGES)),
        "first_person": lambda text: text.startswith(FIRST_PERSON),
        "visual": lambda text: any(v in text for v in VISUAL_REFERENCES),
        "opinion": lambda text: any(o in text for o in OPINIONS),
        "transcript": lambda text: any(f'"{t}"' in text for t in TRANSCRIPTS),
    }
    for kind, has_mark in marks.items():
        corrupted = corrupt_caption(clean, (kind,), rng)
        assert has_mark(corrupted), (kind, corrupted)
        assert not has_mark(clean)
    typo = corrupt_caption(clean, ("typo",), rng)
    assert typo != "A dog barks loudly" and abs(len(typo) - len(clean) + 1) <= 1
    seen = [raw_caption(clean, "speech", rng) for _ in range(200)]
    for kind, has_mark in marks.items():
        assert any(has_mark(text) for text in seen), kind
    assert set(CORRUPTION_KINDS) == set(marks) | {"typo"}
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt_caption(clean, ("shouting",), rng)


def test_every_paraphrase_names_its_own_event_and_no_other():
    assert set(EVENT_WORDS) == {event.name for event in VOCABULARY}
    for name, entry in EVENT_WORDS.items():
        assert len(set(entry.paraphrases)) >= 10
        for text in entry.paraphrases:
            assert event_named_by(text) == name


def test_clotho_captions_differ_and_name_every_event_without_timing():
    rng = np.random.default_rng(1)
    events = ["rain", "dog_bark", "bell"]
    captions = clotho_captions(events, rng)
    assert len(set(captions)) == 5
    for caption in captions:
        words = set(words_of(caption))
        assert all(words & set(EVENT_WORDS[event].keywords) for event in events)
        assert not words & {"then", "after", "before", "later"}


def test_vocabulary_uses_real_evaluated_audioset_classes():
    mids = read_mid_map()
    evaluated = set(read_class_list("eval_train"))
    in_categories = {
        name for names in read_categories()["category_to_audioset"].values() for name in names
    }
    assert len(VOCABULARY) >= 12
    assert len({event.mid for event in VOCABULARY}) == len(VOCABULARY)
    for event in VOCABULARY:
        assert mids[event.mid] == event.display_name
        assert event.display_name in evaluated
        assert 0.0 < event.min_duration < event.max_duration
    assert sum(event.display_name in in_categories for event in VOCABULARY) >= 10
    assert sum(event.min_duration < 1.0 for event in VOCABULARY) >= 3


def band_spectrum_db(wave: np.ndarray) -> np.ndarray:
    """Mean power in 40 mel-spaced bands (dB), level-normalised."""
    frame = 512
    starts = np.arange(0, max(1, len(wave) - frame), frame // 2)
    frames = np.stack(
        [np.pad(wave[s : s + frame], (0, frame - len(wave[s : s + frame]))) for s in starts]
    )
    power = (np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)) ** 2).mean(axis=0)
    mel = 2595.0 * np.log10(1.0 + np.fft.rfftfreq(frame, 1.0 / RATE) / 700.0)
    band = np.minimum((mel / mel.max() * 40).astype(int), 39)
    db = 10.0 * np.log10(np.bincount(band, weights=power, minlength=40) + 1e-12)
    return db - db.mean()


def test_event_types_have_clearly_different_spectra():
    rng = np.random.default_rng(5)
    spectra = {
        event.name: np.stack(
            [
                band_spectrum_db(
                    synthesize_event(
                        event, rng, rng.uniform(event.min_duration, event.max_duration), RATE
                    )
                )
                for _ in range(6)
            ]
        )
        for event in VOCABULARY
    }
    centroids = {name: s[:4].mean(axis=0) for name, s in spectra.items()}
    names = list(centroids)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            rms_db = np.sqrt(np.mean((centroids[a] - centroids[b]) ** 2))
            assert rms_db > 6.0, (a, b, rms_db)
    held_out = [(name, s) for name, stack in spectra.items() for s in stack[4:]]
    correct = sum(
        min(names, key=lambda c: np.sum((centroids[c] - s) ** 2)) == name for name, s in held_out
    )
    assert correct >= 0.9 * len(held_out)


def test_events_fit_their_requested_length_and_short_ones_stay_short():
    rng = np.random.default_rng(2)
    for event in VOCABULARY:
        length = rng.uniform(event.min_duration, event.max_duration)
        wave = synthesize_event(event, rng, length, RATE)
        assert 0.5 * event.min_duration * RATE <= len(wave) <= round(length * RATE)
        assert np.abs(wave).max() == pytest.approx(1.0)
    knock = synthesize_event(VOCABULARY[3], rng, 0.5, RATE)
    assert len(knock) < RATE


def test_config_rejects_unknown_keys_and_keeps_defaults():
    merged = merge_config({"tacos": {"n_test": 5}})
    assert merged["tacos"]["n_test"] == 5 and merged["tacos"]["n_development"] == 160
    with pytest.raises(ValueError, match="unknown demo config key"):
        merge_config({"tacos_size": 3})
    with pytest.raises(ValueError, match="n_dev"):
        merge_config({"tacos": {"n_dev": 3}})
