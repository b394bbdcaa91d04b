"""A rule's log file gets the lines of the libraries' loggers too, and keeps earlier starts."""

from __future__ import annotations

import logging

import lightning  # noqa: F401  (imported first, as the training scripts do)

from tacos.logs import setup_logging


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
