"""Persistent judge cache: one SQLite database in WAL mode.

Key: ``JudgeRequest.cache_key(model)`` = SHA-256 of (judge model, messages, temperature,
max_tokens, run index, benchmark attempt). Only successful answers are stored, one transaction
per answer, so a crash loses at most the answers in flight and never leaves a half-written
entry; WAL mode plus a busy timeout lets several processes read and write the same file; opening
retries while another process is still creating it (see ``_open_database``).
The API key is never stored (requests hold only messages and decoding parameters).

Default location: ``platformdirs.user_cache_path("harness") / "judge" / "judge_cache.sqlite3"``,
computed when a judge is built, never at import.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from harness.errors import HarnessError

CACHE_FILENAME = "judge_cache.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    judge_model TEXT NOT NULL,
    request TEXT NOT NULL,
    text TEXT NOT NULL,
    model TEXT,
    system_fingerprint TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL
)
"""


def _open_database(path: Path, timeout: float) -> sqlite3.Connection:
    """Connect, switch to WAL and create the table, retrying while another process holds a lock.

    SQLite's busy timeout does not cover this set-up: switching a file to WAL while another
    connection holds a write lock on it (a second process creating the same fresh cache) fails
    at once with "database is locked" instead of waiting, because SQLite refuses to wait where
    waiting could deadlock. So the set-up is retried, with backoff, until ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        db = sqlite3.connect(path, timeout=max(deadline - time.monotonic(), 0.0), isolation_level=None)
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")  # each write waits the full timeout
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def default_cache_dir() -> Path:
    """The user cache directory for judge answers (platformdirs), e.g. ~/.cache/harness/judge."""
    import platformdirs

    return platformdirs.user_cache_path("harness") / "judge"


class JudgeCache:
    """A handle on the cache file; use from one thread (open one per thread or process)."""

    def __init__(self, directory: Path, timeout: float = 60.0) -> None:
        self.path = Path(directory) / CACHE_FILENAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = _open_database(self.path, timeout)
        except (OSError, sqlite3.Error) as exc:
            raise HarnessError(
                f"{self.path}: cannot open the judge cache ({exc}); pass --no-judge-cache or another cache directory"
            ) from None

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """Stored answers for the keys present: key -> row dict."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, dict] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cursor = self._db.execute(
                "SELECT key, text, model, system_fingerprint, prompt_tokens, completion_tokens "
                f"FROM replies WHERE key IN ({marks})",
                chunk,
            )
            for key, text, model, fingerprint, pt, ct in cursor:
                found[key] = {
                    "text": text,
                    "model": model,
                    "system_fingerprint": fingerprint,
                    "prompt_tokens": pt,
                    "completion_tokens": ct,
                }
        return found

    def put(
        self,
        key: str,
        judge_model: str,
        request: dict,
        text: str,
        model: str | None,
        system_fingerprint: str | None,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> None:
        """Store one answer (its own transaction; replaces an older one with the same key)."""
        self._db.execute(
            "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                judge_model,
                json.dumps(request, sort_keys=True, ensure_ascii=False),
                text,
                model,
                system_fingerprint,
                int(prompt_tokens),
                int(completion_tokens),
                time.time(),
            ),
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> JudgeCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
