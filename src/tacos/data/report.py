"""Errors and counted skips for dataset readers: nothing is dropped silently.

A structural problem (wrong columns, wrong encoding, a file that is not there) stops the run with
a ``DataFormatError`` that names the file, the row and the fix. A problem confined to one row
(a region with onset >= offset, a missing audio file, ...) is skipped, counted by kind, and
kept with a few examples in a per-dataset JSON report that the workflow keeps.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MAX_EXAMPLES_PER_KIND = 20


class DataFormatError(ValueError):
    """A dataset file cannot be read as a whole; the message says where and how to fix it."""

    def __init__(self, path: str | os.PathLike, problem: str, fix: str, row: int | None = None):
        where = f"{path}" if row is None else f"{path}, row {row}"
        super().__init__(f"{where}: {problem}. Fix: {fix}")
        self.path = str(path)
        self.row = row


@dataclass
class Skip:
    """One skipped row: where it was and why."""

    file: str
    row: int | None
    reason: str


@dataclass
class DataReport:
    """Counts of what a reader kept, skipped and flagged, with examples of each kind."""

    dataset: str
    kept: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict]] = field(default_factory=dict)

    def keep(self, what: str, count: int = 1) -> None:
        self.kept[what] = self.kept.get(what, 0) + count

    def skip(self, kind: str, file: str | os.PathLike, row: int | None, reason: str) -> None:
        """Count a skipped row of ``kind`` and remember the first few as examples."""
        self.skipped[kind] = self.skipped.get(kind, 0) + 1
        self._example(kind, file, row, reason)
        if self.skipped[kind] == 1:
            log.warning("%s: skipping %s (%s, row %s): %s", self.dataset, kind, file, row, reason)

    def flag(self, kind: str, file: str | os.PathLike, row: int | None, reason: str) -> None:
        """Count a row that was kept but corrected or incomplete (e.g. a clamped offset)."""
        self.flagged[kind] = self.flagged.get(kind, 0) + 1
        self._example(kind, file, row, reason)

    def _example(self, kind: str, file: str | os.PathLike, row: int | None, reason: str) -> None:
        examples = self.examples.setdefault(kind, [])
        if len(examples) < MAX_EXAMPLES_PER_KIND:
            examples.append({"file": str(file), "row": row, "reason": reason})

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "kept": dict(sorted(self.kept.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "total_skipped": self.total_skipped,
            "flagged": dict(sorted(self.flagged.items())),
            "examples": dict(sorted(self.examples.items())),
        }

    def write(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")

    def summary(self) -> str:
        kept = ", ".join(f"{n} {what}" for what, n in sorted(self.kept.items())) or "nothing"
        skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped.items())) or "none"
        return f"{self.dataset}: kept {kept}; skipped {skipped}"
