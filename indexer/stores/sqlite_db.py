"""One SQLite file (documents.sqlite3) shared by the document store and the indexing ledger: the schema,
the connection with its lock, and the one transaction helper both write through."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from indexer.stores.row_cache import Stamp, stamp_of

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    source TEXT,
    published TEXT,
    published_ts INTEGER NOT NULL,
    url TEXT,
    author TEXT,
    category TEXT,
    origin TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL,
    keyword_state INTEGER NOT NULL DEFAULT 0,
    indexed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published_ts);
CREATE INDEX IF NOT EXISTS articles_keyword_pending ON articles(keyword_state) WHERE keyword_state = 0;
-- Covers what a query reads of every candidate's article (id, source, date) without touching the row:
-- those columns follow the body, so reading them from the row walks its overflow pages.
CREATE INDEX IF NOT EXISTS articles_listing ON articles(id, source, published);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    text TEXT,  -- NULL when the passage is exactly body[start:end] (always, from our splitter)
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id, ordinal);
CREATE TABLE IF NOT EXISTS embeddings (passage_id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pending_keyword_deletes (article_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS ingest_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    paths TEXT NOT NULL,
    status TEXT NOT NULL,
    summary TEXT
);
"""

Row = tuple[Any, ...]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """Slices of `values`: SQLite limits bound parameters per statement, so large id lists go in parts."""
    for i in range(0, len(values), size):
        yield values[i : i + size]


def marks(values: Sequence[Any]) -> str:
    """One `?` per value, for an `IN (...)` list."""
    return ",".join("?" * len(values))


class SQLiteDatabase:
    """documents.sqlite3 in WAL mode (one writer and many readers at once).

    One connection shared by the threads of a process, serialised by a lock: SQLite reads are fast enough
    that the lock is not a bottleneck for the web server, and it keeps the indexer's transactions simple.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode is durable against application crashes (kill -9), which is what we
        # promise; only a power loss could drop the very last transactions.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=OFF")
        # Checkpoint the write-ahead log every ~64 MB rather than 4 MB: bulk indexing writes fast.
        self._db.execute("PRAGMA wal_autocheckpoint=16000")
        self._db.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
        with self._lock:
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction: committed when the block ends, rolled back if it
        raises (a commit can fail too, on a full disk)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite rolls back by itself on some errors (a full disk); a second ROLLBACK would then
                # raise "no transaction is active" and hide the error that matters.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, in autocommit, with no other thread using it meanwhile."""
        with self._lock:
            yield self._db

    def write(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        with self.transaction() as db:
            for sql, params in statements:
                db.execute(sql, params)

    def write_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.transaction() as db:
            db.executemany(sql, rows)

    def stamp(self) -> Stamp:
        """What moves when the committed data may have changed (row_cache.stamp_of)."""
        with self._lock:
            return stamp_of(self._db)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.query(sql, params)[0][0])

    def embeddings(self, ids: Sequence[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, their vectors) of the committed embeddings of these passage ids."""
        found_ids: list[int] = []
        blobs: list[bytes] = []
        for chunk in chunks([int(i) for i in ids]):
            for pid, blob in self.query(
                f"SELECT passage_id, vector FROM embeddings WHERE passage_id IN ({marks(chunk)})", chunk
            ):
                found_ids.append(pid)
                blobs.append(blob)
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)
        return np.array(found_ids, dtype=np.int64), vectors

    def close(self) -> None:
        with self._lock:
            self._db.close()
