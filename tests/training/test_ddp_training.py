"""Training on two CPU processes (DDP, gloo) ends with the weights of one process holding the
whole global batch: each process loads half of every batch, and the losses gather the other
process's embeddings and average over the global batch.

The model is the paper's architecture in small (ASiT, BiGRU, frozen MiniLM): it has no batch
norm, whose per-process statistics only SyncBatchNorm (GPU only) would make global, and no
dropout, whose masks differ between processes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import lightning as L
import pytest
from test_training import GLOBAL, OPTIM, SPEC, STRONG, TRAINING, weights
from tiny_model import RATE, TINY_MODEL

from tacos.models.dual import build_model
from tacos.training.run import TrainingConfig

ASIT = {"embed_dim": 16, "depth": 1, "num_heads": 2, "input_sample_rate": RATE}
TINY_ASIT_MODEL = {**TINY_MODEL, "audio": {"encoder": "asit", "asit": ASIT}, "delta": 0.02}

# Lightning launches the second process by running the first one's script file again.
RUN_SCRIPT = """
import json, sys
from tacos.models.checkpoint import ModelSpec
from tacos.training.module import LossConfig, OptimConfig
from tacos.training.run import SplitData, TrainingConfig, train

args = json.loads(sys.argv[1])
path = train(ModelSpec(**args["spec"]), TrainingConfig(**args["training"]),
             OptimConfig(**args["optim"]), LossConfig(**args["loss"]), SplitData(*args["train"]),
             SplitData(*args["val"]), args["out"])
print("evaluated:", path)
"""
# Float sums run in another order on two processes; the weights agree to this bound.
ATOL = 1e-5


def train_in_subprocess(tmp_path, tiny_data, loss, devices: int):
    script = tmp_path / "run_training.py"
    script.write_text(RUN_SCRIPT)
    training = {**TRAINING.__dict__, "accelerator": "cpu", "devices": devices}
    args = {
        "spec": {**SPEC.to_dict(), "build": TINY_ASIT_MODEL},
        "training": training,
        "optim": OPTIM.__dict__,
        "loss": loss.__dict__,
        "train": [str(path) for path in tiny_data["train"]],
        "val": [str(path) for path in tiny_data["val"]],
        "out": str(tmp_path / f"devices{devices}"),
    }
    result = subprocess.run(
        [sys.executable, str(script), json.dumps(args)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path / f"devices{devices}" / "checkpoints" / "last.ckpt", result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("loss", [GLOBAL, STRONG], ids=["clip-level", "frame-level"])
def test_two_processes_train_the_weights_of_one(tmp_path, tiny_data, loss):
    one, _ = train_in_subprocess(tmp_path, tiny_data, loss, devices=1)
    two, log = train_in_subprocess(tmp_path, tiny_data, loss, devices=2)
    assert "MEMBER: 2/2" in log
    reference, distributed = weights(one), weights(two)
    assert reference.keys() == distributed.keys()
    differences = {key: float((reference[key] - distributed[key]).abs().max()) for key in reference}
    assert max(differences.values()) < ATOL, differences
    L.seed_everything(SPEC.seed, workers=True)  # the start train() builds
    start = {f"model.{k}": v for k, v in build_model(TINY_ASIT_MODEL).state_dict().items()}
    moved = max(float((reference[key] - start[key]).abs().max()) for key in reference)
    assert moved > 100 * ATOL  # training moved the weights far beyond the bound


def test_the_global_batch_must_divide_among_the_processes():
    with pytest.raises(ValueError, match="batch_size 5 .* does not divide among 2 DDP"):
        TrainingConfig(batch_size=5, devices=2)
