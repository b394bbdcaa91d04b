"""A rule's log file gets the lines of the libraries' loggers too, and keeps earlier starts."""

from __future__ import annotations

import logging

import lightning  # noqa: F401  (imported first, as the training scripts do)

from tacos.logs import progress, setup_logging


def test_lightning_lines_reach_the_rule_log_and_a_restart_appends(tmp_path):
    log_file = tmp_path / "rule.log"
    for start in ("first", "second"):
        setup_logging(log_file)
        logging.getLogger("lightning.pytorch.trainer").info("%s start: MEMBER 1/2", start)
        logging.getLogger("lightning.fabric.utilities").info("%s start: fabric", start)
    text = log_file.read_text()
    assert [line.split(": ", 1)[1] for line in text.splitlines()] == [
        "first start: MEMBER 1/2",
        "first start: fabric",
        "second start: MEMBER 1/2",
        "second start: fabric",
    ]
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])


def test_a_progress_bar_is_logged_with_its_count_rate_and_time_left(tmp_path, monkeypatch):
    monkeypatch.setattr("tacos.logs.PROGRESS_SECONDS", 0.0)
    log_file = tmp_path / "rule.log"
    setup_logging(log_file)
    with progress(total=4, desc="classes407 (untrimmed): change points", unit="job") as bar:
        for _ in range(4):
            bar.update()
    lines = [line.split("tacos.progress: ", 1)[1] for line in log_file.read_text().splitlines()]
    assert lines[0].startswith("classes407 (untrimmed): change points:   0%|")
    assert lines[-1].startswith("classes407 (untrimmed): change points: 100%|##########| 4/4 [")
    assert all("<" in line and "job" in line for line in lines)  # elapsed<left, rate a job
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])
