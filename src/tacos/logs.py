"""Logging set-up shared by the workflow's scripts and the command line."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LIBRARY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")


def setup_logging(log_file: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Log to stderr and, when given, append to ``log_file`` (each rule keeps its own log).

    Appending keeps every start of a job in its log (a SLURM requeue, a resumed run) and the
    lines of the DDP processes Lightning launches, which run the same script.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    for name in LIBRARY_LOGGERS:
        # Imported before this set-up, Lightning gave its loggers a stderr handler of their own
        # and stopped them propagating: send their lines (DDP ranks, resumes) here too.
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback) -> None:
    """Put a crash's traceback into the log file too, where the rule's user looks for it."""
    logging.getLogger("tacos").critical("stopped by an error", exc_info=(kind, error, traceback))
