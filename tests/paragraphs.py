"""Test helper: an article's paragraphs as stored passages, for tests that fill the stores directly."""

from __future__ import annotations

from indexer.models import Article, Passage
from indexer.stores.base import StoredPassage


def passages_of(article: Article) -> list[StoredPassage]:
    """One passage per paragraph (blank-line separated), with offsets into the body."""
    found, start = [], 0
    for ordinal, paragraph in enumerate(article.text.split("\n\n")):
        begin = article.text.index(paragraph, start)
        found.append(StoredPassage.of(Passage(article.id, ordinal, paragraph, begin, begin + len(paragraph))))
        start = begin + len(paragraph)
    return found
