"""The workflow as users run it: lint, formatting, dry-runs, and a tiny real run of the demo."""

from __future__ import annotations

import json
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tacos.data.fetch import DATASETS
from tacos.evaluation.scores import ScoreReader

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SNAKEMAKE, "--snakefile", str(REPO / "workflow" / "Snakefile"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry-run as {rule: count}."""
    lines = output.split("Job stats:")[1].strip().splitlines()[2:]
    counts = {}
    for line in lines:
        if not line.strip():
            break
        rule, count = line.split()
        counts[rule] = int(count)
    return counts


def test_lint_is_clean():
    result = snakemake("--lint", "--directory", str(REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stderr


def test_snakefmt_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "workflow"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_paper_config_dry_run_fetches_the_real_data(tmp_path):
    result = snakemake(
        "-n", "--configfile", str(REPO / "config" / "paper.yaml"), "--directory", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["fetch"] == 3
    assert counts["audio_store"] == 6
    assert "demo_data" not in counts


def test_two_releases_downloaded_into_one_folder_are_refused(tmp_path):
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    config["data"]["clotho"]["root"] = config["data"]["tacos"]["root"]
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(
        "-n", "--configfile", str(tmp_path / "paper.yaml"), "--directory", str(tmp_path)
    )
    assert result.returncode != 0
    assert (
        "data.tacos and data.clotho both point at data/tacos/: each release is downloaded into "
        "a folder of its own; give data.clotho another folder"
    ) in result.stdout + result.stderr


class NotFoundHandler(BaseHTTPRequestHandler):
    """Answers every request with 404 and records its path."""

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.send_error(404)

    def log_message(self, *args) -> None:
        pass


def test_the_fetch_rule_downloads_each_release_folder_from_its_own_datasets_mirror(tmp_path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFoundHandler)
    httpd.paths = []
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    config["data"]["mirrors"] = {name: f"{url}/{name}" for name in config["data"]["mirrors"]}
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump(config))
    folders = {"tacos": "data/tacos", "clotho": "data/clotho", "audioset_strong": "data/audioset"}
    targets = [f"{folder}/fetch_report.json" for folder in folders.values()]
    try:
        result = snakemake(
            "--cores", "1", "--keep-going", "--configfile", str(tmp_path / "paper.yaml"),
            "--directory", str(tmp_path), *targets,
        )  # fmt: skip
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode != 0  # every file is missing on the mirror
    for name, folder in folders.items():
        assert f"/{name}/{DATASETS[name][0].name}" in httpd.paths
        log = (tmp_path / "results" / "paper" / "logs" / "fetch" / f"{folder}.log").read_text()
        assert f"{url}/{name}/{DATASETS[name][0].name}" in log
    assert {path.split("/")[1] for path in httpd.paths} == set(folders)


def job_resources(output: str) -> dict[str, set[str]]:
    """{rule: the distinct `resources:` lines of its jobs} from a dry run's job listing."""
    found: dict[str, set[str]] = {}
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", output, flags=re.MULTILINE)[1:]:
        rule = block.split(":", 1)[0].split()[-1]
        resources = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
        found.setdefault(rule, set()).add(resources[1] if resources else "")
    return found


def test_gpu_jobs_ask_for_one_gpu_each_so_a_workstation_runs_them_one_at_a_time(tmp_path):
    """With `training.accelerator: gpu`, each training and scoring job needs the resource `gpu`,
    so `--resources gpu=1` keeps two of them off one GPU; the other jobs need none."""
    result = snakemake(
        "-n", "--configfile", str(REPO / "config" / "paper.yaml"), "--directory", str(tmp_path),
        "--resources", "gpu=1", "--cores", "4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    resources = job_resources(result.stdout)
    assert all("mem_mb=8000," in line for line in resources["evaluate"])  # first attempt
    assert all("mem_mb=64000," in line for line in resources["finetune"])
    gpus = {
        rule: {re.search(r"gpu=(\d+)", line)[1] if "gpu=" in line else "0" for line in lines}
        for rule, lines in resources.items()
    }
    assert {rule: gpus.pop(rule) for rule in ("pretrain", "finetune", "score")} == {
        "pretrain": {"1"},
        "finetune": {"1"},
        "score": {"1"},
    }
    assert set().union(*gpus.values()) == {"0"}, gpus


def local_rules(config_file: Path, workdir: Path) -> set[str]:
    """The rules the workflow runs where snakemake runs, not as cluster jobs. Snakemake has no
    public query for them (a dry run prints them like the others): read the parsed workflow's."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
        WorkflowSettings,
    )

    usr1 = signal.getsignal(signal.SIGUSR1)  # the Snakefile ignores SIGUSR1 in its process
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[config_file]),
            storage_settings=StorageSettings(),
            workflow_settings=WorkflowSettings(),
            snakefile=REPO / "workflow" / "Snakefile",
            workdir=workdir,
        )
        local = set(workflow._workflow._localrules)
    signal.signal(signal.SIGUSR1, usr1)
    return local


@pytest.mark.parametrize("on_submit_host", [False, True])
def test_report_rules_and_on_request_downloads_run_where_snakemake_runs(tmp_path, on_submit_host):
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    config["data"]["fetch_on_submit_host"] = on_submit_host
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump(config))
    fetches = {"fetch"} if on_submit_host else set()
    report = {"tables", "figures", "peers_table"}
    assert local_rules(tmp_path / "paper.yaml", tmp_path) == {*report, *fetches}


def test_invalid_config_is_rejected_naming_the_key(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"]["source"] = "zenodo"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(
        "-n", "--configfile", str(tmp_path / "bad.yaml"), "--directory", str(tmp_path)
    )
    assert result.returncode != 0
    assert "'zenodo' is not one of ['demo', 'download', 'local']" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory) -> Path:
    """The demo DAG run for real on a tiny config in a fresh folder."""
    workdir = tmp_path_factory.mktemp("demo")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    demo = config["data"]["demo"]
    demo["tacos"].update(n_development=6, n_test=2, min_duration=5.0, max_duration=8.0)
    demo["clotho"].update(n_development=3, n_validation=2, n_evaluation=2, min_duration=5.0)
    demo["clotho"]["max_duration"] = 6.0
    demo["audioset"].update(n_eval=3, n_train=4)
    training = config["training"]
    training.update(seeds=[1, 2], batch_size=2)
    for phase in ("pretrain", "finetune", "supervised"):
        training[phase].update(epochs=1, warmup_epochs=0.5, cosine_epochs=0.5)
    config["ablations"].update(deltas=[0.2], seeds=[1])
    config["evaluation"]["n_bootstrap"] = 3
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(
        "--cores", "2", "--configfile", str(workdir / "tiny.yaml"), "--directory", str(workdir)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_tiny_demo_run_writes_manifests_reports_stores_and_logs(tiny_demo):
    data = tiny_demo / "results" / "demo" / "data"
    expected = {
        "tacos": ["development", "test"],
        "clotho": ["development", "validation", "evaluation"],
        "audioset": ["eval"],
        "audioset_train": ["train"],
    }
    sizes = {"development": 6, "test": 2, "validation": 2, "evaluation": 2, "eval": 3, "train": 4}
    for dataset, splits in expected.items():
        report = json.loads((data / dataset / "report.json").read_text())
        assert report["total_skipped"] == 0
        for split in splits:
            lines = (data / dataset / f"{split}.jsonl").read_text().splitlines()
            wanted = 3 if dataset == "clotho" and split == "development" else sizes[split]
            assert len(lines) == wanted
            assert (data / dataset / f"{split}.h5").is_file()
    logs = {path.name for path in (tiny_demo / "results" / "demo" / "logs").rglob("*.log")}
    assert {"demo_data.log", "prepare_tacos.log", "tacos_development.log"} <= logs


def test_tiny_demo_run_trains_evaluates_and_reports(tiny_demo):
    results = tiny_demo / "results" / "demo"
    models = {path.parent.relative_to(results / "models") for path in results.rglob("model.ckpt")}
    # the trained model files are write-protected, so no rerun replaces one unnoticed
    modes = {stat.S_IMODE(path.stat().st_mode) & 0o222 for path in results.rglob("model.ckpt")}
    assert modes == {0}
    assert {str(model) for model in models} == {
        "pretrain",
        "supervised",
        "weak/delta0.1/seed1",
        "weak/delta0.1/seed2",
        "strong/delta0.1/seed1",
        "strong/delta0.1/seed2",
        "strong/delta0.2/seed1",
        "strong_intra/delta0.1/seed1",
    }
    evaluated = json.loads(
        (results / "eval/strong/delta0.1/seed1/classes407/untrimmed.json").read_text()
    )
    assert evaluated["n_clips"] + evaluated["n_clips_without_events"] == 3
    assert evaluated["bootstrap"]["n_bootstrap"] == 3
    assert evaluated["protocol"] == {
        "clips": "with_events",
        "clotho_items": "pairs",
        "engine": "fast",
        "evaluated_weights": "last",
        "frames": "untrimmed",
        "median_filter": None,
        "scores": "cosine",
        "tacos_split": "release",
    }
    # the rule's log shows each phase's progress bar, with the query set and frame protocol
    log = (results / "logs/evaluate/strong/delta0.1/seed1/classes407/untrimmed.log").read_text()
    assert "classes407 (untrimmed): change points: 100%" in log
    assert "classes407 (untrimmed): replicates: 100%" in log
    supervised = json.loads((results / "eval/supervised/categories50/trimmed.json").read_text())
    assert supervised["protocol"]["median_filter"] == 9
    assert supervised["model"]["delta"] == 0.04
    table = (results / "tables" / "table3.md").read_text()
    assert "| Strong fine-tuning (TACOS strong captions) [authors' protocol] | 2 |" in table
    assert "| Supervised SED baseline [corrected: frames trimmed] | 1 |" in table
    # the ablations are evaluated under the authors' protocol only
    assert not (results / "eval/strong/delta0.2/seed1/classes407/trimmed.json").exists()
    figures = {path.name for path in (results / "figures").iterdir()}
    assert len(figures) == 10
    collapse = json.loads((results / "scores/supervised/collapse.json").read_text())
    assert (collapse["frame_step"], collapse["n_clips"]) == (0.04, 3)
    assert "| strong/delta0.2/seed1 | 0.2 |" in (results / "tables/frame_collapse.md").read_text()


def test_second_run_does_nothing(tiny_demo):
    result = snakemake(
        "-n", "--configfile", str(tiny_demo / "tiny.yaml"), "--directory", str(tiny_demo)
    )
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_another_config_with_its_own_output_root_leaves_the_first_complete(tiny_demo):
    """Two configurations run one after the other in one folder: the second writes below its
    own root, and the first then still has nothing to do."""
    config = yaml.safe_load((tiny_demo / "tiny.yaml").read_text())
    config["output"] = "results/second"
    config["evaluation"]["n_bootstrap"] = 2
    (tiny_demo / "second.yaml").write_text(yaml.safe_dump(config))
    second = snakemake(
        "--cores",
        "2",
        "--configfile",
        str(tiny_demo / "second.yaml"),
        "--directory",
        str(tiny_demo),
    )
    assert second.returncode == 0, second.stderr[-3000:]
    first = snakemake(
        "-n", "--configfile", str(tiny_demo / "tiny.yaml"), "--directory", str(tiny_demo)
    )
    assert "Nothing to be done" in first.stdout + first.stderr
    for root in ("demo", "second"):
        assert (tiny_demo / "results" / root / "tables" / "table3.csv").stat().st_size > 0


def test_changing_a_finetuning_parameter_reruns_only_what_depends_on_it(tiny_demo):
    config = yaml.safe_load((tiny_demo / "tiny.yaml").read_text())
    config["training"]["finetune"]["lr"] *= 2
    (tiny_demo / "changed.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(
        "-n", "--configfile", str(tiny_demo / "changed.yaml"), "--directory", str(tiny_demo)
    )
    assert result.returncode == 0, result.stderr
    assert job_counts(result.stdout) == {
        "finetune": 6,
        "score": 6,
        "evaluate": 4 * 4 + 2 * 2,  # 4 Table 3 models x 2 protocols, 2 ablations x 1
        "tables": 1,
        "figures": 1,
        "all": 1,
        "total": 35,
    }


def test_report_collects_tables_and_figures(tiny_demo):
    result = snakemake(
        "--report",
        "report.html",
        "--configfile",
        str(tiny_demo / "tiny.yaml"),
        "--directory",
        str(tiny_demo),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    html = (tiny_demo / "report.html").read_text()
    assert "table3.md" in html
    assert "example_clips.png" in html


def test_peers_on_score_evaluate_and_tabulate_the_tiny_checkpoints(tiny_demo):
    config = yaml.safe_load((tiny_demo / "tiny.yaml").read_text())
    config["peers"]["enabled"] = True
    (tiny_demo / "peers.yaml").write_text(yaml.safe_dump(config))
    args = ("--configfile", str(tiny_demo / "peers.yaml"), "--directory", str(tiny_demo))
    planned = snakemake("-n", *args)
    assert job_counts(planned.stdout) == {
        "demo_peer_model": 2,
        "peer_audio_store": 1,
        "score_peer": 2,
        "evaluate": 2 * 2,  # 2 peers x 2 query sets, under the peers table's frame protocol
        "peers_table": 1,
        "tables": 1,  # the frame-collapse table gains the peers
        "figures": 1,
        "all": 1,
        "total": 13,
    }
    result = snakemake("--cores", "2", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    results = tiny_demo / "results" / "demo"
    table = (results / "tables" / "peers.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| Pretraining only (Clotho) (this workflow, seed 1)",
        "| Supervised SED baseline (this workflow, seed 1)",
        "| Weak fine-tuning (TACOS weak captions) (this workflow, seed 1)",
        "| Strong fine-tuning (TACOS strong captions) (this workflow, seed 1)",
        # the peers in their config's order (tiny.yaml was dumped with sorted keys)
        "| CLAP layout, tiny random weights, 1 s windows every 0.5 s (demo)",
        "| PE-A-Frame layout, tiny random weights (demo)",
    ]
    with ScoreReader(results / "scores/peers/clap_tiny/categories50.h5") as reader:
        assert reader.delta == 0.5
        assert reader.model_info["protocol"]["window_seconds"] == 1.0
    evaluated = json.loads(
        (results / "eval/peers/pe_a_frame_tiny/classes407/trimmed.json").read_text()
    )
    assert evaluated["model"]["stage"] == "peer"
    assert "| peers/clap_tiny | 0.5 |" in (results / "tables/frame_collapse.md").read_text()
    assert "Nothing to be done" in snakemake("-n", *args).stdout


def test_paper_shaped_test_config_runs_the_whole_dag(tmp_path):
    """``.test/`` as a user runs it: ASiT in ASIT_strong_1's layout, a RoBERTa folder, 32 kHz,
    30 s inputs, the 1491-token grid, the authors' protocol and the supervised row."""
    shutil.copytree(REPO / ".test" / "config", tmp_path / "config")
    result = snakemake("--cores", "2", "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    results = tmp_path / "results"
    with ScoreReader(results / "scores/strong/delta0.02/seed1/classes407.h5") as reader:
        assert set(reader.n_frames.tolist()) == {1491}  # untrimmed: the padded 30 s input
        assert reader.delta == 0.02
        assert reader.model_info["protocol"]["tacos_split"] == "release"
    with ScoreReader(results / "scores/supervised/categories50.h5") as reader:
        assert set(reader.n_frames.tolist()) == {250}
        assert reader.delta == 0.04
    evaluated = json.loads(
        (results / "eval/strong/delta0.02/seed1/categories50/untrimmed.json").read_text()
    )
    assert evaluated["protocol"]["frames"] == "untrimmed"
    assert evaluated["protocol"]["clips"] == "with_events"
    table = (results / "tables" / "table3.md").read_text()
    assert "| Supervised SED baseline [authors' protocol] | 1 |" in table
