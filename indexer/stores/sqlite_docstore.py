"""The SQLite document store: articles, passages and embeddings, the source of truth for every index.

Besides text, the store keeps the bookkeeping that makes indexing resumable and crash-safe:
each article carries `keyword_state` (0 until its passages are committed to the keyword index),
deleted articles wait in `pending_keyword_deletes` until the keyword index has dropped them, and a
passage counts as embedded once its vector is committed to `embeddings`. The keyword and vector
indexes are derived from these tables, so a crash at any moment is repaired by re-deriving what
is marked pending (see `indexer.pipeline`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from indexer.models import Article
from indexer.stores.base import ArticleRef, StoredPassage
from indexer.stores.dates import query_bounds, to_epoch
from indexer.stores.runs import is_alive, this_process

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

_ARTICLE_COLUMNS = "id, title, body, source, published, url, author, category, origin"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _chunks(values: Sequence, size: int = 500) -> Iterator[Sequence]:
    # SQLite limits bound parameters per statement; large id lists go in slices.
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _article(row: sqlite3.Row | tuple) -> Article:
    return Article(id=row[0], title=row[1], text=row[2], source=row[3], published=row[4], url=row[5],
                   author=row[6], category=row[7], origin=row[8])


# A passage's text is its article's body between its offsets (SQLite's substr counts characters,
# 1-based, as Python slices count code points); storing it again would double the file.
_PASSAGE_SELECT = (
    'SELECT p.id, p.article_id, p.ordinal, COALESCE(p.text, substr(a.body, p.start + 1, p."end" - p.start)),'
    ' p.start, p."end" FROM passages p JOIN articles a ON a.id = p.article_id'
)

# Each passage's article id, source and date, from the covering index alone.
_PASSAGE_ARTICLES_SELECT = (
    "SELECT p.id, p.article_id, a.source, a.published FROM passages p"
    " JOIN articles a INDEXED BY articles_listing ON a.id = p.article_id"
)


def _passage(row: sqlite3.Row | tuple) -> StoredPassage:
    return StoredPassage(id=row[0], article_id=row[1], ordinal=row[2], text=row[3], start=row[4], end=row[5])


class SQLiteDocumentStore:
    """Articles and passages in one SQLite file (WAL mode: one writer and many readers at once).

    One connection shared by the threads of a process, serialised by a lock: SQLite reads are
    fast enough that the lock is not a bottleneck for the web server, and it keeps transactions
    of the indexer simple.
    """

    def __init__(self, path: str | Path):
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
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    # -- transactions -------------------------------------------------------------------------

    def _write(self, statements: Iterable[tuple[str, Sequence]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
                self._db.execute("COMMIT")  # inside the try: a commit can fail too (a full disk)
            except BaseException:
                self._rollback()
                raise

    def _write_many(self, sql: str, rows: Iterable[Sequence]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")  # inside the try: a commit can fail too (a full disk)
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        # SQLite rolls back by itself on some errors (a full disk); a second ROLLBACK would then
        # raise "no transaction is active" and hide the error that matters.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- DocumentStore protocol -----------------------------------------------------------------

    def article_hashes(self, article_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(article_ids))
        found: dict[str, str] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for article_id, digest in self._query(
                    f"SELECT id, content_hash FROM articles WHERE id IN ({marks})", chunk):
                found[article_id] = digest
        return found

    def put_articles(self, items: Sequence[tuple[Article, str, list[StoredPassage]]]) -> None:
        """Insert or replace articles with their passages in one transaction.

        A replaced article keeps the embeddings of passages whose id survives (same ordinal and
        text give the same id), so only changed passages are embedded again. Every put article is
        pending for the keyword index until `mark_keyword_done`.
        """
        if not items:
            return
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                existing = self._existing_passages([article.id for article, _, _ in items])
                for article, _, passages in items:
                    old_ids = existing.get(article.id)
                    if old_ids is None:
                        continue
                    gone = list(old_ids - {p.id for p in passages})
                    for chunk in _chunks(gone):
                        marks = ",".join("?" * len(chunk))
                        self._db.execute(f"DELETE FROM embeddings WHERE passage_id IN ({marks})", chunk)
                    self._db.execute("DELETE FROM passages WHERE article_id = ?", (article.id,))
                self._db.executemany(
                    f"INSERT OR REPLACE INTO articles ({_ARTICLE_COLUMNS}, content_hash, keyword_state,"
                    " indexed_at, published_ts) VALUES (?,?,?,?,?,?,?,?,?,?,0,?,?)",
                    [(article.id, article.title, article.text, article.source, article.published,
                      article.url, article.author, article.category, article.origin, digest, now,
                      to_epoch(article.published)) for article, digest, _ in items])
                self._db.executemany(
                    'INSERT OR REPLACE INTO passages (id, article_id, ordinal, text, start, "end")'
                    " VALUES (?,?,?,?,?,?)",
                    [(p.id, p.article_id, p.ordinal,
                      None if article.text[p.start:p.end] == p.text else p.text, p.start, p.end)
                     for article, _, passages in items for p in passages])
                self._db.execute("COMMIT")  # inside the try: a commit can fail too (a full disk)
            except BaseException:
                self._rollback()
                raise

    def _existing_passages(self, article_ids: Sequence[str]) -> dict[str, set[int]]:
        """Passage ids of those articles already stored (articles absent from the result are new)."""
        found: dict[str, set[int]] = {}
        for chunk in _chunks(list(article_ids)):
            marks = ",".join("?" * len(chunk))
            for (article_id,) in self._db.execute(f"SELECT id FROM articles WHERE id IN ({marks})", chunk):
                found[article_id] = set()
            for pid, article_id in self._db.execute(
                    f"SELECT id, article_id FROM passages WHERE article_id IN ({marks})", chunk):
                found.setdefault(article_id, set()).add(pid)
        return found

    def delete_articles(self, article_ids: Iterable[str]) -> list[int]:
        """Remove articles, their passages and embeddings; the keyword index learns of it later."""
        ids = list(dict.fromkeys(article_ids))
        removed: list[int] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for chunk in _chunks(ids):
                    marks = ",".join("?" * len(chunk))
                    present = [row[0] for row in self._db.execute(
                        f"SELECT id FROM articles WHERE id IN ({marks})", chunk)]
                    removed += [row[0] for row in self._db.execute(
                        f"SELECT id FROM passages WHERE article_id IN ({marks})", chunk)]
                    self._db.execute(
                        f"DELETE FROM embeddings WHERE passage_id IN "
                        f"(SELECT id FROM passages WHERE article_id IN ({marks}))", chunk)
                    self._db.execute(f"DELETE FROM passages WHERE article_id IN ({marks})", chunk)
                    self._db.execute(f"DELETE FROM articles WHERE id IN ({marks})", chunk)
                    self._db.executemany("INSERT OR IGNORE INTO pending_keyword_deletes VALUES (?)",
                                         [(a,) for a in present])
                self._db.execute("COMMIT")  # inside the try: a commit can fail too (a full disk)
            except BaseException:
                self._rollback()
                raise
        return removed

    def get_articles(self, article_ids: Iterable[str]) -> dict[str, Article]:
        ids = list(dict.fromkeys(article_ids))
        found: dict[str, Article] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for row in self._query(f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id IN ({marks})", chunk):
                found[row[0]] = _article(row)
        return found

    def get_passages(self, passage_ids: Iterable[int]) -> dict[int, StoredPassage]:
        """Passages by id; ids no longer stored (e.g. deleted since an index was read) are absent."""
        ids = [int(i) for i in dict.fromkeys(passage_ids)]
        found: dict[int, StoredPassage] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for row in self._query(f"{_PASSAGE_SELECT} WHERE p.id IN ({marks})", chunk):
                found[row[0]] = _passage(row)
        return found

    def passage_articles(self, passage_ids: Iterable[int]) -> dict[int, ArticleRef]:
        """Each stored passage's article id, source and date; neither passage text nor body is read, so
        a query can rank and count a thousand candidates for the price of showing a few."""
        ids = [int(i) for i in dict.fromkeys(passage_ids)]
        refs: dict[str, ArticleRef] = {}  # passages of one article share its ref
        found: dict[int, ArticleRef] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for pid, article_id, source, published in self._query(
                    f"{_PASSAGE_ARTICLES_SELECT} WHERE p.id IN ({marks})", chunk):
                ref = refs.get(article_id)
                if ref is None:
                    ref = refs[article_id] = ArticleRef(article_id, source, published)
                found[pid] = ref
        return found

    def article_passages(self, article_id: str) -> list[StoredPassage]:
        rows = self._query(f"{_PASSAGE_SELECT} WHERE p.article_id = ? ORDER BY p.ordinal", (article_id,))
        return [_passage(row) for row in rows]

    def count_articles(self) -> int:
        return int(self._query("SELECT count(*) FROM articles")[0][0])

    def count_passages(self) -> int:
        return int(self._query("SELECT count(*) FROM passages")[0][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reads beyond the protocol ----------------------------------------------------------------

    def sources(self) -> list[tuple[str, int]]:
        """Each source with its article count, largest first (articles without a source are left out)."""
        rows = self._query("SELECT source, count(*) FROM articles WHERE source IS NOT NULL"
                           " GROUP BY source ORDER BY count(*) DESC, source")
        return [(source, int(n)) for source, n in rows]

    def passage_ids_matching(self, sources: Sequence[str] = (), date_from: str | None = None,
                             date_to: str | None = None) -> set[int]:
        """Passage ids of articles from any of `sources` and published within [date_from, date_to]
        (inclusive; a bare date_to covers its day): the `allowed` set for filtered semantic search."""
        where: list[str] = []
        params: list[object] = []
        if sources:
            where.append(f"a.source IN ({','.join('?' * len(sources))})")
            params += list(sources)
        bounds = query_bounds(date_from, date_to)
        if bounds:
            where.append("a.published_ts BETWEEN ? AND ?")
            params += list(bounds)
        sql = "SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return {row[0] for row in self._query(sql, params)}

    def article_ids(self) -> list[str]:
        return [row[0] for row in self._query("SELECT id FROM articles ORDER BY id")]

    # -- keyword bookkeeping ----------------------------------------------------------------------

    def keyword_pending_ids(self) -> list[str]:
        """Articles not yet committed to the keyword index (new, changed, or interrupted)."""
        return [row[0] for row in self._query("SELECT id FROM articles WHERE keyword_state = 0")]

    def load_for_keyword(self, article_ids: Sequence[str]) -> list[tuple[Article, str, list[StoredPassage]]]:
        """(article, content hash, passages) for re-deriving keyword documents from the store."""
        items = []
        for chunk in _chunks(list(article_ids)):
            marks = ",".join("?" * len(chunk))
            for row in self._query(
                    f"SELECT {_ARTICLE_COLUMNS}, content_hash FROM articles WHERE id IN ({marks})", chunk):
                items.append((_article(row), row[9], self.article_passages(row[0])))
        return items

    def count_keyword_indexed_passages(self) -> int:
        """Passages of articles marked as committed to the keyword index."""
        return int(self._query("SELECT count(*) FROM passages p JOIN articles a ON a.id = p.article_id"
                               " WHERE a.keyword_state = 1")[0][0])

    def count_keyword_pending(self) -> int:
        return int(self._query("SELECT count(*) FROM articles WHERE keyword_state = 0")[0][0])

    def mark_keyword_done(self, items: Iterable[tuple[str, str]]) -> None:
        """Mark (article id, content hash) pairs as in the keyword index; a hash that changed since
        (the article was replaced meanwhile) stays pending."""
        self._write_many("UPDATE articles SET keyword_state = 1 WHERE id = ? AND content_hash = ?", items)

    def pending_keyword_deletes(self) -> list[str]:
        return [row[0] for row in self._query("SELECT article_id FROM pending_keyword_deletes")]

    def clear_keyword_deletes(self, article_ids: Iterable[str]) -> None:
        self._write_many("DELETE FROM pending_keyword_deletes WHERE article_id = ?", ((a,) for a in article_ids))

    def reset_keyword_state(self) -> None:
        """Mark every article pending, for a keyword index rebuilt from scratch."""
        self._write([("UPDATE articles SET keyword_state = 0", ()),
                     ("DELETE FROM pending_keyword_deletes", ())])

    # -- embeddings -------------------------------------------------------------------------------

    def passages_to_embed(self, limit: int, after: int | None = None) -> list[tuple[int, str]]:
        """Up to `limit` (passage id, text) without a stored embedding, in id order after `after`."""
        rows = self._query(
            'SELECT p.id, COALESCE(p.text, substr(a.body, p.start + 1, p."end" - p.start))'
            " FROM passages p JOIN articles a ON a.id = p.article_id"
            " LEFT JOIN embeddings e ON e.passage_id = p.id"
            " WHERE e.passage_id IS NULL AND p.id > ? ORDER BY p.id LIMIT ?",
            (-1 if after is None else after, limit))
        return [(row[0], row[1]) for row in rows]

    def count_to_embed(self) -> int:
        return int(self._query("SELECT count(*) FROM passages p LEFT JOIN embeddings e"
                               " ON e.passage_id = p.id WHERE e.passage_id IS NULL")[0][0])

    def put_embeddings(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Commit one batch of vectors; passages deleted meanwhile are skipped."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._write_many("INSERT OR REPLACE INTO embeddings SELECT id, ? FROM passages WHERE id = ?",
                         ((vectors[i].tobytes(), int(pid)) for i, pid in enumerate(ids)))

    def embedding_ids(self) -> np.ndarray:
        rows = self._query("SELECT passage_id FROM embeddings")
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def get_embeddings(self, ids: Sequence[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, their vectors) for the given passage ids."""
        found_ids: list[int] = []
        blobs: list[bytes] = []
        for chunk in _chunks([int(i) for i in ids]):
            marks = ",".join("?" * len(chunk))
            for pid, blob in self._query(
                    f"SELECT passage_id, vector FROM embeddings WHERE passage_id IN ({marks})", chunk):
                found_ids.append(pid)
                blobs.append(blob)
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)
        return np.array(found_ids, dtype=np.int64), vectors

    def count_embeddings(self) -> int:
        return int(self._query("SELECT count(*) FROM embeddings")[0][0])

    def clear_embeddings(self) -> None:
        self._write([("DELETE FROM embeddings", ())])

    # -- meta and log -----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._write([("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))])

    def _has_run_process_columns(self) -> bool:
        return "pid" in {row[1] for row in self._query("PRAGMA table_info(ingest_log)")}

    def log_start(self, paths: Sequence[str]) -> int:
        """Record a run as running, with the process that runs it. Called under the write lock, so a run
        still marked running is one whose process died (kill -9, a power cut): it is marked interrupted."""
        pid, host, started = this_process()
        with self._lock:
            if not self._has_run_process_columns():  # a store made before runs recorded their process
                for column in ("pid INTEGER", "host TEXT", "process_started TEXT"):
                    self._db.execute(f"ALTER TABLE ingest_log ADD COLUMN {column}")
            self._db.execute("UPDATE ingest_log SET status = 'interrupted' WHERE status = 'running'")
            cursor = self._db.execute(
                "INSERT INTO ingest_log (started, paths, status, pid, host, process_started)"
                " VALUES (?, ?, ?, ?, ?, ?)", (_now(), "\n".join(paths), "running", pid, host, started))
            return int(cursor.lastrowid or 0)

    def log_finish(self, run_id: int, status: str, summary: str) -> None:
        self._write([("UPDATE ingest_log SET finished = ?, status = ?, summary = ? WHERE id = ?",
                      (_now(), status, summary, run_id))])

    def last_runs(self, limit: int = 5) -> list[dict[str, object]]:
        """The latest runs, newest first; a run marked running whose process is gone shows as interrupted."""
        keys = ["id", "started", "finished", "paths", "status", "summary"]
        process = self._has_run_process_columns()
        columns = keys + ["pid", "host", "process_started"] if process else keys
        rows = self._query(f"SELECT {', '.join(columns)} FROM ingest_log ORDER BY id DESC LIMIT ?", (limit,))
        runs = []
        for row in rows:
            run = dict(zip(columns, row, strict=True))
            if process:
                pid, host, started = run.pop("pid"), run.pop("host"), run.pop("process_started")
                if run["status"] == "running" and is_alive(pid, host, started) is False:
                    run["status"] = "interrupted"
                run["pid"] = pid
            runs.append(run)
        return runs
