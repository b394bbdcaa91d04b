"""Training stages on a tiny dataset: batches, schedule, each stage runs, exact resume."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SECONDS
from tiny_model import RATE, TINY_MODEL

from tacos.data.manifest import Region, read_manifest
from tacos.models.checkpoint import ModelSpec
from tacos.models.dual import build_model
from tacos.training import data as training_data
from tacos.training.data import CaptionedClips, EpochShuffleSampler, Example, collate
from tacos.training.module import LossConfig, OptimConfig, lr_factor
from tacos.training.run import (
    SETTINGS_FILE,
    NoGpuError,
    SplitData,
    TrainingConfig,
    check_gpus,
    load_model_weights,
    train,
)
from tacos.training.stages import stage_protocol, stage_settings

TRAINING = TrainingConfig(
    batch_size=4, epochs=2, max_seconds=SECONDS, sample_rate=RATE, num_workers=0
)
OPTIM = OptimConfig(lr=1e-3, min_lr=1e-5, warmup_epochs=1, cosine_epochs=2)
GLOBAL = LossConfig(global_weight=1.0, frame_weight=0.0)
STRONG = LossConfig(global_weight=0.0, frame_weight=1.0)
SPEC = ModelSpec(
    build=TINY_MODEL,
    input_seconds=SECONDS,
    sample_rate=RATE,
    stage="strong",
    seed=7,
    protocol={"evaluated_weights": "last", "tacos_split": "release"},
)


def example(clip_id: str, regions: list[Region], n: int) -> Example:
    return Example(clip_id, np.ones(n, np.float32), "c " + clip_id, ("x", "y"), tuple(regions))


def test_collate_frame_mode_groups_texts_within_each_clip():
    examples = [
        example("a", [Region("dog", 0, 1), Region("dog", 2, 3), Region("bell", 1, 2)], 5),
        example("b", [Region("dog", 0.5, 1)], 3),
    ]
    batch = collate(examples, n_samples=4, mode="frame")
    assert batch.waveforms.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch.lengths.tolist() == [4, 3]
    assert batch.region_texts == ["dog", "dog", "bell", "dog"]
    assert batch.region_clip.tolist() == [0, 0, 0, 1]
    assert batch.region_groups.tolist() == [0, 0, 1, 2]
    assert batch.region_onset.tolist() == [0, 2, 1, 0.5]
    assert batch.captions == ["c a", "c b"]


def test_collate_clip_and_retrieval_modes():
    examples = [example("a", [], 2), example("b", [], 2)]
    clip_batch = collate(examples, n_samples=2, mode="clip")
    assert (clip_batch.captions, clip_batch.caption_clip.tolist()) == (["c a", "c b"], [0, 1])
    assert clip_batch.region_texts == []
    retrieval = collate(examples, n_samples=2, mode="retrieval")
    assert retrieval.captions == ["x", "y", "x", "y"]
    assert retrieval.caption_clip.tolist() == [0, 0, 1, 1]


def test_sampler_and_caption_draws_depend_on_seed_and_epoch_only(tiny_data):
    sampler = EpochShuffleSampler(8, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    assert sorted(first) == list(range(8))
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    manifest, store = tiny_data["train"]
    dataset = CaptionedClips(manifest, store, max_seconds=SECONDS, seed=3)
    draws = [[dataset[i].caption for i in range(8)] for dataset.epoch in (0, 1, 0)]
    assert draws[0] == draws[2]
    assert draws[0] != draws[1]


def test_pairs_give_every_clip_caption_pair_once_with_its_caption_fixed(tiny_data):
    manifest, store = tiny_data["train"]
    clips = read_manifest(manifest)
    expected = sorted((clip.clip_id, caption) for clip in clips for caption in clip.captions)
    assert len(expected) == 16  # 8 clips x 2 captions
    pairs = CaptionedClips(manifest, store, max_seconds=SECONDS, seed=3, items="pairs")
    assert len(pairs) == 16
    epochs = []
    for pairs.epoch in (0, 1, 5):
        items = [pairs[index] for index in range(len(pairs))]
        epochs.append([(item.clip_id, item.caption) for item in items])
        assert all(item.caption in item.captions for item in items)
    assert sorted(epochs[0]) == expected  # each (clip, caption) exactly once
    assert epochs[0] == epochs[1] == epochs[2]  # captions do not change across epochs
    clip_items = CaptionedClips(manifest, store, max_seconds=SECONDS, seed=3)
    assert len(clip_items) == 8
    item = pairs[1]
    assert item.clip_id == clips[0].clip_id and item.caption == clips[0].captions[1]
    assert np.array_equal(item.waveform, clip_items[0].waveform)
    with pytest.raises(ValueError, match="items must be one of"):
        CaptionedClips(manifest, store, max_seconds=SECONDS, items="captions")


def test_sampler_shards_one_permutation_across_ddp_processes(monkeypatch):
    sampler = EpochShuffleSampler(7, seed=3)
    whole = list(sampler)
    shards = []
    for rank in (0, 1):
        monkeypatch.setattr(training_data, "process_rank_and_world", lambda rank=rank: (rank, 2))
        assert len(sampler) == 4
        shards.append(list(sampler))
    assert shards[0] == whole[0::2]
    assert shards[1] == [*whole[1::2], whole[0]]  # padded by wrapping around
    assert sorted(set(shards[0] + shards[1])) == list(range(7))


def authors_factor(step: int, steps_per_epoch: int, optim: OptimConfig) -> float:
    """The authors' schedule written out: warm-up from min_lr to lr over warmup_epochs, cosine
    back to min_lr over the next cosine_epochs, flat after; as a factor of lr."""
    floor = optim.min_lr / optim.lr
    warmup = optim.warmup_epochs * steps_per_epoch
    cosine = optim.cosine_epochs * steps_per_epoch
    if step < warmup:
        return floor + (1 - floor) * step / warmup
    if step < warmup + cosine:
        return floor + (1 - floor) * (1 + math.cos(math.pi * (step - warmup) / cosine)) / 2
    return floor


def test_lr_schedule_warms_up_from_the_floor_then_decays_to_it():
    optim = OptimConfig(lr=2e-5, min_lr=1e-7, warmup_epochs=1, cosine_epochs=15)
    factors = [lr_factor(step, 10, optim) for step in range(200)]
    assert factors[0] == pytest.approx(0.005)  # min_lr / lr: the warm-up starts at the floor
    assert factors[5] == pytest.approx(0.005 + 0.995 * 0.5)
    assert factors[9] == pytest.approx(0.005 + 0.995 * 0.9)
    assert factors[10] == pytest.approx(1.0)  # the end of the warm-up is the peak
    halfway = 10 + 75
    assert factors[halfway] == pytest.approx(0.005 + 0.995 * 0.5)
    assert factors[40] == pytest.approx(0.005 + 0.995 * 0.5 * (1 + math.cos(math.pi * 30 / 150)))
    assert factors[159] > 0.005  # the cosine ends after epoch 16, at (1 + 15) x 10 steps
    assert factors[159] == pytest.approx(0.005 + 0.995 * 0.5 * (1 + math.cos(math.pi * 149 / 150)))
    assert factors[160] == pytest.approx(0.005)
    assert factors[199] == pytest.approx(0.005)
    assert all(a < b for a, b in zip(factors[:10], factors[1:11], strict=False))
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False))
    assert math.isclose(optim.lr * factors[0], 1e-7)
    assert math.isclose(optim.lr * factors[-1], 1e-7)
    for steps_per_epoch, other in [(10, optim), (7, OPTIM), (3, OptimConfig(warmup_epochs=2))]:
        for step in range(0, 30 * steps_per_epoch, 3):
            assert lr_factor(step, steps_per_epoch, other) == pytest.approx(
                authors_factor(step, steps_per_epoch, other), abs=1e-12
            ), (steps_per_epoch, step)


def run(tmp_path, tiny_data, loss: LossConfig, training: TrainingConfig = TRAINING, **kwargs):
    (train_manifest, train_store), (val_manifest, val_store) = tiny_data["train"], tiny_data["val"]
    return train(
        SPEC,
        training,
        OPTIM,
        loss,
        SplitData(str(train_manifest), str(train_store)),
        SplitData(str(val_manifest), str(val_store)),
        tmp_path,
        **kwargs,
    )


def weights(checkpoint) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.parametrize(
    ("loss", "evaluated", "items", "steps"),
    [
        (GLOBAL, "last", "clips", 4),  # 8 clips / 4 a batch x 2 epochs
        (STRONG, "best", "clips", 4),
        (GLOBAL, "last", "pairs", 8),  # 16 (clip, caption) pairs / 4 a batch x 2 epochs
    ],
    ids=["global-last", "frame-best", "global-pairs"],
)
def test_each_stage_trains_checkpoints_and_logs(tmp_path, tiny_data, loss, evaluated, items, steps):
    training = TrainingConfig(
        **{**TRAINING.__dict__, "evaluated_weights": evaluated, "items": items}
    )
    returned = run(tmp_path, tiny_data, loss, training)
    checkpoints = sorted(path.name for path in (tmp_path / "checkpoints").iterdir())
    kept = ["best.ckpt", "last.ckpt"] if evaluated == "best" else ["last.ckpt"]
    assert checkpoints == sorted(["epoch001.ckpt", *kept])  # the latest epoch only
    assert (tmp_path / "checkpoints" / "last.ckpt").resolve().name == "epoch001.ckpt"
    assert returned == tmp_path / "checkpoints" / f"{evaluated}.ckpt"
    with (tmp_path / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sum(1 for row in rows if row.get("val/mAP@10")) == 2
    loss_column = "train/frame_loss" if loss.frame_level else "train/global_loss"
    assert sum(1 for row in rows if row.get(loss_column)) == steps
    for name in kept:
        saved = torch.load(tmp_path / "checkpoints" / name, weights_only=False)
        assert saved["tacos_model"] == SPEC.to_dict()
        assert ModelSpec.from_dict(saved["tacos_model"]) == SPEC
        assert "tacos_model_config" not in saved


def test_the_evaluated_weights_must_be_last_or_best():
    assert TrainingConfig().evaluated_weights == "last"
    assert TrainingConfig().items == "clips"
    with pytest.raises(ValueError, match="evaluated_weights must be one of"):
        TrainingConfig(evaluated_weights="first")


def test_finetuning_starts_from_the_pretrained_weights(tmp_path, tiny_data):
    pretrained = run(tmp_path / "pretrain", tiny_data, GLOBAL)
    model = build_model(TINY_MODEL)
    load_model_weights(model, pretrained)
    expected = {f"model.{key}": value for key, value in model.state_dict().items()}
    assert all(torch.equal(expected[key], value) for key, value in weights(pretrained).items())
    one_epoch = TrainingConfig(**{**TRAINING.__dict__, "epochs": 1, "limit_train_batches": 1})
    tuned = run(tmp_path / "tune", tiny_data, STRONG, one_epoch, init_checkpoint=pretrained)
    assert weights(tuned).keys() == expected.keys()


KILLED_RUN = """
import json, os, signal, sys
import lightning as L
from tacos.models.checkpoint import ModelSpec
from tacos.training.module import LossConfig, OptimConfig
from tacos.training.run import SplitData, TrainingConfig, train

args = json.loads(sys.argv[1])


class TerminateAtStep(L.Callback):
    def on_train_batch_end(self, trainer, *_):
        if trainer.global_step == args["step"]:
            os.kill(os.getpid(), signal.SIGTERM)


train(ModelSpec(**args["spec"]), TrainingConfig(**args["training"]), OptimConfig(**args["optim"]),
      LossConfig(**args["loss"]), SplitData(*args["train"]), SplitData(*args["val"]),
      args["out"], callbacks=[TerminateAtStep()])
"""


def test_run_killed_by_sigterm_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, tiny_data):
    straight = run(tmp_path / "straight", tiny_data, STRONG)
    assert straight == tmp_path / "straight" / "checkpoints" / "last.ckpt"
    args = {
        "spec": SPEC.to_dict(),
        "training": TRAINING.__dict__,
        "optim": OPTIM.__dict__,
        "loss": STRONG.__dict__,
        "train": [str(path) for path in tiny_data["train"]],
        "val": [str(path) for path in tiny_data["val"]],
        "out": str(tmp_path / "resumed"),
        "step": 3,  # two steps an epoch: the kill lands in the middle of the second epoch
    }
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, json.dumps(args)], capture_output=True, text=True
    )
    assert killed.returncode == 1, killed.stderr[-2000:]
    assert "TrainingInterrupted: training in" in killed.stderr
    checkpoints = tmp_path / "resumed" / "checkpoints"
    assert torch.load(checkpoints / "last.ckpt", weights_only=False)["epoch"] == 0
    run(tmp_path / "resumed", tiny_data, STRONG)  # finds last.ckpt and continues
    final_straight = weights(straight.parent / "last.ckpt")
    final_resumed = weights(checkpoints / "last.ckpt")
    assert final_straight.keys() == final_resumed.keys()
    assert all(torch.equal(final_straight[k], final_resumed[k]) for k in final_straight)
    # The merged log keeps the first attempt's epoch and takes the rest from the resumed one.
    assert sorted(path.name for path in (tmp_path / "resumed" / "attempts").iterdir()) == [
        "000",
        "001",
    ]
    assert (tmp_path / "resumed" / "metrics.csv").read_text() == (
        tmp_path / "straight" / "metrics.csv"
    ).read_text()


def test_stage_settings_and_protocol_follow_the_config(tmp_path):
    yaml = pytest.importorskip("yaml")
    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["training"].update(evaluated_weights="best", clotho_items="pairs")
    config["data"]["tacos"]["split"] = "authors"
    pretrain, _, _ = stage_settings(config, "pretrain")
    strong, _, _ = stage_settings(config, "strong")
    assert (pretrain.items, pretrain.evaluated_weights) == ("pairs", "best")
    assert (strong.items, strong.evaluated_weights) == ("clips", "best")  # TACOS: one per clip
    own = stage_protocol(config, "pretrain", None)
    assert (own["evaluated_weights"], own["clotho_items"]) == ("best", "pairs")
    assert "tacos_split" not in own
    pretrained = tmp_path / "pretrain.ckpt"
    spec = ModelSpec(TINY_MODEL, SECONDS, RATE, "pretrain", 1, protocol=own)
    torch.save({"state_dict": {}, "tacos_model": spec.to_dict()}, pretrained)
    config["training"]["evaluated_weights"] = "last"
    tuned = stage_protocol(config, "strong", pretrained)
    # the fine-tuned model keeps its pretraining's Clotho items and states its own choices
    assert (tuned["clotho_items"], tuned["tacos_split"]) == ("pairs", "authors")
    assert tuned["evaluated_weights"] == "last"
    del config["training"]["evaluated_weights"]
    with pytest.raises(KeyError, match="evaluated_weights"):
        stage_protocol(config, "strong", None)


def test_a_run_with_other_settings_starts_afresh_instead_of_resuming(tmp_path, tiny_data):
    run(tmp_path, tiny_data, GLOBAL)
    run(tmp_path, tiny_data, GLOBAL)  # same settings: resumes from last.ckpt, trains nothing
    assert len(list((tmp_path / "attempts").iterdir())) == 2
    run(tmp_path, tiny_data, GLOBAL, training=dataclasses.replace(TRAINING, epochs=1))
    assert len(list((tmp_path / "attempts").iterdir())) == 1  # the old run's logs are gone
    checkpoints = sorted(path.name for path in (tmp_path / "checkpoints").iterdir())
    assert checkpoints == ["epoch000.ckpt", "last.ckpt"]
    settings = json.loads((tmp_path / SETTINGS_FILE).read_text())
    assert settings["training"]["epochs"] == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA device")
def test_a_job_given_gpus_without_cuda_stops_naming_driver_and_build():
    check_gpus(0, "auto")  # no GPU asked for: the CPU is right
    check_gpus(1, "cpu")  # explicitly on the CPU (the test cluster's fake GPU)
    with pytest.raises(NoGpuError, match=r"asked for 1 GPU\(s\) but sees no CUDA device") as error:
        check_gpus(1, "auto")
    assert f"torch {torch.__version__}" in str(error.value)
    assert "nvidia-smi" in str(error.value)
