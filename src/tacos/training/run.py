"""One training run with PyTorch Lightning: data loaders, trainer, checkpoints, exact resume.

Metrics: one Lightning CSV log per start in ``<out>/attempts/<NNN>/``, merged into
``<out>/metrics.csv`` (each epoch from the attempt that last ran it).

Checkpoints: the latest epoch's ``<out>/checkpoints/epoch<NNN>.ckpt`` with ``last.ckpt`` linked to
it and, when the best epoch is evaluated, ``best.ckpt`` (highest Clotho validation mAP@10);
``train`` returns the one ``evaluated_weights`` names (``last``: the authors', who test the model
``fit`` leaves in memory). A run that finds ``last.ckpt`` resumes from it: the sampler, the caption
draws and the model's randomness depend on (seed, epoch) only, so the resumed run ends with the
weights an uninterrupted run would have. Under SLURM, SIGUSR1 requeues the job (``cluster``);
SIGTERM stops it after the current step with ``TrainingInterrupted`` (a non-zero exit, so Snakemake
or SLURM sees the job unfinished), and the next start resumes from the last epoch checkpoint.

``batch_size`` is the global batch: under DDP each of the ``devices x num_nodes`` processes loads
its share, and the losses average over the global batch, so the weights are those of one process.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader

from tacos.logs import setup_logging
from tacos.models.checkpoint import ModelSpec, load_backbone_weights, load_model_weights
from tacos.models.dual import build_model
from tacos.training.cluster import cluster_environment, requeue_callbacks
from tacos.training.data import (
    CaptionedClips,
    CollateMode,
    EpochShuffleSampler,
    ItemMode,
    collate,
)
from tacos.training.module import LossConfig, OptimConfig, TacosModule

log = logging.getLogger(__name__)

# Harmless with this setup: a frozen text transformer is meant to stay in eval mode, and the
# pytree notice is internal to Lightning. Filtered so that real warnings stand out in the logs.
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")

BEST_METRIC = "val/mAP@10"
ATTEMPTS_DIR = "attempts"  # one Lightning CSV log per start of the run
EVALUATED_WEIGHTS = {"last": "last.ckpt", "best": "best.ckpt"}
SETTINGS_FILE = "run_settings.json"  # what the checkpoints in the folder were trained with


class TrainingInterrupted(RuntimeError):
    """Training stopped early on a signal; rerunning resumes from the last epoch checkpoint."""


@dataclass(frozen=True)
class SplitData:
    manifest: str
    store: str


@dataclass(frozen=True)
class TrainingConfig:
    """The ``training`` section of the config (defaults: docs/protocol.md, section 4)."""

    batch_size: int = 32
    epochs: int = 20
    max_seconds: float = 30.0
    sample_rate: int = 32000
    num_workers: int = 2
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    precision: str = "auto"  # "auto": 16-mixed on GPU, 32-true on CPU
    limit_train_batches: int | None = None
    evaluated_weights: str = "last"  # EVALUATED_WEIGHTS: the authors' last epoch, or best
    items: ItemMode = "clips"  # "pairs": one item per (clip, caption), the authors' Clotho epoch

    def __post_init__(self) -> None:
        if self.evaluated_weights not in EVALUATED_WEIGHTS:
            raise ValueError(
                f"evaluated_weights must be one of {sorted(EVALUATED_WEIGHTS)}, "
                f"got {self.evaluated_weights!r}"
            )
        if self.batch_size % self.processes:
            raise ValueError(
                f"batch_size {self.batch_size} (the global batch) does not divide among "
                f"{self.processes} DDP processes (devices x num_nodes)"
            )

    @property
    def processes(self) -> int:
        """DDP processes: one per device on every node."""
        return self.devices * self.num_nodes

    @classmethod
    def from_dict(cls, values: dict) -> TrainingConfig:
        return cls(**{key: value for key, value in values.items() if key in cls.__annotations__})


def train(
    spec: ModelSpec,
    training: TrainingConfig,
    optim: OptimConfig,
    loss: LossConfig,
    train_data: SplitData,
    val_data: SplitData,
    out_dir: str | os.PathLike,
    init_checkpoint: str | os.PathLike | None = None,
    callbacks: Sequence[L.Callback] = (),
    backbone_checkpoint: str | os.PathLike | None = None,
) -> Path:
    """Train the dual encoder, validate each epoch, and return the evaluated checkpoint's path.

    The model is built from ``spec.build`` and ``spec`` is saved in every checkpoint.
    ``init_checkpoint``: a trained dual encoder to start from (fine-tuning);
    ``backbone_checkpoint``: a checkpoint whose ``backbone`` starts the audio backbone (the
    demo's supervised pretraining, as ``ASIT_strong_1`` starts the paper's).
    ``callbacks`` are added to the trainer's own (checkpointing) callbacks.
    """
    seed = spec.seed
    L.seed_everything(seed, workers=True)
    model = build_model(spec.build)
    if backbone_checkpoint:
        load_backbone_weights(model.audio_backbone, backbone_checkpoint)
    if init_checkpoint:
        load_model_weights(model, init_checkpoint)
    mode: CollateMode = "frame" if loss.frame_level else "clip"
    train_loader = loader(train_data, training, seed, mode, shuffle=True)
    val_loader = loader(val_data, training, seed, "retrieval", shuffle=False)
    module = TacosModule(model, loss, optim, spec)
    settings = run_settings(
        spec,
        training,
        optim,
        loss=asdict(loss),
        init=init_checkpoint,
        backbone=backbone_checkpoint,
        train_data=asdict(train_data),
        val_data=asdict(val_data),
    )
    return fit(module, training, train_loader, val_loader, out_dir, settings, callbacks)


def fit(
    module: L.LightningModule,
    training: TrainingConfig,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    out_dir: str | os.PathLike,
    settings: dict,
    callbacks: Sequence[L.Callback] = (),
) -> Path:
    """Fit ``module`` with checkpoints every epoch, resuming from ``last.ckpt`` when it was
    written with the same ``settings``; returns the checkpoint ``training.evaluated_weights``
    names (``best`` needs validation)."""
    out_dir = Path(out_dir)
    if val_loader is None and training.evaluated_weights == "best":
        raise ValueError("evaluated_weights 'best' needs validation data; use 'last'")
    checkpoints = out_dir / "checkpoints"
    last = checkpoints / "last.ckpt"
    start_afresh_if_changed(out_dir, settings)
    keep_best = training.evaluated_weights == "best"
    trainer = _trainer(training, out_dir, checkpoints, callbacks, keep_best)
    try:
        trainer.fit(module, train_loader, val_loader, ckpt_path=last if last.is_file() else None)
    except SIGTERMException as stop:
        # Lightning exits with status 0 here; a scheduler must see that the job did not finish.
        raise TrainingInterrupted(
            f"training in {out_dir} stopped by SIGTERM; run it again to resume from {last}"
        ) from stop
    finally:
        if trainer.is_global_zero:
            merge_attempt_metrics(out_dir / ATTEMPTS_DIR, out_dir / "metrics.csv")
    if not trainer.is_global_zero:
        # One of the DDP processes Lightning launched, running the same script: the first
        # process writes the outputs, this one is done.
        raise SystemExit(0)
    return checkpoints / EVALUATED_WEIGHTS[training.evaluated_weights]


class NoGpuError(RuntimeError):
    """A job was given GPUs but this process sees no CUDA device."""


def check_gpus(requested: int, accelerator: str) -> None:
    """Stop a job that asked the scheduler for GPUs but would silently train on the CPU.

    ``requested``: the job's ``gpu`` resource; an explicit ``accelerator: cpu`` opts out (the
    test cluster's fake GPU).
    """
    if requested <= 0 or accelerator == "cpu" or torch.cuda.is_available():
        return
    build = f"torch {torch.__version__} (CUDA {torch.version.cuda or 'none: a CPU build'})"
    raise NoGpuError(
        f"this job asked for {requested} GPU(s) but sees no CUDA device with {build}; "
        f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}. Check the "
        "node's NVIDIA driver (nvidia-smi) and that torch is a CUDA build, or set "
        "resources.train.gpu: 0 to train on the CPU"
    )


def start_training_job(
    log_file: str | os.PathLike, threads: int, resources: Mapping, training: Mapping
) -> None:
    """What every training rule does first: its log, its CPU threads, and the check that the
    GPUs its ``resources`` asked for are there (``training``: the config's section)."""
    setup_logging(log_file)
    torch.set_num_threads(threads)
    check_gpus(int(resources.get("gpu", 0)), training["accelerator"])


def run_settings(spec: ModelSpec, training: TrainingConfig, optim: OptimConfig, **more) -> dict:
    """Everything a run's weights depend on, to tell a resumable run from a changed one."""
    return {
        "spec": spec.to_dict(),
        "training": asdict(training),
        "optim": asdict(optim),
        **{
            key: str(value) if isinstance(value, os.PathLike) else value
            for key, value in more.items()
        },
    }


def start_afresh_if_changed(out_dir: Path, settings: dict) -> None:
    """Drop the checkpoints and logs of an earlier run with other (or unrecorded) settings, so
    that a changed config retrains instead of resuming the old run; record this run's settings."""
    path = out_dir / SETTINGS_FILE
    text = json.dumps(settings, sort_keys=True, default=str, indent=1) + "\n"
    last = out_dir / "checkpoints" / "last.ckpt"
    unknown = last.is_file() and not path.is_file()
    if unknown or (path.is_file() and path.read_text(encoding="utf-8") != text):
        log.warning("%s was trained with other settings: training starts afresh", out_dir)
        for folder in (out_dir / "checkpoints", out_dir / ATTEMPTS_DIR):
            shutil.rmtree(folder, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def merge_attempt_metrics(attempts_dir: Path, out_path: Path) -> None:
    """One metrics CSV from every attempt of a run, each epoch from the attempt that last ran it.

    A resumed attempt restarts the epoch its predecessor was interrupted in, so the earlier
    attempt's rows of that epoch and later are superseded.
    """
    frames = [
        pd.read_csv(path)
        for path in sorted(attempts_dir.glob("*/metrics.csv"))
        if path.stat().st_size
    ]
    merged: list[pd.DataFrame] = []
    for frame in frames:
        first_epoch = frame["epoch"].min()
        merged = [earlier[earlier["epoch"] < first_epoch] for earlier in merged]
        merged.append(frame)
    if merged:
        partial = out_path.with_name(out_path.name + ".partial")
        pd.concat(merged, ignore_index=True).to_csv(partial, index=False)
        os.replace(partial, out_path)


def loader(
    data: SplitData, training: TrainingConfig, seed: int, mode: CollateMode, shuffle: bool
) -> DataLoader:
    """Batches of a split, inputs padded or cropped to ``training.max_seconds``; shuffled by
    (seed, epoch) and without the last short batch for training."""
    items = training.items if shuffle else "clips"
    dataset = CaptionedClips(data.manifest, data.store, training.max_seconds, seed, items)
    n_samples = round(training.max_seconds * training.sample_rate)
    return DataLoader(
        dataset,
        batch_size=training.batch_size // training.processes,
        sampler=EpochShuffleSampler(len(dataset), seed) if shuffle else None,
        collate_fn=partial(collate, n_samples=n_samples, mode=mode),
        num_workers=training.num_workers,
        persistent_workers=training.num_workers > 0,
        drop_last=shuffle and len(dataset) > training.batch_size,
    )


def _trainer(
    training: TrainingConfig,
    out_dir: Path,
    checkpoints: Path,
    callbacks: Sequence[L.Callback],
    keep_best: bool,
) -> L.Trainer:
    # The latest epoch's checkpoint with last.ckpt linked to it (for resuming) and, when the best
    # epoch is evaluated, best.ckpt: nothing else, as each holds the model and optimiser state.
    last = ModelCheckpoint(
        dirpath=checkpoints,
        filename="epoch{epoch:03d}",
        auto_insert_metric_name=False,
        save_top_k=1,
        save_last="link",
        enable_version_counter=False,
    )
    best = ModelCheckpoint(
        dirpath=checkpoints,
        filename="best",
        monitor=BEST_METRIC,
        mode="max",
        save_top_k=1,
        enable_version_counter=False,
    )
    on_gpu = torch.cuda.is_available() and training.accelerator in ("auto", "gpu", "cuda")
    precision = training.precision
    if precision == "auto":
        precision = "16-mixed" if on_gpu else "32-true"
    environment = cluster_environment(training.devices, training.num_nodes)
    return L.Trainer(
        default_root_dir=out_dir,
        max_epochs=training.epochs,
        accelerator=training.accelerator,
        devices=training.devices,
        num_nodes=training.num_nodes,
        strategy="ddp" if training.processes > 1 else "auto",
        # Batch norms take their statistics over the global batch, as on one process (GPU only:
        # on CPU processes each keeps its own share's statistics).
        sync_batchnorm=training.processes > 1 and on_gpu,
        precision=precision,
        deterministic=not on_gpu,
        logger=CSVLogger(out_dir / ATTEMPTS_DIR, name="", version=_next_attempt(out_dir)),
        callbacks=[last, *([best] if keep_best else []), *requeue_callbacks(), *callbacks],
        plugins=[environment] if environment else [],
        limit_train_batches=training.limit_train_batches,
        num_sanity_val_steps=0,
        # Our sampler shards the training set across DDP processes itself, and every process
        # validates on the whole Clotho validation set, so retrieval metrics are exact.
        use_distributed_sampler=False,
        log_every_n_steps=1,
        enable_model_summary=False,
    )


def _next_attempt(out_dir: Path) -> str:
    """A fresh log folder per (re)start, so a resumed run keeps the history of the first."""
    return f"{len(list((out_dir / ATTEMPTS_DIR).glob('*'))):03d}"
