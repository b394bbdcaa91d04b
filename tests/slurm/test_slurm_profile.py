"""The cluster profile (slurm/config.v9+.yaml) on a real single-node SLURM brought up by the test.

munged, slurmctld and slurmd run as root on 127.0.0.1 with every state, spool and log file in a
temporary folder, `select/cons_tres`, no accounting daemon (so job status must come from squeue)
and one fake GPU (`gres.conf` with `File=/dev/null`). A tiny demo config then trains through
the profile, every job submitted with sbatch, the training jobs asking for the GPU and training
on two CPU processes (DDP over gloo) inside their one task. Halfway through the fine-tuning the
test sends its job SIGUSR1, as sbatch --signal does before a time limit: the job must requeue
itself, resume from its epoch checkpoint and end with the weights of an uninterrupted run.

The configuration goes to /etc/slurm/slurm.conf, where SLURM clients look by default: the
plugin's job step drops SLURM_CONF from the environment of the `srun` it starts inside each job,
so a configuration reachable only through SLURM_CONF fails there ("DNS SRV lookup failed").
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflow" / "Snakefile"
SYSTEM_CONF_DIR = Path("/etc/slurm")
# A strong fine-tuning pulls in demo data, data preparation, pretraining and fine-tuning.
TARGET = "results/demo/models/strong/delta0.04/seed1/model.ckpt"
TRAINING_RULES = {"train_supervised", "pretrain", "finetune"}
PROFILE_FILE = "config.v9+.yaml"  # Snakemake 9's name for a profile of version 9 and later
FINETUNE_EPOCHS = 4
FINETUNE_DIR = "results/demo/models/strong/delta0.04/seed1"
NODE_MEMORY_MB = 8000
RUN_TIMEOUT_S = 1200
# squeue fields separated by "|": job id, comment (the rule), trackable resources asked, state.
JOB_FORMAT = "JobID:|,Comment:|,tres-per-job:|,State:"
SLURM_COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel")


def tiny_config() -> dict:
    """config/config.yaml with demo datasets of a few short clips, a few short epochs, and
    training on two CPU processes (DDP over gloo) per job."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    demo = config["data"]["demo"]
    demo["tacos"].update(n_development=6, n_test=2, min_duration=5.0, max_duration=8.0)
    demo["clotho"].update(
        n_development=3, n_validation=2, n_evaluation=2, min_duration=5.0, max_duration=8.0
    )
    demo["audioset"].update(n_eval=3, n_train=3)
    training = config["training"]
    training.update(seeds=[1], batch_size=2, accelerator="cpu", devices=2)
    for phase in ("pretrain", "supervised"):
        training[phase].update(epochs=1, warmup_epochs=0, cosine_epochs=1)
    # Epochs enough for a SIGUSR1 to land after the first epoch's checkpoint and before the end.
    training["finetune"].update(epochs=FINETUNE_EPOCHS, warmup_epochs=0, cosine_epochs=2)
    return config


def site_profile(folder: Path) -> Path:
    """The repository's profile with this test cluster's sizes added to its set-resources, as a
    site adds its own: the training jobs ask for the node's fake GPU and fit its memory."""
    profile = yaml.safe_load((REPO / "slurm" / PROFILE_FILE).read_text())
    for rule in TRAINING_RULES:
        profile["set-resources"][rule].update(gpu=1, mem_mb=2000, runtime=10)
    for rule in ("score", "evaluate"):
        profile["set-resources"][rule] = {"mem_mb": 2000, "runtime": 10}
    folder.mkdir()
    (folder / PROFILE_FILE).write_text(yaml.safe_dump(profile))
    return folder


def profile_snakemake(workdir: Path, *args: str, profile: str = "slurm") -> list[str]:
    """The command a user types from the repository root, run in `workdir`.

    The target comes first: options such as --configfile take several values and would swallow
    a target that follows them.
    """
    return [
        sys.executable, "-m", "snakemake", TARGET, "--profile", profile,
        "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
        "--configfile", str(workdir / "tiny.yaml"), *args,
    ]  # fmt: skip


def dry_run_job_counts(workdir: Path, profile: str = "slurm") -> Counter:
    """{rule: jobs} from the 'Job stats' table of a dry run."""
    result = subprocess.run(
        profile_snakemake(workdir, "-n", profile=profile),
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout.split("Job stats:")[1].strip().splitlines()[2:]
    counts = Counter()
    for line in table:
        if line.split()[0] == "total":
            break
        rule, count = line.split()
        counts[rule] = int(count)
    return counts


def test_profile_dry_run_plans_the_tiny_training(tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_config()))
    counts = dry_run_job_counts(tmp_path)
    assert counts["pretrain"] == 1
    assert counts["finetune"] == 1
    assert counts["demo_data"] == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_conf(root: Path, cpus: int) -> str:
    """One node `localhost` with `cpus` CPUs, NODE_MEMORY_MB and one GPU; no accounting."""
    return f"""\
ClusterName=tacostest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=3600
ReturnToService=2
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={NODE_MEMORY_MB} Gres=gpu:1
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SingleNodeSlurm:
    root: Path
    cpus: int
    daemons: dict[str, subprocess.Popen] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)

    def start(self, name: str, *command: str) -> None:
        """Start a daemon in the foreground, so its PID is the one the test stops."""
        with (self.root / "log" / f"{name}.out").open("w") as log:
            self.daemons[name] = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=slurm_env()
            )

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller remembers (MinJobAge keeps finished ones for an hour)."""
        fields = ("id", "comment", "tres", "state")
        result = subprocess.run(
            ["squeue", "--states=all", "--noheader", f"--Format={JOB_FORMAT}"],
            capture_output=True, text=True, check=True, env=slurm_env(),
        )  # fmt: skip
        return [
            dict(zip(fields, (value.strip() for value in line.split("|")), strict=True))
            for line in result.stdout.splitlines()
        ]

    def logs(self) -> str:
        """The end of every daemon's log, for a failure message."""
        return "\n".join(
            f"== {path.name}\n{path.read_text()[-1500:]}"
            for path in sorted((self.root / "log").iterdir())
        )

    def stop(self) -> None:
        """Cancel leftover jobs, stop the daemons by PID (last started first), drop the config."""
        try:
            controller = self.daemons.get("slurmctld")
            if controller is not None and controller.poll() is None:
                subprocess.run(["scancel", "--user=root"], env=slurm_env(), timeout=30)
        finally:
            for daemon in reversed(self.daemons.values()):
                stop_process(daemon, signal.SIGTERM, grace_s=30)
            for path in self.written:
                path.unlink(missing_ok=True)


def slurm_env() -> dict[str, str]:
    """The test's environment with SLURM clients reading the default /etc/slurm/slurm.conf."""
    return {name: value for name, value in os.environ.items() if name != "SLURM_CONF"}


def stop_process(process: subprocess.Popen, first_signal: int, grace_s: float) -> None:
    if process.poll() is None:
        process.send_signal(first_signal)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, details: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s} s\n{details()}")
        time.sleep(0.5)


def node_state() -> str:
    result = subprocess.run(
        ["sinfo", "--noheader", "--nodes=localhost", "--format=%T"],
        capture_output=True, text=True, env=slurm_env(),
    )  # fmt: skip
    return result.stdout.strip()


def unavailable(reason: str) -> NoReturn:
    """Skip where SLURM cannot run; in CI (CI=true), where .ci/run installs it, fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"the SLURM test must run in CI: {reason}")
    pytest.skip(reason)


def require_cluster_prerequisites() -> None:
    missing = [name for name in SLURM_COMMANDS if shutil.which(name) is None]
    if missing:
        unavailable(
            f"SLURM is not installed ({', '.join(missing)} missing): "
            "apt-get install -y slurm-wlm munge"
        )
    if os.geteuid() != 0:
        unavailable("the single-node SLURM test starts munged, slurmctld and slurmd as root")
    existing = [name for name in ("slurm.conf", "gres.conf") if (SYSTEM_CONF_DIR / name).exists()]
    if existing:
        unavailable(f"{SYSTEM_CONF_DIR}/{existing[0]} exists: this machine has its own SLURM")


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory) -> Iterator[SingleNodeSlurm]:
    require_cluster_prerequisites()
    root = tmp_path_factory.mktemp("slurm")
    for folder in ("munge", "state", "spool", "log", "key"):
        (root / folder).mkdir(mode=0o755)
    key = root / "key" / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o600)
    cluster = SingleNodeSlurm(root, cpus=max(2, os.cpu_count() or 1))
    try:
        SYSTEM_CONF_DIR.mkdir(exist_ok=True)
        for name, text in (
            ("slurm.conf", slurm_conf(root, cluster.cpus)),
            ("gres.conf", "NodeName=localhost Name=gpu File=/dev/null\n"),
        ):
            (SYSTEM_CONF_DIR / name).write_text(text)
            cluster.written.append(SYSTEM_CONF_DIR / name)
        cluster.start(
            "munged", "munged", "--foreground", "--force", f"--key-file={key}",
            f"--socket={root}/munge/munge.socket", f"--pid-file={root}/munge/munged.pid",
            f"--log-file={root}/log/munged.log", f"--seed-file={root}/munge/munged.seed",
        )  # fmt: skip
        wait_until((root / "munge" / "munge.socket").exists, 30, "munged socket", cluster.logs)
        cluster.start("slurmctld", "slurmctld", "-D")
        cluster.start("slurmd", "slurmd", "-D", "-N", "localhost")
        wait_until(lambda: node_state() == "idle", 60, "node localhost idle", cluster.logs)
        yield cluster
    finally:
        cluster.stop()


def wait_for_process(process: subprocess.Popen, log: Path, timeout_s: float) -> int:
    """Wait for snakemake; if it hangs, SIGINT lets it cancel its SLURM jobs (SIGTERM would
    not)."""
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        stop_process(process, signal.SIGINT, grace_s=60)
        pytest.fail(f"snakemake ran past {timeout_s} s:\n{log.read_text()[-3000:]}")


def start_snakemake(command: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as output:
        return subprocess.Popen(
            command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT, env=slurm_env()
        )


@dataclass
class Requeue:
    """What the test did to the running fine-tuning job, and when (seconds since the start)."""

    job_id: str
    signalled_at_s: float
    checkpoints_seen: list[str]
    handler_line: str  # what the training logged on the signal, before the restart rewrote the log


def signal_the_finetuning(
    cluster: SingleNodeSlurm, workdir: Path, process: subprocess.Popen, started: float
) -> Requeue:
    """Once the fine-tuning job has written its first epoch checkpoint, send it SIGUSR1 as
    sbatch --signal would before its time limit."""
    checkpoints = workdir / FINETUNE_DIR / "checkpoints"

    def first_epoch_written() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"snakemake ended before the signal: {process.returncode}")
        return (checkpoints / "epoch000.ckpt").is_file()

    wait_until(first_epoch_written, RUN_TIMEOUT_S, "the first fine-tuning epoch", cluster.logs)
    (job,) = [
        job for job in cluster.jobs() if rule_of(job) == "finetune" and job["state"] == "RUNNING"
    ]
    subprocess.run(["scancel", "--signal=USR1", job["id"]], check=True, env=slurm_env(), timeout=30)
    signalled_at = time.monotonic() - started
    seen = sorted(path.name for path in checkpoints.iterdir())
    # SLURM holds a requeued job for about two minutes; its restart starts the rule log afresh.
    rule_log = workdir / "results" / "demo" / "logs" / "train" / "strong_delta0.04_seed1.log"
    wanted = f"SLURM job {job['id']}: signal SIGUSR1"

    def handler_logged() -> bool:
        return wanted in rule_log.read_text()

    wait_until(handler_logged, 60, "the requeue handler's log line", cluster.logs)
    (line,) = [line for line in rule_log.read_text().splitlines() if wanted in line]
    return Requeue(job["id"], signalled_at, seen, line)


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory) -> tuple[Path, Counter, Requeue]:
    """The tiny training run through the profile, its fine-tuning job sent SIGUSR1 halfway;
    returns the folder, the planned jobs and what was done to the job."""
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(tiny_config()))
    profile = site_profile(workdir / "profile")
    planned = dry_run_job_counts(workdir, profile=str(profile))
    command = profile_snakemake(
        workdir,
        # Test-only: poll after 2 s instead of 40, keep logs of successful jobs as evidence,
        # fail at once, and cap threads at what the node has.
        "--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs",
        "--retries", "0", "--max-threads", str(slurm_cluster.cpus),
        profile=str(profile),
    )  # fmt: skip
    log = workdir / "snakemake.log"
    started = time.monotonic()
    process = start_snakemake(command, log)
    requeue = signal_the_finetuning(slurm_cluster, workdir, process, started)
    returncode = wait_for_process(process, log, RUN_TIMEOUT_S)
    assert returncode == 0, log.read_text()[-3000:]
    return workdir, planned, requeue


@pytest.fixture(scope="module")
def reference_run(slurm_run) -> Path:
    """The same training without SLURM and without interruption, in the same folder below its
    own output root: the reference weights."""
    workdir, _, _ = slurm_run
    target = TARGET.replace("results/demo/", "results/reference/")
    command = [
        sys.executable, "-m", "snakemake", target, "--cores", "2",
        "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
        "--configfile", str(workdir / "tiny.yaml"), "--config", "output=results/reference",
    ]  # fmt: skip
    log = workdir / "reference.log"
    returncode = wait_for_process(start_snakemake(command, log), log, RUN_TIMEOUT_S)
    assert returncode == 0, log.read_text()[-3000:]
    return workdir / target


def rule_of(job: dict[str, str]) -> str:
    """The rule a job ran, from the comment the plugin gives it (rule_<name>[_wildcards_...])."""
    return job["comment"].removeprefix("rule_").split("_wildcards_")[0]


@pytest.mark.slow
def test_slurm_run_writes_the_fine_tuned_model(slurm_run):
    workdir, _, _ = slurm_run
    assert (workdir / "results" / "demo" / "models" / "pretrain" / "model.ckpt").stat().st_size > 0
    assert (workdir / TARGET).stat().st_size > 0


@pytest.mark.slow
def test_every_planned_job_ran_through_sbatch_and_completed(slurm_run, slurm_cluster):
    workdir, planned, _ = slurm_run
    jobs = slurm_cluster.jobs()
    assert Counter(rule_of(job) for job in jobs) == planned
    assert {job["state"] for job in jobs} == {"COMPLETED"}
    logs = {path.stem for path in (workdir / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert logs == {job["id"] for job in jobs}


@pytest.mark.slow
def test_training_jobs_get_the_gpu_and_the_others_none(slurm_run, slurm_cluster):
    tres = {rule_of(job): job["tres"] for job in slurm_cluster.jobs()}
    assert {rule: tres[rule] for rule in TRAINING_RULES} == {
        "train_supervised": "gres:gpu:1",
        "pretrain": "gres:gpu:1",
        "finetune": "gres:gpu:1",
    }
    assert {value for rule, value in tres.items() if rule not in TRAINING_RULES} == {"N/A"}


def rule_log(workdir: Path, name: str) -> str:
    return (workdir / "results" / "demo" / "logs" / "train" / name).read_text()


@pytest.mark.slow
def test_training_jobs_run_two_ddp_processes_in_their_one_task(slurm_run):
    workdir, _, _ = slurm_run
    for name in ("pretrain.log", "strong_delta0.04_seed1.log"):
        text = rule_log(workdir, name)
        assert "GLOBAL_RANK: 0, MEMBER: 1/2" in text, name
        assert "GLOBAL_RANK: 1, MEMBER: 2/2" in text, name


def job_details(job_id: str) -> dict[str, str]:
    result = subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, env=slurm_env()
    )
    pairs = (word.split("=", 1) for word in result.stdout.split() if "=" in word)
    return dict(pairs)


@pytest.mark.slow
def test_sigusr1_requeues_the_finetuning_which_resumes_from_its_checkpoint(slurm_run):
    workdir, _, requeue = slurm_run
    assert "epoch000.ckpt" in requeue.checkpoints_seen
    assert "requeueing it (scontrol requeue)" in requeue.handler_line
    assert job_details(requeue.job_id)["Restarts"] == "1"
    run = workdir / FINETUNE_DIR
    text = rule_log(workdir, "strong_delta0.04_seed1.log")
    assert "Restoring states from the checkpoint path at" in text
    assert sorted(path.name for path in (run / "attempts").iterdir()) == ["000", "001"]
    assert (run / "checkpoints" / "last.ckpt").resolve().name == (
        f"epoch{FINETUNE_EPOCHS - 1:03d}.ckpt"
    )


@pytest.mark.slow
def test_requeued_ddp_finetuning_ends_with_the_weights_of_an_uninterrupted_run(
    slurm_run, reference_run
):
    workdir, _, _ = slurm_run
    requeued = torch.load(workdir / TARGET, map_location="cpu", weights_only=True)
    reference = torch.load(reference_run, map_location="cpu", weights_only=True)
    assert requeued["state_dict"].keys() == reference["state_dict"].keys()
    assert all(
        torch.equal(requeued["state_dict"][key], value)
        for key, value in reference["state_dict"].items()
    )
