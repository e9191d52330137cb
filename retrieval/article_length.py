"""Article length normalization of keyword scores: a passage's BM25 divided by its article's length in
passages raised to `search.article_length_weight`.

Passages are scored on their own, so a long article that mentions the query's words once in one passage
scores like a short article about them. Whole-document BM25 (Lucene and Elasticsearch out of the box)
tells them apart by the document's length; this restores that part of it at the article level without an
article index: the exponent 0 scores passages alone, and the value in force was chosen by
cross-validation (`evaluation/scripts/tune_length_weight.py`, README "Quality").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter

from indexer.models import Hit
from indexer.stores.base import ArticleRef


def check_weight(weight: float) -> float:
    if weight < 0:
        raise ValueError(f"search.article_length_weight must be >= 0, got {weight}")
    return weight


def normalize(
    hits: Sequence[Hit], article_of: Mapping[int, ArticleRef], passages: Mapping[str, int], weight: float
) -> list[Hit]:
    """The keyword hits rescored by article length and re-sorted, best first (equal scores keep their
    order); a hit whose article or count is unknown keeps its score."""
    if not weight:
        return list(hits)
    # A keyword query rescores ~1,000 hits of a few distinct lengths: each length's divisor is computed once
    # (the same float as computing it per hit), and the sort's key is read in C. Sorting by score with
    # reverse=True keeps equal scores in their order, as sorting by -score did.
    divisors: dict[int, float] = {}
    scaled = []
    for hit in hits:
        article = article_of.get(hit.passage_id)
        count = passages.get(article.id, 1) if article is not None else 1
        divisor = divisors.get(count)
        if divisor is None:
            divisor = divisors[count] = max(count, 1) ** weight
        scaled.append(Hit(hit.passage_id, hit.score / divisor))
    return sorted(scaled, key=_score, reverse=True)


_score = attrgetter("score")
