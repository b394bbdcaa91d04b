"""The decoded-audio store: exact round trips, crops, resumable builds, skips, worker safety."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

import tacos.data.store as store_module
from tacos.data.audio import load_audio, write_audio
from tacos.data.manifest import Clip, write_manifest
from tacos.data.report import DataFormatError
from tacos.data.store import AudioStore, build_audio_store, report_path

SOURCE_RATE = 32_000
STORE_RATE = 16_000
FRAMES = (16_000, 32_001, 24_000, 8_000, 20_000)
FORMATS = ("mp3", "wav", "flac")


def _waveform(frames: int, seed: int, sample_rate: int = SOURCE_RATE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    time = np.arange(frames) / sample_rate
    tone = 0.5 * np.sin(2 * np.pi * (200 + 100 * seed) * time)
    return (tone + 0.05 * rng.standard_normal(frames)).astype(np.float32)


def _make_clips(
    folder: Path, frames: tuple[int, ...], sample_rate: int = SOURCE_RATE, formats=FORMATS
) -> list[Clip]:
    clips = []
    for index, count in enumerate(frames):
        path = folder / f"clip{index}.{formats[index % len(formats)]}"
        write_audio(path, _waveform(count, index, sample_rate), sample_rate)
        clips.append(Clip(f"clip{index}", str(path), count / sample_rate, (f"caption {index}",)))
    return clips


@pytest.fixture
def clips(tmp_path: Path) -> list[Clip]:
    return _make_clips(tmp_path, FRAMES)


def _quantisation_error(waveform: np.ndarray) -> float:
    """Half an int16 step of the clip's scale plus the float32 rounding of ``int16 * scale``."""
    peak = float(np.abs(waveform).max())
    return peak / 32767 / 2 + peak * float(np.finfo(np.float32).eps)


def _contents(path: Path) -> dict:
    """Every dataset and attribute of a store file, for exact comparison."""
    with h5py.File(path, "r") as handle:
        data = {name: handle[name][:] for name in handle}
        attrs = {key: handle.attrs[key] for key in handle.attrs}
    return {"data": data, "attrs": attrs}


def _assert_same_store(path: Path, reference: Path) -> None:
    got, expected = _contents(path), _contents(reference)
    assert got["attrs"] == expected["attrs"]
    assert sorted(got["data"]) == sorted(expected["data"])
    for name, values in expected["data"].items():
        assert got["data"][name].dtype == values.dtype, name
        np.testing.assert_array_equal(got["data"][name], values, err_msg=name)


def _decoder(crash_paths: set[str], decoded: list[str]):
    """A load_audio stand-in that records each decode and crashes on ``crash_paths``."""

    def decode(path, sample_rate=None):
        if str(path) in crash_paths:
            raise RuntimeError("simulated crash")
        decoded.append(str(path))
        return load_audio(path, sample_rate)

    return decode


def _interrupt(clips: list[Clip], out: Path, monkeypatch, after: int) -> None:
    """Run a build that crashes when it reaches clip ``after``."""
    crash_paths = {clip.audio_path for clip in clips[after:]}
    monkeypatch.setattr(store_module, "load_audio", _decoder(crash_paths, []))
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_audio_store(clips, out, STORE_RATE, threads=2, progress=False)


def _count_decodes(monkeypatch) -> list[str]:
    decoded: list[str] = []
    monkeypatch.setattr(store_module, "load_audio", _decoder(set(), decoded))
    return decoded


def test_store_returns_the_decoded_waveform_within_int16_quantisation(tmp_path, clips):
    out = tmp_path / "store.h5"
    build_audio_store(clips, out, STORE_RATE, threads=2, progress=False)
    store = AudioStore(out)
    for clip in clips:
        expected = load_audio(clip.audio_path, STORE_RATE)
        got = store[clip.clip_id]
        assert got.dtype == np.float32
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= _quantisation_error(expected)


def test_resampled_length_is_the_rounded_half_up_ratio(tmp_path):
    clips = _make_clips(tmp_path, (32_000, 32_001, 7), formats=("wav",))
    (tmp_path / "native").mkdir()
    [native] = _make_clips(tmp_path / "native", (16_001,), STORE_RATE, formats=("wav",))
    native = dataclasses.replace(native, clip_id="native")
    out = tmp_path / "store.h5"
    build_audio_store([*clips, native], out, STORE_RATE, progress=False)
    store = AudioStore(out)
    assert [store.num_samples(clip.clip_id) for clip in clips] == [16_000, 16_001, 4]
    assert store.num_samples("native") == 16_001
    original = load_audio(native.audio_path)
    assert np.abs(store["native"] - original).max() <= _quantisation_error(original)


def test_crops_are_slices_of_the_full_waveform(tmp_path, clips):
    out = tmp_path / "store.h5"
    build_audio_store(clips, out, STORE_RATE, progress=False)
    store = AudioStore(out)
    full = store["clip0"]
    assert full.shape == (8_000,)
    np.testing.assert_array_equal(
        store.read("clip0", start_s=0.125, duration_s=0.25), full[2_000:6_000]
    )
    np.testing.assert_array_equal(store.read("clip0", duration_s=0.1), full[:1_600])
    np.testing.assert_array_equal(store.read("clip0", start_s=0.4), full[6_400:])
    np.testing.assert_array_equal(store.read("clip0", start_s=0.4, duration_s=9.0), full[6_400:])
    assert store.read("clip0", start_s=3.0, duration_s=1.0).shape == (0,)
    with pytest.raises(ValueError, match="start_s >= 0"):
        store.read("clip0", start_s=-0.5)


def test_index_lists_ids_in_manifest_order_with_durations(tmp_path, clips):
    manifest = tmp_path / "manifest.jsonl"
    write_manifest(clips, manifest)
    out = tmp_path / "store.h5"
    build_audio_store(manifest, out, STORE_RATE, progress=False)
    store = AudioStore(out)
    assert store.ids == ("clip0", "clip1", "clip2", "clip3", "clip4")
    assert len(store) == 5
    assert store.sample_rate == STORE_RATE
    assert store.duration("clip1") == 16_001 / STORE_RATE
    assert store.duration("clip2") == 0.75
    assert "clip3" in store and "clip9" not in store
    assert store.manifest_sha256 == hashlib.sha256(manifest.read_bytes()).hexdigest()
    with pytest.raises(KeyError, match="clip9"):
        store["clip9"]


def test_interrupted_build_resumes_after_the_last_written_clip(tmp_path, clips, monkeypatch):
    reference = tmp_path / "reference.h5"
    build_audio_store(clips, reference, STORE_RATE, progress=False)
    out = tmp_path / "store.h5"
    _interrupt(clips, out, monkeypatch, after=3)
    partial = tmp_path / "store.h5.partial"
    assert partial.exists() and not out.exists()
    with pytest.raises(DataFormatError, match="incomplete"):
        AudioStore(partial)

    decoded = _count_decodes(monkeypatch)
    build_audio_store(clips, out, STORE_RATE, threads=2, progress=False)

    assert sorted(decoded) == [clip.audio_path for clip in clips[3:]]
    assert not partial.exists()
    _assert_same_store(out, reference)


def _build_then_die(clips: list[Clip], out: Path, writes: int) -> None:
    """Child process: build, and exit hard (no cleanup at all) on writing clip ``writes``."""
    real_quantise = store_module.quantise
    calls = []

    def quantise(waveform):
        calls.append(1)
        if len(calls) > writes:
            os._exit(3)
        return real_quantise(waveform)

    store_module.quantise = quantise
    build_audio_store(clips, out, STORE_RATE, threads=2, checkpoint_every=2, progress=False)


def test_hard_crash_resumes_from_the_last_checkpoint(tmp_path, clips, monkeypatch):
    reference = tmp_path / "reference.h5"
    build_audio_store(clips, reference, STORE_RATE, progress=False)
    out = tmp_path / "store.h5"
    child = multiprocessing.get_context("fork").Process(
        target=_build_then_die, args=(clips, out, 3)
    )
    child.start()
    child.join()
    assert child.exitcode == 3

    decoded = _count_decodes(monkeypatch)
    build_audio_store(clips, out, STORE_RATE, progress=False)

    assert decoded == [clip.audio_path for clip in clips[2:]]
    _assert_same_store(out, reference)


@pytest.mark.parametrize("change", ["manifest", "sample_rate"])
def test_partial_from_other_inputs_is_rebuilt_from_scratch(tmp_path, clips, monkeypatch, change):
    changed_clips, sample_rate = clips, STORE_RATE
    if change == "manifest":
        changed_clips = [*clips[:4], dataclasses.replace(clips[4], captions=("other caption",))]
    else:
        sample_rate = 8_000
    reference = tmp_path / "reference.h5"
    build_audio_store(changed_clips, reference, sample_rate, progress=False)
    out = tmp_path / "store.h5"
    _interrupt(clips, out, monkeypatch, after=3)

    decoded = _count_decodes(monkeypatch)
    build_audio_store(changed_clips, out, sample_rate, progress=False)

    assert decoded == [clip.audio_path for clip in changed_clips]
    _assert_same_store(out, reference)


@pytest.mark.parametrize("interrupted", [False, True])
def test_undecodable_clip_is_skipped_and_reported(tmp_path, clips, monkeypatch, interrupted):
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"this is not audio" * 10)
    clips = [clips[0], Clip("broken", str(broken), 1.0), *clips[1:]]
    out = tmp_path / "store.h5"
    if interrupted:
        _interrupt(clips, out, monkeypatch, after=3)
        monkeypatch.undo()

    report = build_audio_store(clips, out, STORE_RATE, progress=False)

    assert AudioStore(out).ids == ("clip0", "clip1", "clip2", "clip3", "clip4")
    saved = json.loads(report_path(out).read_text())
    assert saved == report.to_dict()
    assert saved["skipped"] == {"undecodable audio": 1}
    assert saved["kept"] == {"clips": 5}
    [example] = saved["examples"]["undecodable audio"]
    assert example["file"] == str(broken)
    assert example["reason"].startswith(f"clip broken: {broken}: cannot decode audio")


def test_duplicate_clip_ids_are_refused(tmp_path, clips):
    with pytest.raises(DataFormatError, match="'clip0' occurs twice"):
        build_audio_store([*clips, clips[0]], tmp_path / "store.h5", STORE_RATE, progress=False)


@pytest.fixture
def small_store(tmp_path, clips) -> Iterator[AudioStore]:
    out = tmp_path / "store.h5"
    build_audio_store(clips[:2], out, STORE_RATE, progress=False)
    with AudioStore(out) as store:
        yield store


def _send_crop(store: AudioStore, queue) -> None:
    queue.put(store.read("clip1", 0.5))


def test_forked_child_reads_through_its_own_handle(small_store):
    expected = small_store.read("clip1", start_s=0.5)  # the parent now holds an open handle
    fork = multiprocessing.get_context("fork")
    queue = fork.Queue()
    child = fork.Process(target=_send_crop, args=(small_store, queue))  # inherits the store
    child.start()
    got = queue.get(timeout=60)
    child.join()
    assert child.exitcode == 0
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(small_store.read("clip1", start_s=0.5), expected)


def test_pickled_store_reads_in_a_spawned_child(small_store):
    expected = small_store.read("clip1", start_s=0.5)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(small_store))["clip1"], small_store["clip1"]
    )
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        got = pool.apply(small_store.read, ("clip1", 0.5))
    np.testing.assert_array_equal(got, expected)
