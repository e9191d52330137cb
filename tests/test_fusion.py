"""Fusion: reciprocal rank (formula, weights, ties, duplicates, limits), normalized scores, hybrid's tail."""

from __future__ import annotations

import pytest

from indexer.models import Hit
from indexer.settings import SettingsError, load_settings
from retrieval.fusion import METHODS, RRF_K, FusionParams, Normalizer, hybrid, normalized, rrf


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


# -- normalized scores, hybrid's tail, the settings ------------------------------------------------------


def scored(*pairs: tuple[int, float]) -> list[Hit]:
    return [Hit(i, s) for i, s in pairs]


def test_minmax_is_a_convex_sum_of_scores_scaled_to_zero_one() -> None:
    keyword = scored((1, 10.0), (2, 6.0), (3, 2.0))  # → 1, 0.5, 0
    semantic = scored((3, 0.9), (4, 0.8), (1, 0.7))  # → 1, 0.5, 0
    fused = {h.passage_id: h.score for h in normalized([keyword, semantic], "minmax", weights=[0.6, 0.4])}
    assert fused[1] == pytest.approx(0.6 * 1.0 + 0.4 * 0.0)
    assert fused[2] == pytest.approx(0.6 * 0.5)  # absent from the dense list: its minimum, 0
    assert fused[3] == pytest.approx(0.6 * 0.0 + 0.4 * 1.0)
    assert fused[4] == pytest.approx(0.4 * 0.5)


def test_zscore_scores_an_absent_passage_as_the_lists_lowest() -> None:
    keyword = scored((1, 3.0), (2, 1.0))  # mean 2, sd 1 → +1, -1
    semantic = scored((3, 0.9), (1, 0.5), (4, 0.1))  # mean 0.5, sd √(0.32/3)
    sd = (0.32 / 3) ** 0.5
    fused = {h.passage_id: h.score for h in normalized([keyword, semantic], "zscore")}
    assert fused[1] == pytest.approx(1.0 + 0.0)
    assert fused[2] == pytest.approx(-1.0 + (0.1 - 0.5) / sd)
    assert fused[3] == pytest.approx(-1.0 + 0.4 / sd)
    assert Normalizer.fit([0.9, 0.5, 0.1], "zscore").absent == pytest.approx(-0.4 / sd)


def test_convex_weight_at_its_ends_follows_one_list() -> None:
    keyword = scored((1, 9.0), (2, 5.0), (3, 1.0))
    semantic = scored((3, 0.9), (2, 0.8), (1, 0.1))
    assert [h.passage_id for h in normalized([keyword, semantic], "minmax", weights=[1.0, 0.0])] == [1, 2, 3]
    assert [h.passage_id for h in normalized([keyword, semantic], "minmax", weights=[0.0, 1.0])] == [3, 2, 1]


def test_equal_scores_and_empty_lists_do_not_divide_by_zero() -> None:
    assert normalized([scored((1, 2.0), (2, 2.0)), []], "minmax")[0].score == pytest.approx(1.0)
    assert [h.score for h in normalized([scored((1, 2.0), (2, 2.0))], "zscore")] == [0.0, 0.0]
    assert normalized([[], []], "zscore") == []
    with pytest.raises(ValueError, match="valid: minmax, zscore"):
        normalized([scored((1, 1.0))], "softmax")


def test_hybrid_fuses_the_depth_and_lists_keyword_matches_beyond_it_in_order() -> None:
    keyword = scored((1, 9.0), (2, 8.0), (3, 7.0), (4, 6.0), (5, 5.0))
    semantic = scored((6, 0.9), (4, 0.85), (1, 0.8))
    for method in METHODS:
        fused = hybrid(keyword, semantic, FusionParams(method, depth=2))
        ids = [h.passage_id for h in fused]
        # Fused: the best two of each list (1, 2 and 6, 4); then 3 and 5, the keyword matches beyond depth 2.
        assert sorted(ids[:4]) == [1, 2, 4, 6] and ids[4:] == [3, 5], method
    rrf_tail = hybrid(keyword, semantic, FusionParams("rrf", depth=2, k=10, keyword_weight=2.0))
    assert rrf_tail[-2].score == pytest.approx(2.0 / (10 + 3)) and rrf_tail[-1].score == pytest.approx(
        2.0 / 15
    )
    whole = hybrid(keyword, semantic, FusionParams("rrf", depth=200))
    assert whole == rrf([keyword, semantic])


def test_fusion_params_come_from_the_settings_and_are_checked() -> None:
    settings = load_settings(environ={})
    params = FusionParams.from_settings({**settings, "search.fusion": "zscore", "search.candidates": 50})
    assert (params.method, params.depth) == ("zscore", 50)
    assert params.k == settings["search.rrf_k"] and params.keyword_weight == settings["search.keyword_weight"]
    with pytest.raises(ValueError, match="valid: minmax, rrf, zscore"):
        FusionParams("borda")
    with pytest.raises(ValueError, match="depth must be >= 1"):
        FusionParams("rrf", depth=0)
    with pytest.raises(SettingsError, match="search.fusion must be one of rrf, minmax, zscore"):
        load_settings(overrides={"search.fusion": "borda"}, environ={})
