"""The paper's training stages, read from the workflow config.

- ``pretrain``: Clotho development captions, clip-level InfoNCE.
- ``weak``: TACOS weak (clip-level) captions, loss weights ``training.loss_weights.weak``.
- ``strong``: TACOS strong (region) captions, frame-wise loss (``loss_weights.strong``).
- ``strong_intra``: ``strong`` plus intra-clip negatives (an ablation beyond the paper).
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

from tacos.training.module import LossConfig, OptimConfig
from tacos.training.run import SplitData, TrainingConfig, train

STAGES = ("pretrain", "weak", "strong", "strong_intra")


def model_config(config: dict, delta: float | None = None) -> dict:
    """The ``model`` section, with the frame duration replaced when ``delta`` is given."""
    model = copy.deepcopy(config["model"])
    if delta is not None:
        model["delta"] = float(delta)
    return model


def stage_settings(config: dict, stage: str) -> tuple[TrainingConfig, OptimConfig, LossConfig]:
    """Trainer, optimiser and loss settings of one stage."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    training = config["training"]
    phase = training["pretrain" if stage == "pretrain" else "finetune"]
    trainer = TrainingConfig.from_dict(
        {**training, "epochs": phase["epochs"], "sample_rate": config["audio"]["sample_rate"]}
    )
    optim = OptimConfig(**{key: phase[key] for key in OptimConfig.__annotations__ if key in phase})
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


def run_stage(
    config: dict,
    stage: str,
    train_data: SplitData,
    val_data: SplitData,
    out_model: str | os.PathLike,
    seed: int,
    delta: float | None = None,
    init_checkpoint: str | os.PathLike | None = None,
) -> None:
    """Train one stage in the folder of ``out_model`` and copy its best checkpoint there."""
    out_model = Path(out_model)
    trainer, optim, loss = stage_settings(config, stage)
    best = train(
        model_config(config, delta),
        trainer,
        optim,
        loss,
        train_data,
        val_data,
        out_model.parent,
        seed=seed,
        init_checkpoint=init_checkpoint,
    )
    partial = out_model.with_name(out_model.name + ".partial")
    shutil.copyfile(best, partial)
    os.replace(partial, out_model)
