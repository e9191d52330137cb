"""The SQLite document store: articles, passages and their embeddings, the source of truth for every index.

It shares documents.sqlite3 (`SQLiteDatabase`: one connection, one transaction helper) with the indexing
ledger (`indexer.stores.ledger`), which keeps what makes indexing resumable: writing an article here marks
it pending for the keyword index (`keyword_state` 0) in the same transaction, and deleting one queues it in
`pending_keyword_deletes`, so the keyword and vector indexes can always be re-derived from this file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.models import Article
from indexer.stores.base import ArticleRef, StoredPassage
from indexer.stores.dates import query_bounds, to_epoch
from indexer.stores.row_cache import RowCache
from indexer.stores.sqlite_db import SQLiteDatabase, chunks, marks, now

ARTICLE_COLUMNS = "id, title, body, source, published, url, author, category, origin"


def _shared_refs(rows: Iterable[Sequence[Any]], refs: dict[str, ArticleRef]) -> dict[int, ArticleRef]:
    """(passage id, article id, source, published) rows as refs by passage id, one ref per article."""
    found: dict[int, ArticleRef] = {}
    for pid, article_id, source, published in rows:
        ref = refs.get(article_id)
        if ref is None:
            ref = refs[article_id] = ArticleRef(article_id, source, published)
        found[pid] = ref
    return found


def article_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Article:
    """An article from the first columns of a row selecting ARTICLE_COLUMNS."""
    return Article(
        id=row[0],
        title=row[1],
        text=row[2],
        source=row[3],
        published=row[4],
        url=row[5],
        author=row[6],
        category=row[7],
        origin=row[8],
    )


# A passage's text is its article's body between its offsets (SQLite's substr counts characters,
# 1-based, as Python slices count code points); storing it again would double the file.
PASSAGE_SELECT = (
    'SELECT p.id, p.article_id, p.ordinal, COALESCE(p.text, substr(a.body, p.start + 1, p."end" - p.start)),'
    ' p.start, p."end" FROM passages p JOIN articles a ON a.id = p.article_id'
)

# Each passage's article id, source and date, from the covering index alone.
PASSAGE_ARTICLES_SELECT = (
    "SELECT p.id, p.article_id, a.source, a.published FROM passages p"
    " JOIN articles a INDEXED BY articles_listing ON a.id = p.article_id"
)


def _passage(row: sqlite3.Row | tuple[Any, ...]) -> StoredPassage:
    return StoredPassage(id=row[0], article_id=row[1], ordinal=row[2], text=row[3], start=row[4], end=row[5])


class SQLiteDocumentStore:
    """Articles, passages and embeddings in documents.sqlite3 (the DocumentStore contract).

    Opened on a path it owns its connection; opened on a `SQLiteDatabase` it shares that one with the
    ledger, and whichever closes first closes it.
    """

    def __init__(self, database: SQLiteDatabase | str | Path) -> None:
        self.db = database if isinstance(database, SQLiteDatabase) else SQLiteDatabase(database)
        self.path = self.db.path
        # What every keyword query reads of its candidates (hundreds, mostly read by earlier queries),
        # from memory until the file changes: about 4 of a keyword query's 18 ms of CPU on the bench index.
        self._refs: RowCache[int, ArticleRef] = RowCache(self.db.stamp, self._read_passage_articles)
        self._counts: RowCache[str, int] = RowCache(self.db.stamp, self._read_passage_counts)

    # -- DocumentStore protocol -----------------------------------------------------------------

    def article_hashes(self, article_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(article_ids))
        found: dict[str, str] = {}
        for chunk in chunks(ids):
            for article_id, digest in self.db.query(
                f"SELECT id, content_hash FROM articles WHERE id IN ({marks(chunk)})", chunk
            ):
                found[article_id] = digest
        return found

    def put_articles(self, items: Sequence[tuple[Article, str, list[StoredPassage]]]) -> None:
        """Insert or replace articles with their passages in one transaction.

        A replaced article keeps the embeddings of passages whose id survives (same ordinal and
        text give the same id), so only changed passages are embedded again. Every put article is
        pending for the keyword index until the ledger's `mark_keyword_done`.
        """
        if not items:
            return
        stamp = now()
        with self.db.transaction() as db:
            existing = self._existing_passages(db, [article.id for article, _, _ in items])
            for article, _, passages in items:
                old_ids = existing.get(article.id)
                if old_ids is None:
                    continue
                gone = list(old_ids - {p.id for p in passages})
                for chunk in chunks(gone):
                    db.execute(f"DELETE FROM embeddings WHERE passage_id IN ({marks(chunk)})", chunk)
                db.execute("DELETE FROM passages WHERE article_id = ?", (article.id,))
            db.executemany(
                f"INSERT OR REPLACE INTO articles ({ARTICLE_COLUMNS}, content_hash, keyword_state,"
                " indexed_at, published_ts) VALUES (?,?,?,?,?,?,?,?,?,?,0,?,?)",
                [
                    (
                        article.id,
                        article.title,
                        article.text,
                        article.source,
                        article.published,
                        article.url,
                        article.author,
                        article.category,
                        article.origin,
                        digest,
                        stamp,
                        to_epoch(article.published),
                    )
                    for article, digest, _ in items
                ],
            )
            db.executemany(
                'INSERT OR REPLACE INTO passages (id, article_id, ordinal, text, start, "end")'
                " VALUES (?,?,?,?,?,?)",
                [
                    (
                        p.id,
                        p.article_id,
                        p.ordinal,
                        None if article.text[p.start : p.end] == p.text else p.text,
                        p.start,
                        p.end,
                    )
                    for article, _, passages in items
                    for p in passages
                ],
            )

    @staticmethod
    def _existing_passages(db: sqlite3.Connection, article_ids: Sequence[str]) -> dict[str, set[int]]:
        """Passage ids of those articles already stored (articles absent from the result are new)."""
        found: dict[str, set[int]] = {}
        for chunk in chunks(list(article_ids)):
            for (article_id,) in db.execute(f"SELECT id FROM articles WHERE id IN ({marks(chunk)})", chunk):
                found[article_id] = set()
            for pid, article_id in db.execute(
                f"SELECT id, article_id FROM passages WHERE article_id IN ({marks(chunk)})", chunk
            ):
                found.setdefault(article_id, set()).add(pid)
        return found

    def delete_articles(self, article_ids: Iterable[str]) -> list[int]:
        """Remove articles, their passages and embeddings; the keyword index learns of it later."""
        ids = list(dict.fromkeys(article_ids))
        removed: list[int] = []
        with self.db.transaction() as db:
            for chunk in chunks(ids):
                where = marks(chunk)
                present = [
                    row[0] for row in db.execute(f"SELECT id FROM articles WHERE id IN ({where})", chunk)
                ]
                removed += [
                    row[0]
                    for row in db.execute(f"SELECT id FROM passages WHERE article_id IN ({where})", chunk)
                ]
                db.execute(
                    f"DELETE FROM embeddings WHERE passage_id IN "
                    f"(SELECT id FROM passages WHERE article_id IN ({where}))",
                    chunk,
                )
                db.execute(f"DELETE FROM passages WHERE article_id IN ({where})", chunk)
                db.execute(f"DELETE FROM articles WHERE id IN ({where})", chunk)
                db.executemany(
                    "INSERT OR IGNORE INTO pending_keyword_deletes VALUES (?)", [(a,) for a in present]
                )
        return removed

    def get_articles(self, article_ids: Iterable[str]) -> dict[str, Article]:
        ids = list(dict.fromkeys(article_ids))
        found: dict[str, Article] = {}
        for chunk in chunks(ids):
            for row in self.db.query(
                f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id IN ({marks(chunk)})", chunk
            ):
                found[row[0]] = article_from_row(row)
        return found

    def get_passages(self, passage_ids: Iterable[int]) -> dict[int, StoredPassage]:
        """Passages by id; ids no longer stored (e.g. deleted since an index was read) are absent."""
        ids = [int(i) for i in dict.fromkeys(passage_ids)]
        found: dict[int, StoredPassage] = {}
        for chunk in chunks(ids):
            for row in self.db.query(f"{PASSAGE_SELECT} WHERE p.id IN ({marks(chunk)})", chunk):
                found[row[0]] = _passage(row)
        return found

    def passage_articles(self, passage_ids: Iterable[int]) -> dict[int, ArticleRef]:
        """Each stored passage's article id, source and date; neither passage text nor body is read, so
        a query can rank and count a thousand candidates for the price of showing a few."""
        return self._refs.get_many(map(int, passage_ids))

    def preload_rows(self) -> bool:
        """Read what `passage_articles` and `passage_counts` answer for every passage and article at once
        (a server's start), so queries find them in memory from the first; False when the index holds more
        than the row caches keep (they then fill query by query, as before)."""
        return self._refs.fill(self._read_all_passage_articles) and self._counts.fill(self._read_all_counts)

    def _read_passage_articles(self, ids: list[int]) -> dict[int, ArticleRef]:
        found: dict[int, ArticleRef] = {}
        refs: dict[str, ArticleRef] = {}  # passages of one article share its ref
        for chunk in chunks(ids):
            rows = self.db.query(f"{PASSAGE_ARTICLES_SELECT} WHERE p.id IN ({marks(chunk)})", chunk)
            found.update(_shared_refs(rows, refs))
        return found

    def _read_all_passage_articles(self, limit: int) -> dict[int, ArticleRef]:
        return _shared_refs(self.db.query(f"{PASSAGE_ARTICLES_SELECT} LIMIT ?", (limit,)), {})

    def _read_all_counts(self, limit: int) -> dict[str, int]:
        sql = "SELECT article_id, count(*) FROM passages GROUP BY article_id LIMIT ?"
        return dict(self.db.query(sql, (limit,)))

    def passage_counts(self, article_ids: Iterable[str]) -> dict[str, int]:
        return self._counts.get_many(article_ids)

    def _read_passage_counts(self, ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for chunk in chunks(ids):
            # Answered from the passages_article index alone.
            counts.update(
                self.db.query(
                    f"SELECT article_id, count(*) FROM passages WHERE article_id IN ({marks(chunk)})"
                    " GROUP BY article_id",
                    chunk,
                )
            )
        return counts

    def article_passages(self, article_id: str) -> list[StoredPassage]:
        rows = self.db.query(f"{PASSAGE_SELECT} WHERE p.article_id = ? ORDER BY p.ordinal", (article_id,))
        return [_passage(row) for row in rows]

    def count_articles(self) -> int:
        return self.db.count("SELECT count(*) FROM articles")

    def count_passages(self) -> int:
        return self.db.count("SELECT count(*) FROM passages")

    def close(self) -> None:
        self.db.close()

    def sources(self) -> list[tuple[str, int]]:
        """Each source with its article count, largest first (articles without a source are left out)."""
        rows = self.db.query(
            "SELECT source, count(*) FROM articles WHERE source IS NOT NULL"
            " GROUP BY source ORDER BY count(*) DESC, source"
        )
        return [(source, int(n)) for source, n in rows]

    def passage_ids_matching(
        self, sources: Sequence[str] = (), date_from: str | None = None, date_to: str | None = None
    ) -> set[int]:
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
        return {row[0] for row in self.db.query(sql, params)}

    def article_ids(self) -> list[str]:
        return [row[0] for row in self.db.query("SELECT id FROM articles ORDER BY id")]

    def get_embeddings(self, ids: Sequence[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, their vectors) for the given passage ids."""
        return self.db.embeddings(ids, dim)

    def count_embeddings(self) -> int:
        return self.db.count("SELECT count(*) FROM embeddings")
