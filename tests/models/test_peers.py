"""The public-model adapters on tiny random checkpoints in the real folder layouts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tacos.models.peers.clap import ClapWindows
from tacos.models.peers.fixtures import TINY_WRITERS, write_tiny_clap, write_tiny_pe_audio_frame
from tacos.models.peers.pe_audio import PeAudioFrame
from tacos.models.peers.registry import ADAPTERS, load_peer

RATE = 48000
TEXTS = ["Bark", "Speech", "A siren wails.", "Music"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("peers")
    return {
        "pe": str(write_tiny_pe_audio_frame(root / "pe", TEXTS)),
        "clap": str(write_tiny_clap(root / "clap", TEXTS)),
    }


def pe_entry(folders, **extra) -> dict:
    return {"adapter": "pe_audio_frame", "path": folders["pe"], "sample_rate": RATE, **extra}


def clap_entry(folders, **extra) -> dict:
    entry = {"adapter": "clap", "path": folders["clap"], "sample_rate": RATE}
    return {**entry, "window_seconds": 1.0, "hop_seconds": 0.25, **extra}


@pytest.fixture(scope="module")
def pe(folders) -> PeAudioFrame:
    return load_peer("pe", pe_entry(folders, label="PE"))


@pytest.fixture(scope="module")
def clap(folders) -> ClapWindows:
    return load_peer("clap", clap_entry(folders, label="CLAP"))


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal(round(seconds * RATE)).astype("f4")


def test_every_adapter_has_a_tiny_writer():
    assert set(TINY_WRITERS) == set(ADAPTERS)


def test_pe_a_frame_gives_one_frame_every_40_ms(pe):
    assert (pe.sample_rate, pe.frame_step, pe.name) == (RATE, 0.04, "pe")
    assert pe.clip_frames(noise(9.97)).shape == (250, 32)  # ceil(9.97 / 0.04)
    assert pe.clip_frames(noise(10.0)).shape == (250, 32)


def test_pe_a_frame_scores_are_the_models_own_frame_logits(pe):
    waveform = noise(3.0)
    scores = pe.frame_scores(pe.clip_frames(waveform), pe.embed_text(TEXTS))
    tokens = pe.processor.tokenizer(TEXTS, padding=True, return_tensors="pt")
    audio = pe.processor.feature_extractor(waveform, sampling_rate=RATE, return_tensors="pt")
    with torch.no_grad():
        logits = pe.model(**tokens, **audio).logits_audio_text  # [audio, text, frames]
    assert scores.shape == (75, len(TEXTS)) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, logits[0].T.numpy(), rtol=1e-5, atol=1e-5)
    assert scores.std() > 0  # the tiny model's logit scale is not 0


def test_clap_windows_are_centred_on_their_frames_with_silence_past_the_clip(clap):
    waveform = np.arange(round(2.1 * RATE), dtype=np.float32)
    windows = clap.windows(waveform)
    assert windows.shape == (9, RATE)  # frame_count(2.1, 0.25) frames, 1 s each
    centre = round(0.625 * RATE)  # frame 2 covers [0.5, 0.75)
    np.testing.assert_array_equal(windows[2], waveform[centre - RATE // 2 : centre + RATE // 2])
    # frame 0's window starts 0.375 s before the clip: silence there
    first = round(0.375 * RATE)
    assert not windows[0][:first].any()
    np.testing.assert_array_equal(windows[0][first:], waveform[: RATE - first])
    # the last frame's window reaches past the clip's end
    end = len(waveform) - (round(2.125 * RATE) - RATE // 2)
    np.testing.assert_array_equal(windows[-1][:end], waveform[-end:])
    assert not windows[-1][end:].any()


def test_clap_scores_are_the_models_own_logits_of_each_window(clap):
    waveform = noise(2.0, seed=1)
    frames = clap.clip_frames(waveform)
    scores = clap.frame_scores(frames, clap.embed_text(TEXTS))
    tokens = clap.processor.tokenizer(TEXTS, padding=True, return_tensors="pt")
    window = clap.windows(waveform)[3]
    features = clap.processor.feature_extractor([window], sampling_rate=RATE, return_tensors="pt")
    with torch.no_grad():
        logits = clap.model(**tokens, **features).logits_per_audio
    assert scores.shape == (8, len(TEXTS))
    np.testing.assert_allclose(scores[3], logits[0].numpy(), rtol=1e-5, atol=1e-5)


def test_clap_windows_batch_without_changing_the_embeddings(folders, clap):
    waveform = noise(3.0, seed=2)
    small = load_peer("clap", clap_entry(folders, windows_per_batch=5))
    torch.testing.assert_close(small.clip_frames(waveform), clap.clip_frames(waveform))


def test_identity_records_the_adapter_and_its_settings(clap):
    assert clap.identity("models/clap") == {
        "stage": "peer",
        "delta": 0.25,
        "seed": None,
        "checkpoint": "models/clap",
        "protocol": {
            "peer": "clap",
            "adapter": "clap",
            "scores": "window logits (cosine x exp(logit_scale_a))",
            "window_seconds": 1.0,
            "hop_seconds": 0.25,
        },
    }


def test_a_missing_folder_says_how_to_download_it(tmp_path):
    entry = {"adapter": "clap", "path": str(tmp_path / "absent"), "sample_rate": RATE}
    entry["source"] = "laion/clap-htsat-unfused"
    with pytest.raises(FileNotFoundError) as error:
        load_peer("clap_htsat_unfused", entry)
    message = str(error.value)
    assert f"no model folder at {tmp_path / 'absent'}" in message
    assert f"hf download laion/clap-htsat-unfused --local-dir {tmp_path / 'absent'}" in message
    assert "peers.models.clap_htsat_unfused.path" in message


def test_a_folder_without_weights_names_the_folder(tmp_path, folders):
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(Path(folders["pe"]) / "config.json", broken / "config.json")
    with pytest.raises(ValueError, match=f"cannot load {broken} as a pe_audio_frame checkpoint"):
        load_peer("pe", pe_entry({"pe": str(broken)}))


def test_an_unknown_adapter_or_setting_is_refused(folders):
    with pytest.raises(ValueError, match="unknown peer adapter 'beats'"):
        load_peer("x", {"adapter": "beats", "path": folders["pe"], "sample_rate": RATE})
    with pytest.raises(ValueError, match=r"takes no settings \['hop_seconds'\]"):
        load_peer("pe", pe_entry(folders, hop_seconds=0.1))


def test_a_sample_rate_other_than_the_checkpoints_is_refused(folders):
    with pytest.raises(ValueError, match="takes 48000 Hz audio but its config entry says"):
        load_peer("pe", pe_entry(folders, sample_rate=32000))


def test_clap_windows_must_fit_the_models_input(folders):
    with pytest.raises(ValueError, match="0 < hop_seconds <= window_seconds"):
        load_peer("clap", clap_entry(folders, hop_seconds=2.0))
    with pytest.raises(ValueError, match="exceeds the model's 10 s input"):
        load_peer("clap", clap_entry(folders, window_seconds=12.0, hop_seconds=1.0))
