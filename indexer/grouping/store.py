"""The grouping ledger: per article its signature, key terms, copy group and story, in `groups.sqlite`.

Kept in its own SQLite file beside the document store, for both backends (the scale-out indexer's data
directory is its ledger too): LSH band keys are indexed, so a new article finds its near-copies with a
few lookups instead of re-reading the archive, and key-term document frequencies are kept as counts.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from indexer.grouping.fingerprint import band_keys
from indexer.stores.row_cache import RowCache, Stamp, stamp_of

GROUPS_FILE = "groups.sqlite"
HOT_BAND = 32  # articles read per LSH band key at most (see `band_matches`)
SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    article_id TEXT PRIMARY KEY,
    source TEXT,
    published TEXT,
    published_ts INTEGER NOT NULL,
    signature BLOB NOT NULL,
    terms TEXT NOT NULL,           -- key terms, space-separated; empty until the story is chosen
    passages TEXT NOT NULL,        -- the lead passages' ids, space-separated: the article vector's inputs
    bands TEXT NOT NULL,           -- empty: an article's LSH band keys are its signature's (band_keys)
    copy_group TEXT NOT NULL,      -- the id of the group's first article (its own id when alone)
    similarity REAL NOT NULL DEFAULT 1.0,  -- estimated Jaccard with the article it was matched to
    story TEXT,                    -- NULL until the article's vectors exist
    vector BLOB,                   -- the article vector (float32), once computed
    sent INTEGER NOT NULL DEFAULT 0  -- 1 once the search engine holds its current groups
);
CREATE INDEX IF NOT EXISTS groups_copy ON groups(copy_group);
CREATE INDEX IF NOT EXISTS groups_story ON groups(story);
CREATE INDEX IF NOT EXISTS groups_date ON groups(published_ts);
-- One B-tree: band key lookups are the LSH query; deletes name the key too (from the signature).
CREATE TABLE IF NOT EXISTS bands (key INTEGER NOT NULL, article_id TEXT NOT NULL,
                                  PRIMARY KEY (key, article_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS term_df (term TEXT PRIMARY KEY, df INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One article's grouping record, as the query side reads it."""

    article_id: str
    source: str | None
    published: str | None
    copy_group: str
    story: str | None


@dataclass(slots=True)
class StoryCandidate:
    """What story assignment reads of an article already grouped or waiting for a story."""

    article_id: str
    published_ts: int
    terms: tuple[str, ...]
    passages: tuple[int, ...]
    copy_group: str
    story: str | None
    vector: bytes | None


def _chunks(values: Sequence, size: int = 500) -> Iterator[Sequence]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


class GroupStore:
    """The grouping tables of one data directory; one connection shared by a process's threads."""

    def __init__(self, data_dir: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(data_dir) / GROUPS_FILE
        self._lock = threading.RLock()
        if readonly:
            # A reader never creates the file: an index built before grouping simply has no groups.
            self._db = sqlite3.connect(
                f"file:{self.path}?mode=ro",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                timeout=30,
            )
            # A search reads the group row of each of its hundreds of candidate articles, most of them read
            # by earlier searches: from memory until an indexing run or writer commits to the file.
            self._row_cache: RowCache[str, GroupRow] | None = RowCache(self._stamp, self._read_rows)
        else:
            self._row_cache = None
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            # A rollback journal, not WAL: a run that changes no group (finishing embeddings) then adds no
            # file at all, which matters on a nearly full disk; readers wait out a batch's commit.
            self._db.execute("PRAGMA journal_mode=DELETE")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Band keys and ids arrive in random order, so inserts touch pages all over both B-trees: with
            # SQLite's default 2 MiB cache most of them were read again from the file for each batch.
            self._db.execute("PRAGMA cache_size=-65536")
            with self._lock:
                self._db.executescript(_SCHEMA)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))

    @classmethod
    def open_reader(cls, data_dir: str | Path) -> GroupStore | None:
        """The store for reading, or None when the index has no grouping file yet."""
        if not (Path(data_dir) / GROUPS_FILE).exists():
            return None
        return cls(data_dir, readonly=True)

    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def transaction(self) -> _Transaction:
        return _Transaction(self)

    # -- reading -----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _stamp(self) -> Stamp:
        with self._lock:
            return stamp_of(self._db)

    def rows(self, article_ids: Iterable[str]) -> dict[str, GroupRow]:
        if self._row_cache is not None:
            return self._row_cache.get_many(article_ids)
        return self._read_rows(list(dict.fromkeys(article_ids)))

    def preload_rows(self) -> bool:
        """Read every article's row into the reader's cache at once (a server's start); False when there is
        no cache (a writer) or more rows than it keeps."""
        if self._row_cache is None:
            return False
        return self._row_cache.fill(
            lambda limit: {
                row[0]: GroupRow(*row)
                for row in self._query(
                    "SELECT article_id, source, published, copy_group, story FROM groups LIMIT ?", (limit,)
                )
            }
        )

    def _read_rows(self, ids: list[str]) -> dict[str, GroupRow]:
        found: dict[str, GroupRow] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for row in self._query(
                "SELECT article_id, source, published, copy_group, story FROM groups "
                f"WHERE article_id IN ({marks})",
                chunk,
            ):
                found[row[0]] = GroupRow(*row)
        return found

    def members(self, column: str, values: Iterable[str]) -> dict[str, list[GroupRow]]:
        """The rows of each copy group or story (`column` 'copy_group' or 'story'), oldest first."""
        if column not in ("copy_group", "story"):
            raise ValueError(f"unknown group column {column!r}")
        groups: dict[str, list[GroupRow]] = {}
        for chunk in _chunks(list(dict.fromkeys(values))):
            marks = ",".join("?" * len(chunk))
            for row in self._query(
                f"SELECT article_id, source, published, copy_group, story FROM groups "
                f"WHERE {column} IN ({marks}) ORDER BY published_ts, article_id",
                chunk,
            ):
                record = GroupRow(*row)
                groups.setdefault(getattr(record, column), []).append(record)
        return groups

    def signatures(self, article_ids: Iterable[str]) -> dict[str, tuple[bytes, str]]:
        """(signature, copy group) of stored articles."""
        found: dict[str, tuple[bytes, str]] = {}
        for chunk in _chunks(list(dict.fromkeys(article_ids))):
            marks = ",".join("?" * len(chunk))
            for article_id, signature, group in self._query(
                f"SELECT article_id, signature, copy_group FROM groups WHERE article_id IN ({marks})", chunk
            ):
                found[article_id] = (signature, group)
        return found

    def band_matches(self, keys: Sequence[int], limit: int = HOT_BAND) -> dict[int, list[str]]:
        """The articles sharing each band key, at most `limit` per key (the most recent): a band shared by
        that many articles is boilerplate (a standard lead line, an empty text), not a sign of a copy, and
        reading all of them would make each new article cost as much as the archive."""
        found: dict[int, list[str]] = {}
        for chunk in _chunks(list(dict.fromkeys(keys))):  # one statement per 500 keys, not one per key
            marks = ",".join("?" * len(chunk))
            for key, article_id in self._query(
                f"SELECT key, article_id FROM bands WHERE key IN ({marks})", chunk
            ):
                sharing = found.setdefault(key, [])
                if len(sharing) < limit:
                    sharing.append(article_id)
        return found

    def count(self) -> int:
        return int(self._query("SELECT count(*) FROM groups")[0][0])

    def count_with_story(self) -> int:
        return int(self._query("SELECT count(*) FROM groups WHERE story IS NOT NULL")[0][0])

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(list(set(terms))):
            marks = ",".join("?" * len(chunk))
            found.update(self._query(f"SELECT term, df FROM term_df WHERE term IN ({marks})", chunk))
        return found

    def story_pending(self) -> list[StoryCandidate]:
        """Articles waiting for a story, in date order (undated first), then by id."""
        return [
            self._candidate(row)
            for row in self._query(
                f"SELECT {_CANDIDATE_COLUMNS} FROM groups WHERE story IS NULL ORDER BY published_ts, article_id"
            )
        ]

    def story_neighbours(self, low: int, high: int) -> list[StoryCandidate]:
        """Articles with a story dated within [low, high]."""
        rows = self._query(
            f"SELECT {_CANDIDATE_COLUMNS} FROM groups WHERE story IS NOT NULL AND "
            "published_ts BETWEEN ? AND ?",
            (low, high),
        )
        return [self._candidate(row) for row in rows]

    @staticmethod
    def _candidate(row: tuple) -> StoryCandidate:
        return StoryCandidate(
            row[0],
            int(row[1]),
            tuple(row[2].split()),
            tuple(int(p) for p in row[3].split()),
            row[4],
            row[5],
            row[6],
        )

    def unsent(self, limit: int) -> list[GroupRow]:
        return [
            GroupRow(*row)
            for row in self._query(
                "SELECT article_id, source, published, copy_group, story FROM groups WHERE sent = 0 LIMIT ?",
                (limit,),
            )
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()


_CANDIDATE_COLUMNS = "article_id, published_ts, terms, passages, copy_group, story, vector"


class _Transaction:
    """Writes of one batch, committed together (a crash leaves the previous batch's state)."""

    def __init__(self, store: GroupStore) -> None:
        self.store = store
        self.db = store._db

    def __enter__(self) -> Self:
        self.store._lock.acquire()
        self.db.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if kind is None:
                self.db.execute("COMMIT")
            elif self.db.in_transaction:
                self.db.execute("ROLLBACK")
        finally:
            self.store._lock.release()

    def forget(self, article_ids: Sequence[str]) -> None:
        """Remove articles (deleted, or about to be re-added with new content) and their term counts."""
        for chunk in _chunks(list(article_ids)):
            marks = ",".join("?" * len(chunk))
            # Terms are counted once an article has its story (see `count_terms`).
            for article_id, terms, signature, story in self.db.execute(
                f"SELECT article_id, terms, signature, story FROM groups WHERE article_id IN ({marks})", chunk
            ).fetchall():
                if story is not None:
                    self.db.executemany(
                        "UPDATE term_df SET df = df - 1 WHERE term = ?", [(t,) for t in terms.split()]
                    )
                # The keys come from the signature (older rows also list them in `bands`: the same keys).
                self.db.executemany(
                    "DELETE FROM bands WHERE key = ? AND article_id = ?",
                    [(key, article_id) for key in band_keys(signature)],
                )
            self.db.execute(f"DELETE FROM groups WHERE article_id IN ({marks})", chunk)

    def add_many(self, rows: Sequence[tuple], bands: Sequence[Sequence[int]]) -> None:
        """Insert articles: (id, source, published, published_ts, signature, passages, copy group,
        similarity) each, with each one's band keys; two statements for the whole batch. Key terms wait
        for the article's story (`set_stories`)."""
        # `bands` stays empty: the keys are the signature's (`band_keys`), and writing them out as text
        # was a third of grouping's cost in the keyword phase.
        self.db.executemany(
            "INSERT OR REPLACE INTO groups (article_id, source, published, published_ts, signature, "
            "terms, passages, bands, copy_group, similarity) VALUES (?,?,?,?,?,'',?,'',?,?)",
            [(r[0], r[1], r[2], r[3], r[4], " ".join(map(str, r[5])), r[6], r[7]) for r in rows],
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO bands VALUES (?, ?)",
            [(key, r[0]) for r, keys in zip(rows, bands, strict=True) for key in keys],
        )

    def count_terms(self, counts: dict[str, int]) -> None:
        """Add articles' key terms to the document frequencies (each article counted once per term)."""
        self.db.executemany(
            "INSERT INTO term_df VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET df = df + excluded.df",
            list(counts.items()),
        )

    def set_stories(self, rows: Sequence[tuple[str, str, bytes, str]]) -> None:
        """(article id, story, article vector, key terms) each: the article's story and what it was
        chosen from, in one statement for the batch."""
        self.db.executemany(
            "UPDATE groups SET story = ?, vector = ?, terms = ?, sent = 0 WHERE article_id = ?",
            [(story, vector, terms, article_id) for article_id, story, vector, terms in rows],
        )

    def mark_sent(self, article_ids: Sequence[str], sent: bool = True) -> None:
        for chunk in _chunks(list(article_ids)):
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"UPDATE groups SET sent = ? WHERE article_id IN ({marks})", (int(sent), *chunk))

    def clear(self) -> None:
        """Forget every group (fingerprints made another way): the next run groups the archive again."""
        for table in ("groups", "bands", "term_df"):
            self.db.execute(f"DELETE FROM {table}")

    def mark_all_unsent(self) -> None:
        self.db.execute("UPDATE groups SET sent = 0")

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
