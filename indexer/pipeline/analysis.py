"""The pure work of the keyword phase, run in worker processes: content hashes, splitting and analysis."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from indexer.grouping.run import fingerprint_batch
from indexer.models import Article
from indexer.passages import split_passages
from indexer.stores.base import StoredPassage
from indexer.stores.dates import to_epoch
from indexer.stores.tantivy_index import KeywordDoc, prepare_docs

HASH_VERSION = 1  # bump when what goes into content_hash changes
ANALYSIS_BATCH = 64  # articles per worker task: big enough to amortise pickling, small for a smooth bar

# What a worker sends back per article, as plain tuples (cheap to pickle): each passage's
# (id, start, end) in the body, the analyzed title (stemmed, exact), each passage's analyzed text, and
# the article's MinHash signature for grouping (indexer.grouping.fingerprint).
Analyzed = tuple[list[tuple[int, int, int]], tuple[str, str], list[tuple[str, str]], Any]


def content_hash(article: Article, min_words: int, max_words: int) -> str:
    """Fingerprint of everything that decides an article's stored form (not where it was read)."""
    digest = hashlib.blake2b(digest_size=16)
    for value in (
        article.title,
        article.text,
        article.source,
        article.published,
        article.url,
        article.author,
        article.category,
    ):
        digest.update((value or "").encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    digest.update(f"{min_words}:{max_words}:{HASH_VERSION}".encode())
    return digest.hexdigest()


def analyze_articles(
    items: Sequence[tuple[Article, str]], min_words: int, max_words: int, fingerprints: bool = True
) -> list[Analyzed | str]:
    """Split and analyze articles (runs in worker processes). Pure. An article that cannot be
    processed (e.g. text with unencodable characters) yields the reason instead, so one bad
    article never stops a run. Without `fingerprints` (grouping off) the fourth item is None."""
    analyzed: list[Analyzed | str] = []
    documents: list[list[KeywordDoc]] = []
    for article, _ in items:
        try:
            passages = [StoredPassage.of(p) for p in split_passages(article, min_words, max_words)]
            docs = prepare_docs(article, passages)
        except (UnicodeError, ValueError) as error:
            analyzed.append(f"{type(error).__name__}: {error}")
            continue
        title = (docs[0].title, docs[0].title_exact) if docs else ("", "")
        spans = [(p.id, p.start, p.end) for p in passages]
        analyzed.append((spans, title, [(d.text, d.text_exact) for d in docs], None))
        documents.append(docs)
    if fingerprints and documents:
        # The whole batch at once (indexer.grouping.fingerprint.fingerprints): far cheaper than one by one.
        prints = iter(fingerprint_batch(documents))
        analyzed = [a if isinstance(a, str) else (*a[:3], next(prints)) for a in analyzed]
    return analyzed


def expand(article: Article, analyzed: Analyzed) -> tuple[list[StoredPassage], list[KeywordDoc]]:
    """The stored passages and keyword documents of an article from a worker's compact answer."""
    spans, (title, title_exact), texts, _ = analyzed
    passages = [
        StoredPassage(pid, article.id, ordinal, article.text[start:end], start, end)
        for ordinal, (pid, start, end) in enumerate(spans)
    ]
    source, published = article.source or "", to_epoch(article.published)
    docs = [
        KeywordDoc(p.id, article.id, source, published, text, text_exact, title, title_exact)
        for p, (text, text_exact) in zip(passages, texts, strict=True)
    ]
    return passages, docs


def prepare_keyword(items: Sequence[tuple[Article, list[StoredPassage]]]) -> list[list[KeywordDoc]]:
    """Keyword documents for articles already in the document store (runs in worker processes)."""
    return [prepare_docs(article, passages) for article, passages in items]
