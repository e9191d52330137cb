"""Operations beside a run: deleting articles, and the dry run that reads and splits without writing."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from indexer.grouping.run import Grouping
from indexer.ingest import iter_articles
from indexer.models import IngestSummary, Problem
from indexer.passages import split_passages
from indexer.stores import open_stores
from indexer.stores.base import require_ledger


def delete_articles(settings: dict[str, Any], article_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Remove articles from all three stores; returns (deleted ids, ids that were not indexed)."""
    stores = open_stores(settings, writable=True)
    try:
        present = set(stores.docs.article_hashes(article_ids))
        deleted = [a for a in dict.fromkeys(article_ids) if a in present]
        missing = [a for a in dict.fromkeys(article_ids) if a not in present]
        if deleted:
            grouping = Grouping(settings)
            try:
                grouping.forget(deleted)
                grouping.finish(stores, with_stories=False)
            finally:
                grouping.close()
            passage_ids = stores.docs.delete_articles(deleted)
            stores.keyword.delete_articles(require_ledger(stores).pending_keyword_deletes())
            stores.keyword.commit()
            require_ledger(stores).clear_keyword_deletes(deleted)
            stores.vectors.delete(passage_ids)
            stores.vectors.save()
            stores.write_manifest()
        return deleted, missing
    finally:
        stores.close()


@dataclass(slots=True)
class DryRunArticle:
    id: str
    title: str
    source: str | None
    published: str | None
    passages: int
    first_passage: str
    origin: str


def dry_run(
    paths: Sequence[str],
    settings: dict[str, Any],
    summary: IngestSummary,
    on_problem: Callable[[Problem], None],
) -> Iterator[DryRunArticle]:
    """Read and split without writing anything: what `index` would store, article by article."""
    min_words, max_words = settings["passages.min_words"], settings["passages.max_words"]
    for article in iter_articles(paths, summary, on_problem):
        passages = split_passages(article, min_words, max_words)
        yield DryRunArticle(
            article.id,
            article.title,
            article.source,
            article.published,
            len(passages),
            passages[0].text if passages else "",
            article.origin,
        )
