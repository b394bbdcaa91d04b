"""Scoring a trained model on AudioSet-like clips and assembling the results JSON."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tiny_model import RATE, TINY_MODEL

import tacos.logs
from tacos.data.audio import write_audio
from tacos.data.manifest import Clip, Region, write_manifest
from tacos.data.store import AudioStore, build_audio_store
from tacos.evaluation.report import evaluate, write_results
from tacos.evaluation.scores import ScoreReader, frames_within
from tacos.evaluation.scoring import (
    ScoreTarget,
    padded_samples,
    query_set,
    score_clips,
    score_query_sets,
)
from tacos.models.checkpoint import load_model_weights, load_trained_model
from tacos.models.dual import build_model

# (clip id, duration, regions named by AudioSet display name); Yclip4 has no audio in the store
CLIPS = [
    ("Yclip0", 10.0, [("Speech", 1.0, 3.0), ("Bark", 4.0, 6.0)]),
    ("Yclip1", 10.0, [("Male speech, man speaking", 0.0, 2.5), ("Bark", 5.0, 8.0)]),
    ("Yclip2", 9.5, [("Siren", 2.0, 7.0)]),
    ("Yclip3", 10.0, [("Conversation", 1.5, 4.0), ("Speech", 3.0, 5.0)]),
    ("Yclip4", 10.0, [("Siren", 0.0, 1.0)]),
]
THREE_QUERIES = (["Bark", "Siren", "Speech"], ["Bark", "A siren wails.", "Speech"])
RESULT_KEYS = ["model", "query_set", "n_clips", "n_clips_missing", "metrics", "bootstrap", "notes"]
METRIC_KEYS = ["psds1", "psds1_macro", "pauroc", "n_classes", "psds1_per_class", "pauroc_per_class"]
MODEL_INFO = {"stage": "strong", "delta": 0.04, "seed": 1, "checkpoint": "model.ckpt"}


def save_checkpoint(path: Path, model: torch.nn.Module, config: dict | None) -> Path:
    state = {"model." + key: value for key, value in model.state_dict().items()}
    checkpoint = {"state_dict": state}
    if config is not None:
        checkpoint["tacos_model_config"] = config
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build_model(TINY_MODEL)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "model.ckpt", model, TINY_MODEL)


@pytest.fixture(scope="module")
def model(checkpoint):
    return load_trained_model(checkpoint)


@pytest.fixture(scope="module")
def audioset(tmp_path_factory) -> dict[str, Path]:
    """A manifest of five clips (one without audio in the store), the store and a report."""
    root = tmp_path_factory.mktemp("audioset")
    rng = np.random.default_rng(0)
    clips = []
    for index, (clip_id, duration, regions) in enumerate(CLIPS):
        time = np.arange(round(duration * RATE)) / RATE
        audio = 0.01 * rng.standard_normal(len(time))
        for onset, offset in [(onset, offset) for _, onset, offset in regions]:
            inside = (time >= onset) & (time < offset)
            audio[inside] += 0.3 * np.sin(2 * np.pi * 400 * (index + 1) * time[inside])
        path = root / f"{clip_id}.wav"
        write_audio(path, audio, RATE)
        clips.append(
            Clip(
                clip_id,
                str(path),
                duration,
                regions=tuple(Region(name, on, off, "/m/x") for name, on, off in regions),
                split="eval",
            )
        )
    write_manifest(clips[:-1], root / "stored.jsonl")
    build_audio_store(root / "stored.jsonl", root / "eval.h5", RATE, progress=False)
    write_manifest(clips, root / "eval.jsonl")
    report = {"dataset": "audioset", "skipped": {"missing_audio": 2, "unknown_mid": 7}}
    (root / "report.json").write_text(json.dumps(report))
    return {
        "manifest": root / "eval.jsonl",
        "stored": root / "stored.jsonl",
        "store": root / "eval.h5",
        "report": root / "report.json",
    }


def test_trained_model_round_trips_through_its_checkpoint(checkpoint, model):
    saved = torch.load(checkpoint, weights_only=False)["state_dict"]
    assert not model.training
    assert (model.delta, model.sample_rate) == (0.04, RATE)
    assert sorted("model." + name for name in model.state_dict()) == sorted(saved)
    for name, value in model.state_dict().items():
        assert torch.equal(value, saved["model." + name]), name
    torch.manual_seed(1)
    other = build_model(TINY_MODEL)
    load_model_weights(other, checkpoint)
    assert torch.equal(other.head.weight, saved["model.head.weight"])


def test_checkpoint_errors_name_the_file(tmp_path, model):
    with pytest.raises(FileNotFoundError, match="nowhere.ckpt"):
        load_trained_model(tmp_path / "nowhere.ckpt")
    bare = save_checkpoint(tmp_path / "bare.ckpt", model, None)
    with pytest.raises(ValueError, match="bare.ckpt holds no model config"):
        load_trained_model(bare)


def test_query_sets_are_display_names_and_category_sentences():
    names, queries = query_set("classes407")
    assert len(names) == 407 and queries == names
    assert "Male speech, man speaking" in names
    categories, sentences = query_set("categories50")
    assert len(categories) == len(sentences) == 50
    assert sentences[categories.index("Dog Bark")] == "A dog is barking."
    with pytest.raises(ValueError, match="unknown query set 'classes416'"):
        query_set("classes416")


def test_batches_are_padded_to_ten_seconds_at_least_in_whole_frames():
    assert padded_samples(round(9.5 * RATE), RATE, 0.04, 10.0) == 10 * RATE
    assert padded_samples(10 * RATE, RATE, 0.04, 10.0) == 10 * RATE
    assert padded_samples(10 * RATE + 1, RATE, 0.04, 10.0) == 10 * RATE + 640
    assert padded_samples(100, 32000, 0.02, 0.0) == 640


def test_scores_are_trimmed_cosines_and_do_not_depend_on_the_batch(model, audioset, tmp_path):
    names, queries = THREE_QUERIES
    run = score_clips(
        model,
        audioset["manifest"],
        audioset["store"],
        names,
        queries,
        tmp_path / "a.h5",
        batch_size=3,
        progress=False,
    )
    assert (run.n_scored, run.missing_clip_ids) == (4, ("Yclip4",))
    score_clips(
        model,
        audioset["manifest"],
        audioset["store"],
        names,
        queries,
        tmp_path / "b.h5",
        batch_size=1,
        progress=False,
    )
    with ScoreReader(run.path) as reader, ScoreReader(tmp_path / "b.h5") as single:
        assert reader.clip_ids == ["Yclip0", "Yclip1", "Yclip2", "Yclip3"]
        assert reader.class_names == names
        assert reader.n_frames.tolist() == [250, 250, 238, 250]
        assert reader.n_frames.tolist() == [frames_within(d, 0.04) for d in (10, 10, 9.5, 10)]
        stored = reader.clip_scores(2)
        np.testing.assert_allclose(single.clip_scores(2), stored, atol=1e-6)

    waveform = torch.zeros(1, 10 * RATE)
    audio = _read(audioset["store"], "Yclip2")
    waveform[0, : len(audio)] = torch.from_numpy(audio)
    with torch.no_grad():
        frames, _, _ = model.embed_audio(waveform, torch.tensor([len(audio)]))
        text = model.embed_text(queries)
    expected = (frames[0] @ text.T)[:238].numpy()
    np.testing.assert_allclose(stored, expected, atol=1e-5)
    assert np.abs(stored).max() <= 1.0 + 1e-6


def test_several_query_sets_scored_in_one_pass_equal_separate_runs(model, audioset, tmp_path):
    names, queries = THREE_QUERIES
    targets = [
        ScoreTarget(names, queries, tmp_path / "three.h5"),
        ScoreTarget(names[:1], queries[:1], tmp_path / "one.h5"),
    ]
    runs = score_query_sets(
        model, audioset["manifest"], audioset["store"], targets, batch_size=2, progress=False
    )
    assert [run.n_scored for run in runs] == [4, 4]
    alone = score_clips(
        model,
        audioset["manifest"],
        audioset["store"],
        names[:1],
        queries[:1],
        tmp_path / "alone.h5",
        batch_size=2,
        progress=False,
    )
    with ScoreReader(runs[1].path) as together, ScoreReader(alone.path) as single:
        assert together.class_names == single.class_names == names[:1]
        for index in range(4):
            np.testing.assert_array_equal(together.clip_scores(index), single.clip_scores(index))


def _read(store_path: Path, clip_id: str) -> np.ndarray:
    with AudioStore(store_path) as store:
        return store.read(clip_id)


def test_store_at_another_rate_is_refused(model, audioset, tmp_path):
    build_audio_store(audioset["stored"], tmp_path / "8k.h5", 8000, progress=False)
    with pytest.raises(ValueError, match="8000 Hz audio but the model takes 16000 Hz"):
        score_clips(
            model,
            audioset["manifest"],
            tmp_path / "8k.h5",
            ["Bark"],
            ["Bark"],
            tmp_path / "s.h5",
            progress=False,
        )
    assert not (tmp_path / "s.h5").exists()


def test_results_json_of_the_407_classes(model, audioset, tmp_path):
    scores = tmp_path / "classes407.h5"
    score_clips(
        model,
        audioset["manifest"],
        audioset["store"],
        *query_set("classes407"),
        scores,
        progress=False,
    )
    results = evaluate(
        scores,
        audioset["manifest"],
        "classes407",
        n_bootstrap=3,
        seed=5,
        model_info=MODEL_INFO,
        manifest_report=audioset["report"],
    )
    assert list(results) == RESULT_KEYS
    assert results["model"] == MODEL_INFO
    assert (results["query_set"], results["n_clips"], results["n_clips_missing"]) == (
        "classes407",
        4,
        3,  # Yclip4 has no audio in the store, the report skipped 2 clips for missing audio
    )
    metrics = results["metrics"]
    assert list(metrics) == METRIC_KEYS
    scored = ["Bark", "Conversation", "Male speech, man speaking", "Siren", "Speech"]
    assert metrics["n_classes"] == 5
    assert sorted(metrics["psds1_per_class"]) == sorted(metrics["pauroc_per_class"]) == scored
    assert 0.0 <= metrics["psds1"] <= 1.0 and 0.0 <= metrics["pauroc"] <= 1.0
    bootstrap = results["bootstrap"]
    assert list(bootstrap) == [
        "n_bootstrap",
        "seed",
        "confidence",
        "psds1",
        "psds1_macro",
        "pauroc",
    ]
    assert (bootstrap["n_bootstrap"], bootstrap["seed"], bootstrap["confidence"]) == (3, 5, 0.95)
    assert list(bootstrap["psds1"]) == ["mean", "std", "low", "high"]
    assert results["notes"][0].startswith("score frames past each clip's end are trimmed")
    assert "5 of the 407 classes have ground-truth events" in results["notes"][1]

    out = write_results(results, tmp_path / "eval" / "classes407.json")
    assert json.loads(out.read_text()) == results
    assert not out.with_name("classes407.json.partial").exists()


def test_scripts_score_and_evaluate_the_50_categories(checkpoint, audioset, tmp_path, monkeypatch):
    """The rules' scripts, with the categories pooling the 117 classes (Speech, Dog Bark, Siren)."""
    monkeypatch.setattr(tacos.logs, "setup_logging", lambda log_file: None)
    threads = torch.get_num_threads()
    scores, results_path = tmp_path / "categories50.h5", tmp_path / "categories50.json"
    run_script(
        "score.py",
        inputs={
            "model": str(checkpoint),
            "manifest": str(audioset["manifest"]),
            "store": str(audioset["store"]),
        },
        params={"query_sets": ["categories50"], "batch_size": 4, "min_seconds": 10.0},
        output=scores,
    )
    torch.set_num_threads(threads)
    run_script(
        "evaluate.py",
        inputs={"scores": str(scores), "manifest": str(audioset["manifest"])},
        params={
            "query_set": "categories50",
            "n_bootstrap": 0,
            "seed": 0,
            "model_info": {**MODEL_INFO, "stage": "pretrain"},
        },
        output=results_path,
    )
    results = json.loads(results_path.read_text())
    assert list(results) == RESULT_KEYS
    assert results["model"]["stage"] == "pretrain"
    assert (results["n_clips"], results["n_clips_missing"], results["bootstrap"]) == (4, 1, None)
    assert list(results["metrics"]["psds1_per_class"]) == ["Speech", "Dog Bark", "Siren"]
    assert any("no manifest report" in note for note in results["notes"])


def test_evaluate_refuses_scores_of_another_query_set(model, audioset, tmp_path):
    scores = tmp_path / "three.h5"
    score_clips(
        model, audioset["manifest"], audioset["store"], *THREE_QUERIES, scores, progress=False
    )
    with pytest.raises(ValueError, match="not the query set 'categories50'"):
        evaluate(scores, audioset["manifest"], "categories50")


class Namedlist(SimpleNamespace):
    """Attribute access plus ``get``, like Snakemake's input and params objects."""

    def get(self, key, default=None):
        return getattr(self, key, default)


def run_script(name: str, inputs: dict, params: dict, output: Path) -> None:
    snakemake = SimpleNamespace(
        input=Namedlist(**inputs),
        params=Namedlist(**params),
        output=[str(output)],
        log=[str(output) + ".log"],
        threads=1,
    )
    script = Path(__file__).parents[2] / "scripts" / name
    runpy.run_path(str(script), init_globals={"snakemake": snakemake}, run_name="__main__")
