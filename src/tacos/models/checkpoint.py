"""Trained models from training checkpoints, for evaluation and detection without training code.

A Lightning checkpoint of ``TacosModule`` holds the weights under ``state_dict`` (keys
``model.<name>``) and the model's identity, a :class:`ModelSpec`, under ``tacos_model``
(written by the module's ``on_save_checkpoint``), as nanoGPT keeps its ``GPTConfig`` with the
weights: the checkpoint alone rebuilds the model, and scoring, ``tacos detect`` and the results
JSON read its frame step, input length, rate, stage and seed from there, never from a path.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from tacos.models.dual import build_model
from tacos.models.supervised import build_supervised

log = logging.getLogger(__name__)

MODEL_SPEC_KEY = "tacos_model"
MODEL_KINDS = ("dual", "supervised")
MODEL_PREFIX = "model."


@dataclass(frozen=True)
class ModelSpec:
    """What a trained model is: how to build it, its frame grid, its input and its origin.

    ``build`` is the model section ``build_model`` takes (encoder and text settings, sizes, and
    ``delta``, the seconds per output frame: frame ``t`` covers ``[t*delta, (t+1)*delta)``);
    ``sample_rate`` the rate of the waveforms it takes; ``input_seconds`` the input length it
    was trained on (scoring pads clips to it);
    ``protocol`` the training-side choices that produced it (evaluated weights, Clotho items,
    TACOS split), carried into every results JSON.
    """

    build: dict
    input_seconds: float
    sample_rate: int
    stage: str
    seed: int
    protocol: dict = field(default_factory=dict)
    kind: str = "dual"
    """``dual`` (audio-text, cosine scores) or ``supervised`` (a strong head's logits)."""

    def __post_init__(self) -> None:
        if "delta" not in self.build:
            raise ValueError("a model spec's build section must state its frame step 'delta'")
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {self.kind!r}")

    @property
    def delta(self) -> float:
        return float(self.build["delta"])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, path: str | os.PathLike = "") -> ModelSpec:
        names = set(cls.__dataclass_fields__)
        if not isinstance(values, dict) or not names - {"protocol", "kind"} <= values.keys():
            raise ValueError(
                f"{path} holds no model spec under {MODEL_SPEC_KEY!r}: it was not written by "
                "this version of tacos training; train it again, or rebuild the model with "
                "build_model and load_model_weights"
            )
        return cls(**{key: values[key] for key in names if key in values})

    def identity(self, checkpoint: str | os.PathLike) -> dict:
        """Stage, delta, seed, checkpoint and protocol, as score files and results state them."""
        return {
            "stage": self.stage,
            "delta": self.delta,
            "seed": self.seed,
            "checkpoint": str(checkpoint),
            "protocol": dict(self.protocol),
        }


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint dict on the CPU, read with ``weights_only=True`` (tensors and plain values
    only: a file a user passes cannot run code); a missing or foreign file is an error that
    names it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ValueError(
            f"{path} is not a model file of tacos (weights and spec only): "
            f"{str(error).splitlines()[0]}"
        ) from error


def export_model(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """A training checkpoint's model as a model file: the ``model.*`` weights and the spec,
    without optimiser state (a third of the size; read with ``weights_only=True``)."""
    trained = read_checkpoint(checkpoint)
    state = {
        key: value for key, value in trained["state_dict"].items() if key.startswith(MODEL_PREFIX)
    }
    return _save(state, read_spec(trained, checkpoint), out)


def model_weights(checkpoint: dict, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The ``model.*`` entries of a checkpoint's ``state_dict``, without the prefix."""
    if "state_dict" not in checkpoint:
        raise ValueError(f"{path} has no 'state_dict': not a training checkpoint")
    return {
        key.removeprefix(MODEL_PREFIX): value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(MODEL_PREFIX)
    }


def load_backbone_weights(backbone: nn.Module, checkpoint: str | os.PathLike) -> None:
    """Start an audio backbone from the ``backbone`` of a trained supervised model (strict)."""
    prefix = "backbone."
    weights = model_weights(read_checkpoint(checkpoint), checkpoint)
    state = {key[len(prefix) :]: value for key, value in weights.items() if key.startswith(prefix)}
    if not state:
        raise ValueError(f"{checkpoint} holds no 'backbone' weights: not a supervised model")
    backbone.load_state_dict(state, strict=True)
    log.info("audio backbone initialised from %s", checkpoint)


def load_model_weights(model: nn.Module, checkpoint: str | os.PathLike) -> None:
    """Load the ``model.*`` weights of a training checkpoint into a bare model (strict)."""
    model.load_state_dict(model_weights(read_checkpoint(checkpoint), checkpoint), strict=True)
    log.info("initialised from %s", checkpoint)


def read_spec(checkpoint: dict, path: str | os.PathLike) -> ModelSpec:
    return ModelSpec.from_dict(checkpoint.get(MODEL_SPEC_KEY), path)


def build_from_spec(spec: ModelSpec) -> nn.Module:
    """A model with the spec's architecture and fresh weights."""
    if spec.kind == "supervised":
        return build_supervised(spec.build)
    return build_model(spec.build)


def save_model(model: nn.Module, spec: ModelSpec, path: str | os.PathLike) -> Path:
    """A checkpoint in the training layout (``state_dict`` with ``model.`` keys and the spec),
    written atomically, for models that are not trained here (the supervised row)."""
    state = {MODEL_PREFIX + key: value for key, value in model.state_dict().items()}
    return _save(state, spec, path)


def _save(state: dict[str, torch.Tensor], spec: ModelSpec, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"state_dict": state, MODEL_SPEC_KEY: spec.to_dict()}, partial)
    os.replace(partial, path)
    return path


def load_trained_model(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelSpec]:
    """Rebuild a trained model from its checkpoint alone, in eval mode on ``device``."""
    checkpoint = read_checkpoint(path)
    spec = read_spec(checkpoint, path)
    model = build_from_spec(spec)
    if model.sample_rate != spec.sample_rate:
        raise ValueError(
            f"{path}: the model takes {model.sample_rate} Hz but its spec says {spec.sample_rate}"
        )
    model.load_state_dict(model_weights(checkpoint, path), strict=True)
    log.info(
        "loaded the %s model (seed %d, delta %g s) of %s", spec.stage, spec.seed, spec.delta, path
    )
    return model.to(device).eval(), spec


def supervised_build(audio: dict) -> dict:
    """A supervised model's build section: the ``audio`` part of a model section (its
    checkpoint left out) and the strong head's frame step."""
    from tacos.models.supervised import SupervisedConfig

    settings = SupervisedConfig()
    architecture = {key: value for key, value in audio.items() if key != "checkpoint"}
    return {"audio": architecture, "delta": settings.input_seconds / settings.seq_len}


def supervised_spec(build: dict, sample_rate: int, seed: int, **protocol) -> ModelSpec:
    """The spec of a supervised model: the first 10 s as input and the authors' scoring."""
    from tacos.models.supervised import SupervisedConfig

    settings = SupervisedConfig()
    return ModelSpec(
        build=build,
        input_seconds=settings.input_seconds,
        sample_rate=sample_rate,
        stage="supervised",
        seed=seed,
        protocol={
            "scores": "strong-head logits",
            "median_filter": settings.median_filter,
            "input": f"first {settings.input_seconds:g} s",
            **protocol,
        },
        kind="supervised",
    )


def write_supervised_checkpoint(audio: dict, out: str | os.PathLike) -> Path:
    """The supervised row's model: ``audio.checkpoint`` (``ASIT_strong_1``) with its own strong
    head, as a checkpoint in the training layout that the score rule reads like any other."""
    from tacos.models.supervised import load_strong_head_checkpoint

    build = supervised_build(audio)
    model = build_supervised(build)
    load_strong_head_checkpoint(model, audio["checkpoint"])
    spec = supervised_spec(build, model.sample_rate, seed=0, weights="ASIT_strong_1")
    return save_model(model, spec, out)
