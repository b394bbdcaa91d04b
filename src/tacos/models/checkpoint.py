"""Trained models from training checkpoints, for evaluation and detection without training code.

A Lightning checkpoint of ``TacosModule`` holds the weights under ``state_dict`` (keys
``model.<name>``) and the model config under ``tacos_model_config`` (written by the module's
``on_save_checkpoint``), so the checkpoint alone rebuilds the model.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from tacos.models.dual import AudioTextModel, build_model

log = logging.getLogger(__name__)

MODEL_CONFIG_KEY = "tacos_model_config"
MODEL_PREFIX = "model."


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint dict on the CPU; a missing file is an error that names it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return torch.load(path, map_location="cpu", weights_only=False)


def model_weights(checkpoint: dict, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The ``model.*`` entries of a checkpoint's ``state_dict``, without the prefix."""
    if "state_dict" not in checkpoint:
        raise ValueError(f"{path} has no 'state_dict': not a training checkpoint")
    return {
        key.removeprefix(MODEL_PREFIX): value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(MODEL_PREFIX)
    }


def load_model_weights(model: nn.Module, checkpoint: str | os.PathLike) -> None:
    """Load the ``model.*`` weights of a training checkpoint into a bare model (strict)."""
    model.load_state_dict(model_weights(read_checkpoint(checkpoint), checkpoint), strict=True)
    log.info("initialised from %s", checkpoint)


def load_trained_model(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> AudioTextModel:
    """Rebuild a trained model from its checkpoint alone, in eval mode on ``device``."""
    checkpoint = read_checkpoint(path)
    config = checkpoint.get(MODEL_CONFIG_KEY)
    if not config:
        raise ValueError(
            f"{path} holds no model config under {MODEL_CONFIG_KEY!r}: it was not written by "
            "tacos training; rebuild the model with build_model and load_model_weights instead"
        )
    model = build_model(config)
    model.load_state_dict(model_weights(checkpoint, path), strict=True)
    log.info("loaded the trained model of %s", path)
    return model.to(device).eval()
