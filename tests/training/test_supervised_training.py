"""Supervised SED training of the demo encoder with a strong head, and its use as Table 3's row."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import make_split
from tiny_model import RATE, TINY_MODEL

from tacos.data.audioset import query_set, read_class_list
from tacos.data.manifest import read_manifest, write_manifest
from tacos.evaluation.scores import ScoreReader
from tacos.evaluation.scoring import ScoreTarget, score_query_sets
from tacos.models.checkpoint import (
    MODEL_SPEC_KEY,
    load_trained_model,
    supervised_build,
    supervised_spec,
)
from tacos.models.supervised import SupervisedSED, build_supervised
from tacos.training.data import Batch, CaptionedClips, collate
from tacos.training.module import OptimConfig
from tacos.training.run import SplitData, TrainingConfig
from tacos.training.supervised import PRIOR, SupervisedModule, frame_targets, train_supervised

NAMES = {
    "a dog barks": "Dog",
    "a bell rings": "Bell",
    "rain falls": "Rain",
    "a siren wails": "Siren",
}
CLASSES = read_class_list("train")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> SplitData:
    """The tiny training clips with their regions named by AudioSet display names."""
    root = tmp_path_factory.mktemp("labelled")
    manifest, store = make_split(root, "train", 6, seed=3)
    clips = [
        dataclasses.replace(
            clip,
            captions=(),
            regions=tuple(dataclasses.replace(r, text=NAMES[r.text]) for r in clip.regions),
        )
        for clip in read_manifest(manifest)
    ]
    write_manifest(clips, manifest)
    return SplitData(str(manifest), str(store))


def test_frame_targets_mark_each_region_on_the_frame_grid():
    batch = Batch(
        waveforms=torch.zeros(2, 10),
        lengths=torch.tensor([10, 10]),
        clip_ids=["a", "b"],
        captions=[],
        caption_clip=torch.zeros(0, dtype=torch.long),
        region_texts=["Dog", "Bell", "Dog"],
        region_clip=torch.tensor([0, 0, 1]),
        region_onset=torch.tensor([0.0, 0.05, 0.58], dtype=torch.float64),
        region_offset=torch.tensor([0.1, 0.07, 0.6], dtype=torch.float64),
        region_groups=torch.tensor([0, 1, 2]),
    )
    targets = frame_targets(batch, n_frames=20, step=0.04, classes=CLASSES)
    dog, bell = CLASSES.index("Dog"), CLASSES.index("Bell")
    assert targets.shape == (2, 20, 447)
    assert targets[0, :, dog].nonzero().flatten().tolist() == [0, 1, 2]  # [0, 0.1) -> 0..2
    assert targets[0, :, bell].nonzero().flatten().tolist() == [1]  # [0.05, 0.07) -> frame 1
    assert targets[1, :, dog].nonzero().flatten().tolist() == [14]  # 0.58 / 0.04 = 14.5
    assert targets.sum() == 3 + 1 + 1


def test_frame_targets_refuse_a_class_the_head_lacks(labelled):
    dataset = CaptionedClips(labelled.manifest, labelled.store, 4.0)
    batch = collate([dataset[0]], round(4.0 * RATE), "frame")
    batch.region_texts = ["Not a class"] * len(batch.region_texts)
    with pytest.raises(ValueError, match="Not a class"):
        frame_targets(batch, 100, 0.04, CLASSES)


def test_the_head_starts_at_the_prior_logit():
    spec = supervised_spec(supervised_build(TINY_MODEL["audio"]), RATE, seed=0)
    module = SupervisedModule(build_supervised(spec.build), OptimConfig(), spec)
    bias = module.model.strong_head.bias
    assert torch.allclose(bias, torch.full_like(bias, float(np.log(PRIOR / (1 - PRIOR)))))


def test_trained_supervised_model_scores_like_any_checkpoint(labelled, tmp_path):
    spec = supervised_spec(supervised_build(TINY_MODEL["audio"]), RATE, seed=5)
    training = TrainingConfig(
        batch_size=3, epochs=2, max_seconds=10.0, sample_rate=RATE, num_workers=0
    )
    optim = OptimConfig(lr=1e-3, min_lr=1e-5, warmup_epochs=1, cosine_epochs=1)
    checkpoint = train_supervised(spec, training, optim, labelled, tmp_path / "run")
    assert checkpoint == tmp_path / "run" / "checkpoints" / "last.ckpt"
    stored = torch.load(checkpoint, weights_only=False)[MODEL_SPEC_KEY]
    assert stored["kind"] == "supervised" and stored["stage"] == "supervised"
    model, loaded = load_trained_model(checkpoint)
    assert isinstance(model, SupervisedSED) and loaded == spec
    targets = [
        ScoreTarget(*query_set(name), tmp_path / f"{name}.h5", query_set=name)
        for name in ("classes407", "categories50")
    ]
    score_query_sets(
        model, labelled.manifest, labelled.store, targets, loaded.input_seconds, batch_size=4
    )
    for target in targets:
        with ScoreReader(target.out_path) as reader:
            assert reader.delta == 0.04
            assert set(reader.n_frames.tolist()) == {250}  # the first 10 s, as 250 frames
            assert reader.class_names == list(target.class_names)
