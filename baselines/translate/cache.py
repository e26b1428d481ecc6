"""An on-disk translation cache: sqlite3, one row per (backend, model, src, tgt, source text).

Each finished batch is committed in its own transaction, so a job that dies keeps every batch
it finished and a rerun only translates what is missing. WAL journaling lets a reader look
up translations while another process writes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    backend TEXT NOT NULL,
    model   TEXT NOT NULL,
    src     TEXT NOT NULL,
    tgt     TEXT NOT NULL,
    source  TEXT NOT NULL,
    target  TEXT NOT NULL,
    PRIMARY KEY (backend, model, src, tgt, source)
) WITHOUT ROWID
"""

_LOOKUP_CHUNK = 500  # stays below SQLite's bound-parameter limit


class TranslationCache:
    """Translations of one (backend, model, src, tgt) direction, stored in `path`."""

    def __init__(self, path: str | Path, backend: str, model: str, src: str, tgt: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._key = (backend, model, src, tgt)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get_many(self, texts: Iterable[str]) -> dict[str, str]:
        """The cached translations among `texts`, as {source: target}."""
        texts = list(dict.fromkeys(texts))
        found: dict[str, str] = {}
        for i in range(0, len(texts), _LOOKUP_CHUNK):
            chunk = texts[i : i + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT source, target FROM translations WHERE backend=? AND model=? AND src=? "
                f"AND tgt=? AND source IN ({marks})",
                (*self._key, *chunk),
            )
            found.update(rows)
        return found

    def put_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Store (source, target) pairs in one committed transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO translations VALUES (?, ?, ?, ?, ?, ?)",
                [(*self._key, s, t) for s, t in pairs],
            )

    def __len__(self) -> int:
        (n,) = self._db.execute(
            "SELECT COUNT(*) FROM translations WHERE backend=? AND model=? AND src=? AND tgt=?",
            self._key,
        ).fetchone()
        return n

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "TranslationCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
