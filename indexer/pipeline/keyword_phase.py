"""The keyword phase: new and changed articles into SQLite (one transaction per batch) and the keyword
index (periodic commits), after catching up what an interrupted run left pending."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from tqdm import tqdm

from indexer.grouping.run import Grouping
from indexer.ingest.files import Entry
from indexer.models import Article, IngestSummary, Problem
from indexer.pipeline.analysis import (
    ANALYSIS_BATCH,
    analyze_articles,
    content_hash,
    expand,
    prepare_keyword,
)
from indexer.pipeline.report import IndexReport
from indexer.pipeline.workers import (
    BackgroundReader,
    Workers,
    batched,
    estimate_articles,
    read_articles,
)
from indexer.stores.base import StoredPassage, Stores, require_ledger
from indexer.stores.diskfull import is_disk_full
from indexer.stores.tantivy_index import KeywordDoc

KEYWORD_COMMIT_SECONDS = 10.0  # tantivy commit interval: how soon new text becomes searchable
CATCH_UP_POOL_ABOVE = 2_000  # articles to re-index from the store before it is worth starting workers

# Told, for each article handed to `index_paths(articles=...)` or read from its paths, what became of it
# once SQLite holds it: "new", "replaced" (other content before) or "unchanged". Problems go to on_problem.
ArticleOutcome = Callable[[Article, str], None]


def keyword_backlog(settings: dict[str, Any]) -> int:
    """Articles an earlier run left out of the keyword index, read without opening the stores."""
    from indexer.stores.data_dir import DOCUMENTS_FILE

    database = Path(settings["data.dir"]) / DOCUMENTS_FILE
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM articles WHERE keyword_state = 0").fetchone()[0])
    except sqlite3.Error:  # an older or damaged file: opening the stores reports it properly
        return 0


class KeywordWriter:
    """Writes prepared articles to SQLite (one transaction per batch) and tantivy (periodic commits),
    marking articles done in SQLite only after the tantivy commit that holds them."""

    def __init__(self, stores: Stores, bar: tqdm):
        self.stores = stores
        self.bar = bar
        self._marks: list[tuple[str, str]] = []
        self._last_commit = time.monotonic()

    def add(self, article_id: str, digest: str, docs: list[KeywordDoc], *, replace: bool) -> None:
        if replace:
            self.stores.keyword.delete_articles([article_id])
        self.stores.keyword.add_prepared(docs)
        self._marks.append((article_id, digest))
        self.bar.update(1)
        if time.monotonic() - self._last_commit >= KEYWORD_COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        stores = self.stores
        deletes = require_ledger(stores).pending_keyword_deletes()
        stores.keyword.delete_articles(deletes)
        stores.keyword.commit()
        require_ledger(stores).mark_keyword_done(self._marks)
        require_ledger(stores).clear_keyword_deletes(deletes)
        self._marks = []
        self._last_commit = time.monotonic()
        stores.write_manifest()


def _catch_up_keyword(stores: Stores, writer: KeywordWriter, workers: Workers, report: IndexReport) -> None:
    """Index articles the document store holds but the keyword index lacks (an interrupted run,
    an analyzer change), and apply pending deletions."""
    pending = require_ledger(stores).keyword_pending_ids()
    digests: dict[str, str] = {}

    def tasks() -> Iterator[tuple]:
        for chunk in batched(pending, ANALYSIS_BATCH):
            items = require_ledger(stores).load_for_keyword(chunk)
            digests.update((article.id, digest) for article, digest, _ in items)
            yield ([(article, passages) for article, _, passages in items],)

    for (items,), docs_per_article in workers.map(prepare_keyword, tasks()):
        for (article, _), docs in zip(items, docs_per_article, strict=True):
            writer.add(article.id, digests.pop(article.id), docs, replace=True)
            report.keyword_caught_up += 1
    writer.commit()


def _new_articles(
    articles: Iterable[Article],
    stores: Stores,
    report: IndexReport,
    settings: dict[str, Any],
    replaced_ids: set[str],
    bar: tqdm,
    on_article: ArticleOutcome | None = None,
    fingerprints: bool = True,
) -> Iterator[tuple]:
    """Worker tasks for articles that are new or changed; unchanged ones are counted and dropped.
    `fingerprints`: the workers also fingerprint each article for grouping (off with groups.enabled)."""
    min_words, max_words = settings["passages.min_words"], settings["passages.max_words"]
    for batch in batched(articles, ANALYSIS_BATCH):
        known = stores.docs.article_hashes(a.id for a in batch)
        todo = []
        for article in batch:
            digest = content_hash(article, min_words, max_words)
            old = known.get(article.id)
            if old == digest:
                report.unchanged += 1
                if on_article is not None:
                    on_article(article, "unchanged")
                bar.update(1)  # done too: the bar's total counts every article read
                continue
            if old is not None:
                replaced_ids.add(article.id)
            todo.append((article, digest))
        if todo:
            yield (todo, min_words, max_words, fingerprints)


def keyword_phase(
    paths: Sequence[str],
    walked: Sequence[Entry],
    settings: dict[str, Any],
    stores: Stores,
    pool: Workers,
    reader: BackgroundReader | None,
    report: IndexReport,
    summary: IngestSummary,
    problem: Callable[[Problem], None],
    progress: bool,
    grouping: Grouping,
    extra: Iterable[Article] = (),
    on_article: ArticleOutcome | None = None,
) -> None:
    started = time.monotonic()
    # An estimate of the articles to come gives the bars an ETA (JSON lines: one per line).
    expected = estimate_articles(walked) if progress and paths else None
    reading = tqdm(
        desc="reading", unit=" articles", total=expected, disable=not progress, position=0, dynamic_ncols=True
    )
    indexing = tqdm(
        desc="keyword index",
        unit=" articles",
        total=expected,
        disable=not progress,
        position=1,
        dynamic_ncols=True,
    )
    writer = KeywordWriter(stores, indexing)
    failed = False
    read_so_far = [0]  # articles the readers handed over (the bars count nothing when disabled)
    try:
        _catch_up_keyword(stores, writer, pool, report)

        def counted(articles: Iterator[Article]) -> Iterator[Article]:
            for article in articles:
                reading.update(1)
                read_so_far[0] += 1
                yield article

        replaced_ids: set[str] = set()
        read = read_articles(walked, summary, problem, reader) if paths else iter(())
        articles = counted(chain(read, extra))
        tasks = _new_articles(
            articles, stores, report, settings, replaced_ids, indexing, on_article, grouping.enabled
        )
        for (items, *_), analyzed in pool.map(analyze_articles, tasks):
            prepared = []
            prints: dict[str, Any] = {}
            for (article, digest), result in zip(items, analyzed, strict=True):
                if isinstance(result, str):
                    problem(Problem(article.origin, "cannot be indexed", result))
                    summary.skip("cannot be indexed")
                else:
                    prepared.append((article, digest, *expand(article, result)))
                    prints[article.id] = result[3]
            for article, _, passages, _ in prepared:
                if not passages:
                    problem(Problem(article.origin, "no passages", "the text has no words"))
                    summary.skip("no passages")
            stored = store_batch(stores, [item for item in prepared if item[2]], problem, summary)
            grouping_started = time.monotonic()
            grouped = [
                (a, passages, prints[a.id]) for a, _, passages, _ in prepared if passages and a.id in stored
            ]
            grouping.add(grouped, [a.id for a, _, _ in grouped if a.id in replaced_ids])
            report.grouping_seconds += time.monotonic() - grouping_started
            for article, digest, passages, docs in prepared:
                if passages and article.id in stored:
                    writer.add(article.id, digest, docs, replace=article.id in replaced_ids)
                    report.indexed += 1
                    report.passages += len(passages)
                    report.replaced += article.id in replaced_ids
                    if on_article is not None:
                        on_article(article, "replaced" if article.id in replaced_ids else "new")
    except Exception:
        # A write failed (a full disk): committing again would most likely fail too and hide the first
        # error; what SQLite holds is re-indexed from it by the next run.
        failed = True
        raise
    finally:
        if not failed:
            # Also on Ctrl-C: what SQLite holds goes to the keyword index now rather than next run.
            writer.commit()
            grouping_started = time.monotonic()
            grouping.flush()  # the copy groups of what was stored (indexer.grouping.run.Grouping.add)
            report.grouping_seconds += time.monotonic() - grouping_started
        summary.indexed = report.indexed
        # A run stopped early (a full disk, Ctrl-C) before the background reader sent its counts has
        # still read what the bar counted.
        summary.read = max(summary.read, read_so_far[0])
        reading.close()
        indexing.close()
        report.keyword_seconds = time.monotonic() - started


def store_batch(
    stores: Stores,
    prepared: list[tuple[Article, str, list[StoredPassage], list[KeywordDoc]]],
    problem: Callable[[Problem], None],
    summary: IngestSummary,
) -> set[str]:
    """Write a batch in one transaction; if the database refuses it (text it cannot encode), write
    article by article so that only the offending ones are skipped, each reported. Returns the ids
    stored."""
    try:
        stores.docs.put_articles([(article, digest, passages) for article, digest, passages, _ in prepared])
        return {article.id for article, _, _, _ in prepared}
    except (sqlite3.Error, UnicodeError, ValueError) as error:
        if is_disk_full(error):
            raise  # no article of the batch is at fault, and none of the next ones would fit either
    stored = set()
    for article, digest, passages, _ in prepared:
        try:
            stores.docs.put_articles([(article, digest, passages)])
            stored.add(article.id)
        except (sqlite3.Error, UnicodeError, ValueError) as error:
            if is_disk_full(error):
                raise
            problem(Problem(article.origin, "cannot be stored", str(error)))
            summary.skip("cannot be stored")
    return stored
