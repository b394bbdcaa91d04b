"""The paper's training stages, read from the workflow config.

- ``pretrain``: Clotho development captions, clip-level InfoNCE.
- ``weak``: TACOS weak (clip-level) captions, loss weights ``training.loss_weights.weak``.
- ``strong``: TACOS strong (region) captions, frame-wise loss (``loss_weights.strong``).
- ``strong_intra``: ``strong`` plus intra-clip negatives (an ablation beyond the paper).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from tacos.models.checkpoint import (
    ModelSpec,
    export_model,
    read_checkpoint,
    read_spec,
    supervised_build,
    supervised_spec,
)
from tacos.names import STAGES
from tacos.training.module import LossConfig, OptimConfig
from tacos.training.run import SplitData, TrainingConfig, train


def model_config(config: dict, delta: float | None = None) -> dict:
    """The ``model`` section, with the frame duration replaced when ``delta`` is given."""
    model = copy.deepcopy(config["model"])
    if delta is not None:
        model["delta"] = float(delta)
    model["delta"] = float(model["delta"])
    return model


def phase_optim(phase: dict) -> OptimConfig:
    """The optimiser settings of a phase section (``training.pretrain`` etc.)."""
    return OptimConfig(**{key: phase[key] for key in OptimConfig.__annotations__ if key in phase})


def stage_settings(config: dict, stage: str) -> tuple[TrainingConfig, OptimConfig, LossConfig]:
    """Trainer, optimiser and loss settings of one stage."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    training = config["training"]
    phase = training["pretrain" if stage == "pretrain" else "finetune"]
    trainer = TrainingConfig.from_dict(
        {
            **training,
            "epochs": phase["epochs"],
            "sample_rate": config["audio"]["sample_rate"],
            "items": training["clotho_items"] if stage == "pretrain" else "clips",
        }
    )
    optim = phase_optim(phase)
    if stage == "pretrain":
        weights = {"global": 1.0, "frame": 0.0}
    else:
        weights = training["loss_weights"]["strong" if stage == "strong_intra" else stage]
    loss = LossConfig(
        global_weight=weights["global"],
        frame_weight=weights["frame"],
        tau=training["tau"],
        tau_frame=training["tau_frame"],
        intra_clip_negatives=stage == "strong_intra",
    )
    return trainer, optim, loss


def stage_protocol(config: dict, stage: str, init_checkpoint: str | os.PathLike | None) -> dict:
    """The training-side protocol choices behind a model: its own, after those of the model it
    was initialised from (a fine-tuned model inherits its pretraining's Clotho items)."""
    inherited = {}
    if init_checkpoint:
        inherited = read_spec(read_checkpoint(init_checkpoint), init_checkpoint).protocol
    training = config["training"]
    own = {
        "scores": "cosine",
        "median_filter": None,
        "evaluated_weights": training["evaluated_weights"],
    }
    if stage == "pretrain":
        own["clotho_items"] = training["clotho_items"]
    else:
        own["tacos_split"] = config["data"]["tacos"]["split"]
    return {**inherited, **own}


def run_stage(
    config: dict,
    stage: str,
    train_data: SplitData,
    val_data: SplitData,
    out_model: str | os.PathLike,
    seed: int,
    delta: float | None = None,
    init_checkpoint: str | os.PathLike | None = None,
    backbone_checkpoint: str | os.PathLike | None = None,
) -> None:
    """Train one stage in the folder of ``out_model`` and copy its evaluated checkpoint there."""
    out_model = Path(out_model)
    trainer, optim, loss = stage_settings(config, stage)
    spec = ModelSpec(
        build=model_config(config, delta),
        input_seconds=float(trainer.max_seconds),
        sample_rate=int(trainer.sample_rate),
        stage=stage,
        seed=int(seed),
        protocol=stage_protocol(config, stage, init_checkpoint),
    )
    evaluated = train(
        spec,
        trainer,
        optim,
        loss,
        train_data,
        val_data,
        out_model.parent,
        init_checkpoint=init_checkpoint,
        backbone_checkpoint=backbone_checkpoint,
    )
    _keep(evaluated, out_model)


def run_supervised(
    config: dict, train_data: SplitData, out_model: str | os.PathLike, seed: int
) -> None:
    """Train the demo's audio encoder with a strong head on AudioSet Strong labels (the role
    ``ASIT_strong_1`` plays for the paper), with the ``training.supervised`` phase."""
    from tacos.models.supervised import SupervisedConfig
    from tacos.training.supervised import train_supervised

    out_model = Path(out_model)
    training = config["training"]
    phase = training["supervised"]
    trainer = TrainingConfig.from_dict(
        {
            **training,
            "epochs": phase["epochs"],
            "sample_rate": config["audio"]["sample_rate"],
            "max_seconds": SupervisedConfig().input_seconds,
            "evaluated_weights": "last",
        }
    )
    optim = phase_optim(phase)
    build = supervised_build(config["model"]["audio"])
    spec = supervised_spec(build, trainer.sample_rate, int(seed), evaluated_weights="last")
    evaluated = train_supervised(spec, trainer, optim, train_data, out_model.parent)
    _keep(evaluated, out_model)


def _keep(checkpoint: Path, out_model: Path) -> None:
    """The evaluated checkpoint's model (weights and spec) as the rule's output."""
    export_model(checkpoint, out_model)
