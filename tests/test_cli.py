"""The `tacos` command runs the data steps outside Snakemake (demo data, prepare, store) and
names the extra that detection needs where it is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from import_blocker import blocking_prelude

from tacos.cli import main
from tacos.data.store import AudioStore

REPO = Path(__file__).resolve().parents[1]


def test_demo_data_prepare_and_store_from_the_command_line(tmp_path, monkeypatch):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    demo = config["data"]["demo"]
    demo["tacos"].update(n_development=3, n_test=1, min_duration=5.0, max_duration=6.0)
    demo["clotho"].update(n_development=1, n_validation=1, n_evaluation=1)
    demo["clotho"].update(min_duration=5.0, max_duration=6.0)
    demo["audioset"]["n_eval"] = 1
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)

    assert main(["demo-data", "data/demo", "--config", "tiny.yaml"]) == 0
    assert main(["prepare", "tacos", "prepared", "--config", "tiny.yaml"]) == 0
    report = json.loads((tmp_path / "prepared" / "report.json").read_text())
    assert (report["kept"]["clips"], report["total_skipped"]) == (4, 0)
    manifest = tmp_path / "prepared" / "development.jsonl"
    assert len(manifest.read_text().splitlines()) == 3

    store = tmp_path / "development.h5"
    assert main(["build-store", str(manifest), str(store), "--sample-rate", "16000"]) == 0
    with AudioStore(store) as audio:
        assert len(audio) == 3
        assert audio.sample_rate == 16000


def test_detect_without_the_models_extra_names_the_extra_to_install():
    """`tacos detect` in an install without torch stops with the pip command that adds it."""
    code = blocking_prelude(("torch",)) + (
        "from tacos.cli import main\n"
        "main(['detect', 'a.wav', '--query', 'dog', '--checkpoint', 'm.ckpt', '--out', 'o.tsv'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "tacos detect: error: torch is not installed; detection needs the models extra: "
        "pip install 'tacos-reproduction[models]'"
    )
