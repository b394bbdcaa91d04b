"""A persistent cache of backend answers, so an interrupted run resumes and a re-run costs nothing.

SQLite, one row per answer, committed as soon as the answer arrives (WAL journal: a crash loses
at most the answer being written). The key is a SHA-256 of what decides an answer: the backend's
identity (backend, model, prompt version and prompt text), the task and the input. Only answers
that passed the backend's format checks are stored; nothing secret is (keys never reach it).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

IN_MEMORY = ":memory:"


def cache_key(identity: str, payload: str) -> str:
    """The cache key of ``payload`` (the input as text) for a backend ``identity``."""
    return hashlib.sha256(json.dumps([identity, payload]).encode()).hexdigest()


class ResponseCache:
    """Thread-safe key -> JSON answer store in one SQLite file (or in memory)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = str(path) if path else IN_MEMORY
        if self.path != IN_MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != IN_MEMORY:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers ("
            "key TEXT PRIMARY KEY, identity TEXT NOT NULL, payload TEXT NOT NULL, "
            "answer TEXT NOT NULL)"
        )

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, identity: str, payload: str, answer: dict[str, Any]) -> None:
        """Store (or replace) one answer; committed before this returns."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, identity, payload, answer) "
                "VALUES (?, ?, ?, ?)",
                (key, identity, payload, json.dumps(answer, ensure_ascii=False)),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
