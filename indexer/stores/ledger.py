"""The indexing ledger: what makes indexing resumable and crash-safe, beside the document store in the same
SQLite file (one connection, one transaction helper).

It keeps the pending work — articles not yet committed to the keyword index (`keyword_state` 0),
deleted articles the keyword index has not dropped yet, passages without a committed embedding — and the
run log. The keyword and vector indexes are derived from the document store, so a crash at any moment is
repaired by re-deriving what is marked pending (see `indexer.pipeline`). With the search engine, it is the
indexer's local record, where each batch of embeddings is committed before it goes to the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from indexer.models import Article
from indexer.stores.base import StoredPassage
from indexer.stores.runs import is_alive, this_process
from indexer.stores.sqlite_db import chunks, marks, now
from indexer.stores.sqlite_docstore import ARTICLE_COLUMNS, SQLiteDocumentStore, article_from_row

HeldBack = Callable[[], set[str]]


class IndexLedger:
    """Pending work and the run log of one data directory, over its document store's connection.

    `held_back`, when given, names articles that must stay pending however the keyword phase went: the
    search engine refused them, so the next run sends them again.
    """

    def __init__(self, docs: SQLiteDocumentStore, held_back: HeldBack | None = None) -> None:
        self.docs = docs
        self.db = docs.db
        self._held_back = held_back

    # -- keyword bookkeeping ----------------------------------------------------------------------

    def keyword_pending_ids(self) -> list[str]:
        """Articles not yet committed to the keyword index (new, changed, or interrupted)."""
        return [row[0] for row in self.db.query("SELECT id FROM articles WHERE keyword_state = 0")]

    def load_for_keyword(self, article_ids: Sequence[str]) -> list[tuple[Article, str, list[StoredPassage]]]:
        """(article, content hash, passages) for re-deriving keyword documents from the store."""
        items = []
        for chunk in chunks(list(article_ids)):
            for row in self.db.query(
                f"SELECT {ARTICLE_COLUMNS}, content_hash FROM articles WHERE id IN ({marks(chunk)})", chunk
            ):
                items.append((article_from_row(row), row[9], self.docs.article_passages(row[0])))
        return items

    def count_keyword_indexed_passages(self) -> int:
        """Passages of articles marked as committed to the keyword index."""
        return self.db.count(
            "SELECT count(*) FROM passages p JOIN articles a ON a.id = p.article_id WHERE a.keyword_state = 1"
        )

    def count_keyword_pending(self) -> int:
        return self.db.count("SELECT count(*) FROM articles WHERE keyword_state = 0")

    def mark_keyword_done(self, items: Iterable[tuple[str, str]]) -> None:
        """Mark (article id, content hash) pairs as in the keyword index; a hash that changed since
        (the article was replaced meanwhile) stays pending, and so does an article held back."""
        held = self._held_back() if self._held_back is not None else set()
        self.db.write_many(
            "UPDATE articles SET keyword_state = 1 WHERE id = ? AND content_hash = ?",
            ((a, h) for a, h in items if a not in held),
        )

    def pending_keyword_deletes(self) -> list[str]:
        return [row[0] for row in self.db.query("SELECT article_id FROM pending_keyword_deletes")]

    def clear_keyword_deletes(self, article_ids: Iterable[str]) -> None:
        self.db.write_many(
            "DELETE FROM pending_keyword_deletes WHERE article_id = ?", ((a,) for a in article_ids)
        )

    def reset_keyword_state(self) -> None:
        """Mark every article pending, for a keyword index rebuilt from scratch."""
        self.db.write(
            [("UPDATE articles SET keyword_state = 0", ()), ("DELETE FROM pending_keyword_deletes", ())]
        )

    # -- embeddings -------------------------------------------------------------------------------

    def passages_to_embed(self, limit: int, after: int | None = None) -> list[tuple[int, str]]:
        """Up to `limit` (passage id, text) without a stored embedding, in id order after `after`."""
        rows = self.db.query(
            'SELECT p.id, COALESCE(p.text, substr(a.body, p.start + 1, p."end" - p.start))'
            " FROM passages p JOIN articles a ON a.id = p.article_id"
            " LEFT JOIN embeddings e ON e.passage_id = p.id"
            " WHERE e.passage_id IS NULL AND p.id > ? ORDER BY p.id LIMIT ?",
            (-1 if after is None else after, limit),
        )
        return [(row[0], row[1]) for row in rows]

    def count_to_embed(self) -> int:
        return self.db.count(
            "SELECT count(*) FROM passages p LEFT JOIN embeddings e"
            " ON e.passage_id = p.id WHERE e.passage_id IS NULL"
        )

    def put_embeddings(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Commit one batch of vectors; passages deleted meanwhile are skipped."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.db.write_many(
            "INSERT OR REPLACE INTO embeddings SELECT id, ? FROM passages WHERE id = ?",
            ((vectors[i].tobytes(), int(pid)) for i, pid in enumerate(ids)),
        )

    def embedding_ids(self) -> np.ndarray:
        rows = self.db.query("SELECT passage_id FROM embeddings")
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def get_embeddings(self, ids: Sequence[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, their vectors): the committed embeddings a vector index is brought level with."""
        return self.db.embeddings(ids, dim)

    def clear_embeddings(self) -> None:
        self.db.write([("DELETE FROM embeddings", ())])

    # -- meta and log -----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self.db.query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.write([("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))])

    def _has_run_process_columns(self) -> bool:
        return "pid" in {row[1] for row in self.db.query("PRAGMA table_info(ingest_log)")}

    def log_start(self, paths: Sequence[str]) -> int:
        """Record a run as running, with the process that runs it. Called under the write lock, so a run
        still marked running is one whose process died (kill -9, a power cut): it is marked interrupted."""
        pid, host, started = this_process()
        with self.db.locked() as db:
            if not self._has_run_process_columns():  # a store made before runs recorded their process
                for column in ("pid INTEGER", "host TEXT", "process_started TEXT"):
                    db.execute(f"ALTER TABLE ingest_log ADD COLUMN {column}")
            db.execute("UPDATE ingest_log SET status = 'interrupted' WHERE status = 'running'")
            cursor = db.execute(
                "INSERT INTO ingest_log (started, paths, status, pid, host, process_started)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (now(), "\n".join(paths), "running", pid, host, started),
            )
            return int(cursor.lastrowid or 0)

    def log_finish(self, run_id: int, status: str, summary: str) -> None:
        self.db.write(
            [
                (
                    "UPDATE ingest_log SET finished = ?, status = ?, summary = ? WHERE id = ?",
                    (now(), status, summary, run_id),
                )
            ]
        )

    def last_runs(self, limit: int = 5) -> list[dict[str, object]]:
        """The latest runs, newest first; a run marked running whose process is gone shows as interrupted."""
        keys = ["id", "started", "finished", "paths", "status", "summary"]
        process = self._has_run_process_columns()
        columns = keys + ["pid", "host", "process_started"] if process else keys
        rows = self.db.query(
            f"SELECT {', '.join(columns)} FROM ingest_log ORDER BY id DESC LIMIT ?", (limit,)
        )
        runs = []
        for row in rows:
            run: dict[str, object] = dict(zip(columns, row, strict=True))
            if process:
                pid, host, started = run.pop("pid"), run.pop("host"), run.pop("process_started")
                alive = is_alive(
                    pid if isinstance(pid, int) else None,
                    host if isinstance(host, str) else None,
                    started if isinstance(started, str) else None,
                )
                if run["status"] == "running" and alive is False:
                    run["status"] = "interrupted"
                run["pid"] = pid
            runs.append(run)
        return runs

    def close(self) -> None:
        self.db.close()
