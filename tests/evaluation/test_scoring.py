"""Scoring a trained model on AudioSet-like clips and assembling the results JSON."""

from __future__ import annotations

import json
import runpy
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tiny_model import RATE, TINY_MODEL

import tacos.logs
from tacos.data.audio import write_audio
from tacos.data.audioset import query_set
from tacos.data.manifest import Clip, Region, read_manifest, write_manifest
from tacos.data.store import AudioStore, build_audio_store
from tacos.evaluation.collapse import CollapseMeter
from tacos.evaluation.report import evaluate, ground_truth_for, write_results
from tacos.evaluation.scores import ScoreReader, ScoreWriter
from tacos.evaluation.scoring import ScoreTarget, score_clips, score_query_sets
from tacos.evaluation.sed_metrics import sed_metrics
from tacos.frames import frame_count
from tacos.models.checkpoint import ModelSpec, load_model_weights, load_trained_model
from tacos.models.dual import build_model
from tacos.models.peers.fixtures import write_tiny_pe_audio_frame
from tacos.models.peers.registry import load_peer

# (clip id, duration, regions named by AudioSet display name); Yclip4 has no audio in the store
CLIPS = [
    ("Yclip0", 10.0, [("Speech", 1.0, 3.0), ("Bark", 4.0, 6.0)]),
    ("Yclip1", 10.0, [("Male speech, man speaking", 0.0, 2.5), ("Bark", 5.0, 8.0)]),
    ("Yclip2", 9.5, [("Siren", 2.0, 7.0)]),
    ("Yclip3", 10.0, [("Conversation", 1.5, 4.0), ("Speech", 3.0, 5.0)]),
    ("Yclip4", 10.0, [("Siren", 0.0, 1.0)]),
]
THREE_QUERIES = (["Bark", "Siren", "Speech"], ["Bark", "A siren wails.", "Speech"])
RESULT_KEYS = [
    "model",
    "query_set",
    "protocol",
    "n_clips",
    "n_clips_without_events",
    "n_clips_missing",
    "metrics",
    "bootstrap",
    "notes",
]
METRIC_KEYS = ["psds1", "psds1_macro", "pauroc", "n_classes", "psds1_per_class", "pauroc_per_class"]
PROTOCOL = {"evaluated_weights": "last", "tacos_split": "release"}
SPEC = ModelSpec(
    build=TINY_MODEL,
    input_seconds=10.0,
    sample_rate=RATE,
    stage="strong",
    seed=1,
    protocol=PROTOCOL,
)
MODEL_INFO = SPEC.identity("model.ckpt")
MODEL_BLOCK = {"stage": "strong", "delta": 0.04, "seed": 1, "checkpoint": "model.ckpt"}
FRAMES_10S = 251  # the demo CNN's own frames of a 10 s input (one starts at 10 s)


def save_checkpoint(path: Path, model: torch.nn.Module, spec: ModelSpec | None) -> Path:
    state = {"model." + key: value for key, value in model.state_dict().items()}
    checkpoint = {"state_dict": state}
    if spec is not None:
        checkpoint["tacos_model"] = spec.to_dict()
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build_model(TINY_MODEL)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "model.ckpt", model, SPEC)


@pytest.fixture(scope="module")
def loaded(checkpoint):
    return load_trained_model(checkpoint)


@pytest.fixture(scope="module")
def model(loaded):
    return loaded[0]


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


def test_trained_model_round_trips_through_its_checkpoint(checkpoint, loaded):
    model, spec = loaded
    saved = torch.load(checkpoint, weights_only=False)["state_dict"]
    assert spec == SPEC
    assert spec.delta == 0.04 and spec.input_seconds == 10.0
    assert spec.identity(checkpoint) == {
        "stage": "strong",
        "delta": 0.04,
        "seed": 1,
        "checkpoint": str(checkpoint),
        "protocol": PROTOCOL,
    }
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
    with pytest.raises(ValueError, match="bare.ckpt holds no model spec under 'tacos_model'"):
        load_trained_model(bare)
    checkpoint = torch.load(bare, weights_only=False)
    checkpoint["tacos_model_config"] = TINY_MODEL  # the old key is not read
    torch.save(checkpoint, tmp_path / "old.ckpt")
    with pytest.raises(ValueError, match="old.ckpt holds no model spec"):
        load_trained_model(tmp_path / "old.ckpt")
    other_rate = ModelSpec(TINY_MODEL, 10.0, 32000, "strong", 1)
    with pytest.raises(ValueError, match="takes 16000 Hz but its spec says 32000"):
        load_trained_model(save_checkpoint(tmp_path / "rate.ckpt", model, other_rate))


def test_a_model_spec_needs_its_frame_step():
    with pytest.raises(ValueError, match="'delta'"):
        ModelSpec({"audio": {"encoder": "demo"}}, 10.0, RATE, "strong", 0)
    assert ModelSpec.from_dict(SPEC.to_dict()) == SPEC
    assert ModelSpec({"delta": 0.1}, 10.0, RATE, "weak", 0).protocol == {}


def test_query_sets_are_display_names_and_category_sentences():
    names, queries = query_set("classes407")
    assert len(names) == 407 and queries == names
    assert "Male speech, man speaking" in names
    categories, sentences = query_set("categories50")
    assert len(categories) == len(sentences) == 50
    assert sentences[categories.index("Dog Bark")] == "A dog is barking."
    with pytest.raises(ValueError, match="unknown query set 'classes416'"):
        query_set("classes416")


def test_scores_keep_every_frame_as_cosines_and_do_not_depend_on_the_batch(
    model, audioset, tmp_path
):
    names, queries = THREE_QUERIES
    run = score_clips(
        model,
        audioset["manifest"],
        audioset["store"],
        names,
        queries,
        tmp_path / "a.h5",
        10.0,
        batch_size=3,
        progress=False,
        model_info=MODEL_INFO,
    )
    assert (run.n_scored, run.missing_clip_ids) == (4, ("Yclip4",))
    score_clips(
        model,
        audioset["manifest"],
        audioset["store"],
        names,
        queries,
        tmp_path / "b.h5",
        10.0,
        batch_size=1,
        progress=False,
    )
    with ScoreReader(run.path) as reader, ScoreReader(tmp_path / "b.h5") as single:
        assert reader.clip_ids == ["Yclip0", "Yclip1", "Yclip2", "Yclip3"]
        assert reader.class_names == names
        assert reader.model_info == MODEL_INFO
        assert single.model_info == {}
        # every clip is one 10 s input: all its frames are stored, padding included
        assert reader.n_frames.tolist() == [FRAMES_10S] * 4
        trimmed = reader.score_dataframes("trimmed")
        assert [len(trimmed[clip_id]) for clip_id in reader.clip_ids] == [250, 250, 238, 250]
        assert [len(trimmed[clip_id]) for clip_id in reader.clip_ids] == [
            frame_count(d, 0.04) for d in (10, 10, 9.5, 10)
        ]
        untrimmed = reader.score_dataframes("untrimmed")
        assert [len(untrimmed[clip_id]) for clip_id in reader.clip_ids] == [FRAMES_10S] * 4
        stored = reader.clip_scores(2)
        np.testing.assert_allclose(single.clip_scores(2), stored, atol=1e-6)

    waveform = torch.zeros(1, 10 * RATE)
    audio = _read(audioset["store"], "Yclip2")
    waveform[0, : len(audio)] = torch.from_numpy(audio)
    with torch.no_grad():
        frames, _, _ = model.embed_audio(waveform, torch.tensor([len(audio)]))
        text = model.embed_text(queries)
    expected = (frames[0] @ text.T).numpy()
    assert expected.shape == (FRAMES_10S, 3)
    np.testing.assert_allclose(stored, expected, atol=1e-5)
    assert np.abs(stored).max() <= 1.0 + 1e-6


def test_several_query_sets_scored_in_one_pass_equal_separate_runs(model, audioset, tmp_path):
    names, queries = THREE_QUERIES
    targets = [
        ScoreTarget(names, queries, tmp_path / "three.h5"),
        ScoreTarget(names[:1], queries[:1], tmp_path / "one.h5"),
    ]
    runs = score_query_sets(
        model,
        audioset["manifest"],
        audioset["store"],
        targets,
        10.0,
        batch_size=2,
        progress=False,
        model_info=MODEL_INFO,
    )
    assert [run.n_scored for run in runs] == [4, 4]
    alone = score_clips(
        model,
        audioset["manifest"],
        audioset["store"],
        names[:1],
        queries[:1],
        tmp_path / "alone.h5",
        10.0,
        batch_size=2,
        progress=False,
    )
    with ScoreReader(runs[1].path) as together, ScoreReader(alone.path) as single:
        assert together.class_names == single.class_names == names[:1]
        assert together.model_info == MODEL_INFO
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
            10.0,
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
        10.0,
        progress=False,
        model_info=MODEL_INFO,
    )
    results = evaluate(
        scores,
        audioset["manifest"],
        "classes407",
        "trimmed",
        n_bootstrap=3,
        seed=5,
        manifest_report=audioset["report"],
    )
    assert list(results) == RESULT_KEYS
    assert results["model"] == MODEL_BLOCK
    assert results["protocol"] == {
        **PROTOCOL,
        "frames": "trimmed",
        "clips": "with_events",
        "engine": "fast",
    }
    assert (
        results["query_set"],
        results["n_clips"],
        results["n_clips_without_events"],
        results["n_clips_missing"],
    ) == (
        "classes407",
        4,
        0,
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

    untrimmed = evaluate(scores, audioset["manifest"], "classes407", "untrimmed")
    assert untrimmed["protocol"]["frames"] == "untrimmed"
    assert untrimmed["notes"][0].startswith("every frame of the model's padded input is scored")
    assert untrimmed["metrics"] != results["metrics"]  # frames past the end are scored

    out = write_results(results, tmp_path / "eval" / "classes407.json")
    assert json.loads(out.read_text()) == results
    assert not out.with_name("classes407.json.partial").exists()


def relabelled(manifest: Path, out: Path) -> Path:
    """The manifest with Yclip2's siren relabelled "Air brake" (one of the 407 classes that no
    category pools) and Yclip3's regions removed: Yclip3 has no event of either query set,
    Yclip2 none of the 50 categories."""

    clips = []
    for clip in read_manifest(manifest):
        if clip.clip_id == "Yclip2":
            clip = replace(clip, regions=(Region("Air brake", 2.0, 7.0, "/m/x"),))
        elif clip.clip_id == "Yclip3":
            clip = replace(clip, regions=())
        clips.append(clip)
    write_manifest(clips, out)
    return out


@pytest.mark.parametrize(
    ("query", "with_events"),
    [("classes407", ["Yclip0", "Yclip1", "Yclip2"]), ("categories50", ["Yclip0", "Yclip1"])],
)
@pytest.mark.parametrize("frames", ["trimmed", "untrimmed"])
def test_the_clip_set_keeps_only_clips_with_events_of_the_query_set(
    model, audioset, tmp_path, query, with_events, frames
):
    manifest = relabelled(audioset["manifest"], tmp_path / "relabelled.jsonl")
    scores = tmp_path / f"{query}.h5"
    score_clips(
        model,
        manifest,
        audioset["store"],
        *query_set(query),
        scores,
        10.0,
        progress=False,
        model_info=MODEL_INFO,
    )
    kept = evaluate(scores, manifest, query, frames, clips="with_events")
    every = evaluate(scores, manifest, query, frames, clips="all")
    assert (kept["n_clips"], kept["n_clips_without_events"]) == (
        len(with_events),
        4 - len(with_events),
    )
    assert (every["n_clips"], every["n_clips_without_events"]) == (4, 0)
    assert kept["n_clips_missing"] == every["n_clips_missing"] == 1  # Yclip4
    assert kept["protocol"] == {
        **PROTOCOL,
        "frames": frames,
        "clips": "with_events",
        "engine": "fast",
    }
    assert every["protocol"] == {**PROTOCOL, "frames": frames, "clips": "all", "engine": "fast"}

    scored = [clip for clip in read_manifest(manifest) if clip.clip_id != "Yclip4"]
    truth = ground_truth_for(scored, query)
    assert sorted(clip_id for clip_id, events in truth.items() if events) == with_events
    subset = {clip_id: truth[clip_id] for clip_id in with_events}
    assert kept["metrics"] == sed_metrics(scores, subset, frames)[0].to_dict()
    assert every["metrics"] == sed_metrics(scores, truth, frames)[0].to_dict()
    assert kept["metrics"] != every["metrics"]
    with pytest.raises(ValueError, match="clip set"):
        evaluate(scores, manifest, query, frames, clips="labelled")


def test_evaluate_needs_the_model_in_the_score_file(audioset, tmp_path):
    names, _ = query_set("categories50")
    anonymous, wrong_delta = tmp_path / "anonymous.h5", tmp_path / "delta.h5"
    for path, info in ((anonymous, {}), (wrong_delta, {**MODEL_INFO, "delta": 0.02})):
        with ScoreWriter(path, names, 0.04, model_info=info) as writer:
            for clip_id in ("Yclip0", "Yclip1", "Yclip2", "Yclip3"):
                writer.add(
                    clip_id, np.zeros((250, len(names))), 10.0 if clip_id != "Yclip2" else 9.5
                )
    with pytest.raises(ValueError, match="does not say which model it scores"):
        evaluate(anonymous, audioset["manifest"], "categories50", "trimmed")
    with pytest.raises(ValueError, match="frame step 0.04 s but the model's is 0.02 s"):
        evaluate(wrong_delta, audioset["manifest"], "categories50", "trimmed")
    with pytest.raises(ValueError, match="frame protocol"):
        evaluate(anonymous, audioset["manifest"], "categories50", "cropped")


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
        params={"query_sets": ["categories50"], "batch_size": 4},
        output={"scores": [str(scores)], "collapse": str(tmp_path / "collapse.json")},
    )
    torch.set_num_threads(threads)
    with ScoreReader(scores) as reader:
        assert reader.model_info == SPEC.identity(str(checkpoint))
        assert reader.n_frames.tolist() == [FRAMES_10S] * 4  # padded to the spec's 10 s
    collapse = json.loads((tmp_path / "collapse.json").read_text())
    assert collapse["model"] == SPEC.identity(str(checkpoint))
    assert (collapse["n_clips"], collapse["n_windows"]) == (4, 40)
    run_script(
        "evaluate.py",
        inputs={"scores": str(scores), "manifest": str(audioset["manifest"])},
        params={
            "query_set": "categories50",
            "frames": "untrimmed",
            "clips": "with_events",
            "n_bootstrap": 0,
            "engine": "fast",
            "seed": 0,
        },
        output=results_path,
    )
    results = json.loads(results_path.read_text())
    assert list(results) == RESULT_KEYS
    assert results["model"] == {**MODEL_BLOCK, "checkpoint": str(checkpoint)}
    assert results["protocol"] == {
        **PROTOCOL,
        "frames": "untrimmed",
        "clips": "with_events",
        "engine": "fast",
    }
    assert (results["n_clips"], results["n_clips_missing"], results["bootstrap"]) == (4, 1, None)
    assert list(results["metrics"]["psds1_per_class"]) == ["Speech", "Dog Bark", "Siren"]
    assert any("no manifest report" in note for note in results["notes"])


def test_evaluate_refuses_scores_of_another_query_set(model, audioset, tmp_path):
    scores = tmp_path / "three.h5"
    score_clips(
        model,
        audioset["manifest"],
        audioset["store"],
        *THREE_QUERIES,
        scores,
        10.0,
        progress=False,
        model_info=MODEL_INFO,
    )
    with pytest.raises(ValueError, match="not the query set 'categories50'"):
        evaluate(scores, audioset["manifest"], "categories50", "trimmed")


class Namedlist(SimpleNamespace):
    """Attribute access plus ``get``, like Snakemake's input and params objects."""

    def get(self, key, default=None):
        return getattr(self, key, default)


def run_script(
    name: str, inputs: dict, params: dict, output: Path | dict, wildcards: dict | None = None
) -> None:
    """Run a rule's script; ``output``: one path, or named outputs (the first names the log)."""
    if isinstance(output, dict):
        first = next(iter(output.values()))
        log = str(first[0] if isinstance(first, list) else first) + ".log"
        outputs = Namedlist(**output)
    else:
        log, outputs = str(output) + ".log", [str(output)]
    snakemake = SimpleNamespace(
        input=Namedlist(**inputs),
        params=Namedlist(**params),
        output=outputs,
        log=[log],
        threads=1,
        wildcards=Namedlist(**(wildcards or {})),
    )
    script = Path(__file__).parents[2] / "workflow" / "scripts" / name
    runpy.run_path(str(script), init_globals={"snakemake": snakemake}, run_name="__main__")


def test_collapse_covers_each_clips_frames_up_to_its_end(model, audioset, tmp_path):
    """The collapse diagnostic reads the frames that start before each clip's end (the 9.5 s clip
    loses its 13 padding frames), and a 0.04 s grid gives 10 windows of 1 s per clip."""
    names, queries = THREE_QUERIES
    score_query_sets(
        model,
        audioset["manifest"],
        audioset["store"],
        [ScoreTarget(names, queries, tmp_path / "s.h5")],
        10.0,
        progress=False,
        model_info=MODEL_INFO,
        collapse_path=tmp_path / "collapse.json",
    )
    expected = CollapseMeter(0.04)
    for clip_id, duration in (("Yclip0", 10), ("Yclip1", 10), ("Yclip2", 9.5), ("Yclip3", 10)):
        audio = torch.zeros(1, 10 * RATE)
        wave = _read(audioset["store"], clip_id)
        audio[0, : len(wave)] = torch.from_numpy(wave)
        with torch.no_grad():
            frames, _, _ = model.embed_audio(audio, torch.tensor([len(wave)]))
        expected.add(frames[0, : frame_count(duration, 0.04)].numpy())
    written = json.loads((tmp_path / "collapse.json").read_text())
    wanted = expected.result()
    assert written["model"] == MODEL_INFO
    assert (written["n_clips"], written["n_windows"]) == (4, 40)
    assert written["mean"] == pytest.approx(wanted["mean"], abs=1e-6)
    assert written["std"] == pytest.approx(wanted["std"], abs=1e-6)


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    folder = write_tiny_pe_audio_frame(tmp_path_factory.mktemp("pe"), THREE_QUERIES[1])
    entry = {"adapter": "pe_audio_frame", "path": str(folder), "sample_rate": 48000}
    return entry, load_peer("pe_tiny", entry)


@pytest.fixture(scope="module")
def store_48k(audioset, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("store48") / "eval.48000hz.h5"
    build_audio_store(audioset["stored"], path, 48000, progress=False)
    return path


def test_a_peer_scores_each_clip_at_its_real_length_whatever_the_batch(
    peer, audioset, store_48k, tmp_path
):
    entry, model = peer
    names, queries = THREE_QUERIES
    runs = [
        score_clips(
            model,
            audioset["manifest"],
            store_48k,
            names,
            queries,
            tmp_path / f"b{batch}.h5",
            0.0,
            batch_size=batch,
            progress=False,
            model_info=model.identity(entry["path"]),
        )
        for batch in (1, 3)
    ]
    text = model.embed_text(queries)
    with ScoreReader(runs[0].path) as single, ScoreReader(runs[1].path) as batched:
        assert batched.delta == 0.04
        assert batched.n_frames.tolist() == [250, 250, 238, 250]  # no padding frames
        assert batched.model_info["stage"] == "peer"
        for index, clip_id in enumerate(batched.clip_ids):
            wave = _read(store_48k, clip_id)
            expected = model.frame_scores(model.clip_frames(wave), text)
            np.testing.assert_allclose(batched.clip_scores(index), expected, atol=1e-5)
            np.testing.assert_allclose(single.clip_scores(index), expected, atol=1e-5)


def test_scripts_score_and_evaluate_a_peer(peer, audioset, store_48k, tmp_path, monkeypatch):
    monkeypatch.setattr(tacos.logs, "setup_logging", lambda log_file: None)
    entry, _ = peer
    threads = torch.get_num_threads()
    scores = tmp_path / "classes407.h5"
    run_script(
        "score.py",
        inputs={"manifest": str(audioset["manifest"]), "store": str(store_48k)},
        params={"entry": entry, "query_sets": ["classes407"], "batch_size": 2},
        output={"scores": [str(scores)], "collapse": str(tmp_path / "collapse.json")},
        wildcards={"peer": "pe_tiny"},
    )
    torch.set_num_threads(threads)
    collapse = json.loads((tmp_path / "collapse.json").read_text())
    assert (collapse["frame_step"], collapse["n_clips"], collapse["n_windows"]) == (0.04, 4, 40)
    results = evaluate(scores, audioset["manifest"], "classes407", "trimmed")
    assert results["model"] == {
        "stage": "peer",
        "delta": 0.04,
        "seed": None,
        "checkpoint": entry["path"],
    }
    assert results["protocol"] == {
        "peer": "pe_tiny",
        "adapter": "pe_audio_frame",
        "scores": "frame logits (scale x dot + bias)",
        "frames": "trimmed",
        "clips": "with_events",
        "engine": "fast",
    }
    assert results["n_clips"] == 4
