"""Choosing distractor articles: a deterministic sample spread over the whole corpus file.

Corpus files are often ordered by source (all of one outlet, then the next), so the first N lines would
be one outlet's news. Instead every article gets a pseudo-random rank from a hash of its id and the N
lowest ranks are kept: the same file and N always give the same articles, in every outlet's proportion.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable
from dataclasses import replace
from itertools import islice
from pathlib import Path

from indexer.models import Article


def _rank(article_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(article_id.encode(), digest_size=8).digest(), "big")


def sample_articles(articles: Iterable[Article], limit: int | None) -> list[Article]:
    """The `limit` articles with the lowest id hash (all of them when limit is None), in id-hash order."""
    if limit is None:
        return sorted(articles, key=lambda a: _rank(a.id))
    if limit <= 0:
        return []
    # A bounded heap keeps memory at `limit` articles however long the corpus is.
    heap: list[tuple[int, str, Article]] = []
    for article in articles:
        item = (-_rank(article.id), article.id, article)
        if len(heap) < limit:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)
    return [a for _, _, a in sorted(heap, reverse=True)]


def neutral_titles(articles: Iterable[Article]) -> list[Article]:
    """The articles with every title replaced by their source's name (`isnad eval --titles neutral`).

    Headlines in the QA sets are Wikipedia page names that often name the answer, and news headlines
    often repeat a question's words; a title that says nothing about the article shows how a ranking
    does when the headline does not help (teasers, names, wordplay).
    """
    # Never empty: an empty title is derived from the body when the file is read back.
    return [replace(article, title=article.source or "-") for article in articles]


def article_record(article: Article) -> dict[str, object]:
    """An article as a JSON-lines record with the keys `isnad index` reads back unchanged."""
    record = {
        "id": article.id,
        "title": article.title,
        "text": article.text,
        "source": article.source,
        "published": article.published,
        "url": article.url,
        "author": article.author,
        "category": article.category,
    }
    return {key: value for key, value in record.items() if value is not None}


def write_jsonl(articles: Iterable[Article], path: Path) -> int:
    """Write articles as JSON lines atomically (a half-written file never takes the final name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    with open(partial, "w", encoding="utf-8") as handle:
        for article in articles:
            handle.write(json.dumps(article_record(article), ensure_ascii=False) + "\n")
            count += 1
    partial.replace(path)
    return count


def write_corpus_slice(articles: Iterable[Article], path: Path, count: int, start: int = 0) -> Path:
    """Articles `start` to `start + count` of a corpus (as read, in file order) written as JSON lines:
    a contiguous slice, for runs that want a set of articles another slice does not overlap."""
    write_jsonl(islice(articles, start, start + count), path)
    return path
