"""Logging set-up shared by the workflow's scripts and the command line."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from tqdm import tqdm

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PROGRESS_SECONDS = 15.0  # a progress line in the log at most this often
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


class _LogLines:
    """A file for tqdm that logs each bar it draws as one line (a rule's log is a file)."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def write(self, text: str) -> None:
        line = text.strip("\r\n ")
        if line:
            self.logger.info(line)

    def flush(self) -> None:
        pass


def progress(total: int, desc: str, unit: str) -> tqdm:
    """A progress bar with rate and time left, logged every ``PROGRESS_SECONDS``."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=_LogLines(logging.getLogger("tacos.progress")),
        mininterval=PROGRESS_SECONDS,
        ascii=True,
    )
