"""Benchmark queries drawn from the corpus itself: article titles and the opening words of first sentences."""

from __future__ import annotations

import re
from collections.abc import Sequence

from indexer.models import Article

_SENTENCE_END = re.compile(r"[.!?؟\n]")
MAX_QUERY_WORDS = 12  # a first sentence cut to what people type


def first_sentence(text: str, max_words: int = MAX_QUERY_WORDS) -> str:
    sentence = _SENTENCE_END.split(text.strip(), maxsplit=1)[0]
    return " ".join(sentence.split()[:max_words])


def draw_queries(articles: Sequence[Article], count: int) -> list[str]:
    """`count` queries spread evenly over the articles, alternating a title and a first sentence."""
    queries: list[str] = []
    if not articles or count <= 0:
        return queries
    step = max(1, len(articles) // count)
    index = 0
    while len(queries) < count and index < len(articles) * 2:
        article = articles[(index * step) % len(articles)]
        text = article.title if len(queries) % 2 == 0 else first_sentence(article.text)
        text = " ".join(text.split()[: MAX_QUERY_WORDS * 2])
        if text and text not in queries:
            queries.append(text)
        index += 1
    return queries
