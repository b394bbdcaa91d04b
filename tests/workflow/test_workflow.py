"""The workflow as users run it: lint, formatting, dry-runs, and a tiny real run of the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
    assert {rule: counts[rule] for rule in ("fetch_tacos", "fetch_clotho", "fetch_audioset")} == {
        "fetch_tacos": 1,
        "fetch_clotho": 1,
        "fetch_audioset": 1,
    }
    assert counts["audio_store"] == 6
    assert "demo_data" not in counts


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
    demo["audioset"]["n_eval"] = 3
    training = config["training"]
    training.update(seeds=[1, 2], batch_size=2)
    training["pretrain"].update(epochs=1, cosine_epochs=1)
    training["finetune"].update(epochs=1, cosine_epochs=1)
    config["ablations"].update(deltas=[0.2], seeds=[1])
    config["evaluation"]["n_bootstrap"] = 3
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(
        "--cores", "2", "--configfile", str(workdir / "tiny.yaml"), "--directory", str(workdir)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_tiny_demo_run_writes_manifests_reports_stores_and_logs(tiny_demo):
    data = tiny_demo / "results" / "data"
    expected = {
        "tacos": ["development", "test"],
        "clotho": ["development", "validation", "evaluation"],
        "audioset": ["eval"],
    }
    sizes = {"development": 6, "test": 2, "validation": 2, "evaluation": 2, "eval": 3}
    for dataset, splits in expected.items():
        report = json.loads((data / dataset / "report.json").read_text())
        assert report["total_skipped"] == 0
        for split in splits:
            lines = (data / dataset / f"{split}.jsonl").read_text().splitlines()
            wanted = 3 if dataset == "clotho" and split == "development" else sizes[split]
            assert len(lines) == wanted
            assert (data / dataset / f"{split}.h5").is_file()
    logs = {path.name for path in (tiny_demo / "logs").rglob("*.log")}
    assert {"demo_data.log", "prepare_tacos.log", "tacos_development.log"} <= logs


def test_tiny_demo_run_trains_evaluates_and_reports(tiny_demo):
    results = tiny_demo / "results"
    models = {path.parent.relative_to(results / "models") for path in results.rglob("model.ckpt")}
    assert {str(model) for model in models} == {
        "pretrain",
        "weak/delta0.1/seed1",
        "weak/delta0.1/seed2",
        "strong/delta0.1/seed1",
        "strong/delta0.1/seed2",
        "strong/delta0.2/seed1",
        "strong_intra/delta0.1/seed1",
    }
    evaluated = json.loads((results / "eval/strong/delta0.1/seed1/classes407.json").read_text())
    assert evaluated["n_clips"] == 3
    assert evaluated["bootstrap"]["n_bootstrap"] == 3
    table = (results / "tables" / "table3.md").read_text()
    assert "| Strong fine-tuning (TACOS strong captions) | 2 |" in table
    figures = {path.name for path in (results / "figures").iterdir()}
    assert len(figures) == 8


def test_second_run_does_nothing(tiny_demo):
    result = snakemake(
        "-n", "--configfile", str(tiny_demo / "tiny.yaml"), "--directory", str(tiny_demo)
    )
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


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
        "evaluate": 12,
        "tables": 1,
        "figures": 1,
        "all": 1,
        "total": 27,
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
