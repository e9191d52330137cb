"""Article length normalization of keyword scores (retrieval/article_length.py): a pure function."""

from __future__ import annotations

import pytest

from indexer.models import Hit
from indexer.stores.base import ArticleRef
from retrieval import article_length

ARTICLES = {1: ArticleRef("long"), 2: ArticleRef("long"), 3: ArticleRef("short"), 4: ArticleRef("gone")}
COUNTS = {"long": 16, "short": 1}


def test_a_short_article_overtakes_a_long_one_with_the_same_passage_score() -> None:
    hits = [Hit(1, 8.0), Hit(3, 7.0), Hit(2, 2.0)]
    scaled = article_length.normalize(hits, ARTICLES, COUNTS, 0.25)
    assert [h.passage_id for h in scaled] == [3, 1, 2]
    assert [h.score for h in scaled] == [7.0, 4.0, 1.0]  # 16 ** 0.25 = 2


def test_weight_zero_and_unknown_articles_keep_scores_and_order() -> None:
    hits = [Hit(1, 8.0), Hit(4, 5.0), Hit(9, 3.0)]
    assert article_length.normalize(hits, ARTICLES, COUNTS, 0.0) == hits
    assert article_length.normalize(hits, ARTICLES, COUNTS, 1.0) == [Hit(4, 5.0), Hit(9, 3.0), Hit(1, 0.5)]


def test_a_negative_weight_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="search.article_length_weight must be >= 0"):
        article_length.check_weight(-0.1)
