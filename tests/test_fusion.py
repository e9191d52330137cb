"""Reciprocal-rank fusion: the formula, weights, ties, duplicates and limits."""

from __future__ import annotations

import pytest

from indexer.models import Hit
from retrieval.fusion import RRF_K, rrf


def hits(*ids: int) -> list[Hit]:
    return [Hit(i, 100.0 - n) for n, i in enumerate(ids)]


def test_scores_are_sums_of_reciprocal_ranks() -> None:
    fused = rrf([hits(1, 2, 3), hits(3, 1)], k=60)
    scores = {h.passage_id: h.score for h in fused}
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    assert [h.passage_id for h in fused] == [1, 3, 2]


def test_default_k_is_the_papers_sixty() -> None:
    assert RRF_K == 60
    assert rrf([hits(7)])[0].score == pytest.approx(1 / 61)


def test_a_passage_found_by_both_lists_beats_one_list_leaders() -> None:
    keyword, semantic = hits(1, 2, 3, 4), hits(5, 6, 4, 7)
    assert rrf([keyword, semantic])[0].passage_id == 4


def test_weights_favour_one_list() -> None:
    keyword, semantic = hits(1, 2), hits(2, 1)
    assert rrf([keyword, semantic], weights=[2.0, 1.0])[0].passage_id == 1
    assert rrf([keyword, semantic], weights=[1.0, 2.0])[0].passage_id == 2


def test_ties_keep_first_seen_order_and_limit_cuts() -> None:
    fused = rrf([hits(1, 2), hits(3, 4)], limit=3)
    assert [h.passage_id for h in fused] == [1, 3, 2]


def test_duplicates_within_a_list_count_once_at_best_rank() -> None:
    assert rrf([[Hit(1, 1.0), Hit(1, 0.5)]])[0].score == pytest.approx(1 / 61)


def test_empty_lists_and_bad_arguments() -> None:
    assert rrf([[], []]) == []
    with pytest.raises(ValueError, match="weights"):
        rrf([hits(1)], weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="k must be"):
        rrf([hits(1)], k=-1)
