"""Where the training processes come from, and how a SLURM job that runs out of time comes back.

Processes. Snakemake's SLURM plugin runs every job as one task (``srun -n1``), so a job asking
for several GPUs holds one process. That one process must then launch the others itself:
Lightning does so under its plain environment. Only where SLURM started one task per device
(a hand-written ``srun --ntasks-per-node``) does Lightning's SLURM environment take the tasks'
ranks. Multi-node training needs one task per node or per device, which the plugin does not
start for a non-MPI job, so it stops with an error that says so.

Requeue. sbatch's ``--signal=USR1@<seconds>`` (the SLURM profile) warns a training job before
its time limit. The first process then asks SLURM to requeue the job (``scontrol requeue``); SLURM
ends it, starts it again, and the run resumes from its last epoch checkpoint, so its final
weights are an uninterrupted run's. Lightning's own SLURM requeue would first save a mid-epoch
checkpoint, whose resumption restarts that epoch's batches under a later step count: the weights
would differ, so it is switched off.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from types import FrameType

import lightning as L
from lightning.pytorch.plugins.environments import (
    ClusterEnvironment,
    LightningEnvironment,
    SLURMEnvironment,
)

log = logging.getLogger(__name__)

REQUEUE_SIGNAL = signal.SIGUSR1


def slurm_tasks() -> int | None:
    """The tasks SLURM started for this job step; None outside SLURM."""
    if not SLURMEnvironment.detect():
        return None
    return int(os.environ.get("SLURM_STEP_NUM_TASKS") or os.environ["SLURM_NTASKS"])


def cluster_environment(devices: int, num_nodes: int) -> ClusterEnvironment | None:
    """The environment that gives Lightning its ranks; None: Lightning's default (no SLURM)."""
    tasks = slurm_tasks()
    if tasks is None:
        return None
    processes = devices * num_nodes
    if tasks == processes:
        return SLURMEnvironment(auto_requeue=False)
    if tasks == 1 and num_nodes == 1:
        return LightningEnvironment()
    raise ValueError(
        f"training asks for {devices} device(s) on {num_nodes} node(s), {processes} processes, "
        f"but this SLURM step has {tasks} task(s). Under Snakemake's SLURM plugin a job is one "
        "task, and its process launches one process per device on its node: set "
        "training.num_nodes: 1 (several devices on one node), or start the training yourself "
        "with srun and one task per device"
    )


class RequeueOnSignal(L.Callback):
    """On SIGUSR1, requeue this SLURM job; the restarted job resumes from ``last.ckpt``."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        def requeue(signum: int, frame: FrameType | None) -> None:
            if not trainer.is_global_zero:
                return
            log.warning(
                "SLURM job %s: signal %s at epoch %d, step %d; requeueing it (scontrol requeue)."
                " The next start resumes from the last epoch checkpoint",
                self.job_id,
                signal.Signals(signum).name,
                trainer.current_epoch,
                trainer.global_step,
            )
            result = subprocess.run(["scontrol", "requeue", self.job_id], capture_output=True)
            if result.returncode != 0:
                log.error("scontrol requeue %s failed: %s", self.job_id, result.stderr.decode())

        signal.signal(REQUEUE_SIGNAL, requeue)


def requeue_callbacks() -> list[L.Callback]:
    """[RequeueOnSignal] inside a SLURM job, else []."""
    job_id = os.environ.get("SLURM_JOB_ID")
    if job_id is None or not SLURMEnvironment.detect():
        return []
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array_job is not None:
        job_id = f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return [RequeueOnSignal(job_id)]
