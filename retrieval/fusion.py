"""Fusion of ranked hit lists: the hybrid step that merges BM25 and dense retrieval into one ranking.

Two families, both pure functions over lists already sorted best first:

- `rrf`: reciprocal-rank fusion (Cormack, Clarke & Büttcher, "Reciprocal Rank Fusion outperforms
  Condorcet and individual Rank Learning Methods", SIGIR 2009) scores a passage by the sum over lists of
  weight / (k + rank), rank starting at 1. It needs no score normalisation, which matters because BM25
  scores are unbounded and cosine similarities are not; the paper fixed k = 60.
- `normalized`: a convex combination of each list's scores after normalising them within the list, by
  min-max or by z-score (Bruch, Gai & Ingber, "An Analysis of Fusion Functions for Hybrid Retrieval",
  ACM TOIS 2023, who found a tuned convex combination ahead of RRF). A passage absent from a list is
  scored as that list's lowest passage: 0 after min-max, the lowest z-score after z-scoring.

`hybrid` is what search runs: it fuses the best `depth` passages of each list with the method the
settings name, then lists the keyword matches beyond that depth after them, so every passage containing
the query's words is still listed. Which method, k, depth and weights are the defaults was measured,
not assumed: `evaluation/scripts/tune_fusion.py` and README "Quality".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from indexer.models import Hit
from indexer.stores.registry import FUSION_METHODS, unknown_name

RRF_K = 60  # Cormack et al. 2009, section 2: "k = 60 was fixed during a pilot investigation".
METHODS = FUSION_METHODS
NORMALIZATIONS = tuple(m for m in METHODS if m != "rrf")


def _first_scores(hits: Sequence[Hit]) -> dict[int, float]:
    """Passage id -> score in list order, without repeats: a passage counts at its best (first) rank only."""
    scores: dict[int, float] = {}
    for hit in hits:
        if hit.passage_id not in scores:
            scores[hit.passage_id] = hit.score
    return scores


def _check_weights(weights: Sequence[float] | None, count: int, name: str) -> Sequence[float]:
    if weights is None:
        return [1.0] * count
    if len(weights) != count:
        raise ValueError(f"{name}: {len(weights)} weights for {count} hit lists")
    return weights


def _ranked(scores: Mapping[int, float], limit: int | None) -> list[Hit]:
    # sorted() is stable, so equal scores keep first-seen order (earlier lists first): deterministic.
    fused = sorted(scores.items(), key=lambda item: -item[1])
    if limit is not None:
        fused = fused[:limit]
    return [Hit(passage_id, score) for passage_id, score in fused]


def rrf(
    hit_lists: Sequence[Sequence[Hit]],
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
    limit: int | None = None,
) -> list[Hit]:
    """Fuse ranked lists by reciprocal rank, best first; each list is already sorted best first.

    A passage repeated within one list counts at its best rank only. Ties keep the order in which
    passages were first seen (earlier lists first), so fusion is deterministic.
    """
    if k < 0:
        raise ValueError(f"rrf: k must be >= 0, got {k}")
    weights = _check_weights(weights, len(hit_lists), "rrf")
    scores: dict[int, float] = {}
    for hits, weight in zip(hit_lists, weights, strict=True):
        for rank, passage_id in enumerate(_first_scores(hits), start=1):
            scores[passage_id] = scores.get(passage_id, 0.0) + weight / (k + rank)
    return _ranked(scores, limit)


@dataclass(frozen=True, slots=True)
class Normalizer:
    """One list's score scale: `scale(score)` for a passage in (or scored like) the list, `absent` for one
    the list did not return."""

    method: str
    centre: float  # min-max: the lowest score; z-score: the mean
    spread: float  # min-max: highest - lowest; z-score: the standard deviation (0 when all are equal)
    absent: float

    @classmethod
    def fit(cls, scores: Sequence[float], method: str) -> Normalizer:
        if method not in NORMALIZATIONS:
            raise ValueError(unknown_name("score normalization", method, NORMALIZATIONS))
        if not scores:
            return cls(method, 0.0, 0.0, 0.0)
        if method == "minmax":
            low = min(scores)
            # All scores equal (or one hit): every passage the list found gets 1, one it did not gets 0.
            return cls(method, low, max(scores) - low, 0.0)
        mean = sum(scores) / len(scores)
        spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
        normalizer = cls(method, mean, spread, 0.0)
        return cls(method, mean, spread, normalizer.scale(min(scores)))

    def scale(self, score: float) -> float:
        if self.method == "minmax":
            return (score - self.centre) / self.spread if self.spread > 0 else 1.0
        return (score - self.centre) / self.spread if self.spread > 0 else 0.0


def normalized(
    hit_lists: Sequence[Sequence[Hit]],
    method: str = "minmax",
    weights: Sequence[float] | None = None,
    limit: int | None = None,
) -> list[Hit]:
    """Fuse ranked lists by a weighted sum of their scores normalised within each list, best first.

    With two lists, keyword_weight / (keyword_weight + semantic_weight) is the convex weight α of
    α·keyword + (1 − α)·semantic (the ranking does not change when both weights are scaled). A passage
    absent from a list gets that list's `Normalizer.absent`; ties keep first-seen order.
    """
    weights = _check_weights(weights, len(hit_lists), "normalized")
    lists = [_first_scores(hits) for hits in hit_lists]
    scales = [Normalizer.fit(list(found.values()), method) for found in lists]
    # score = Σ weight·absent + Σ over the lists that found the passage of weight·(scaled − absent): one
    # pass per list, in list order (so ties keep first-seen order), without a lookup in every other list.
    base = sum(weight * scale.absent for scale, weight in zip(scales, weights, strict=True))
    scores: dict[int, float] = {}
    for found, scale, weight in zip(lists, scales, weights, strict=True):
        for passage_id, score in found.items():
            scores[passage_id] = scores.get(passage_id, base) + weight * (scale.scale(score) - scale.absent)
    return _ranked(scores, limit)


@dataclass(frozen=True, slots=True)
class FusionParams:
    """How hybrid search fuses its keyword and dense lists (settings `search.fusion` and neighbours)."""

    method: str = "rrf"
    depth: int = 200  # passages of each list that are fused (`search.candidates`)
    k: int = RRF_K  # RRF only
    keyword_weight: float = 1.0
    semantic_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(unknown_name("search.fusion", self.method, METHODS))
        if self.depth < 1 or self.k < 0 or self.keyword_weight < 0 or self.semantic_weight < 0:
            raise ValueError(f"fusion: depth must be >= 1 and k and weights >= 0, got {self}")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> FusionParams:
        return cls(
            method=str(settings["search.fusion"]),
            depth=int(settings["search.candidates"]),
            k=int(settings["search.rrf_k"]),
            keyword_weight=float(settings["search.keyword_weight"]),
            semantic_weight=float(settings["search.semantic_weight"]),
        )


def hybrid(keyword: Sequence[Hit], semantic: Sequence[Hit], params: FusionParams) -> list[Hit]:
    """The fused best `depth` passages of each list, then the keyword matches beyond that depth.

    The matches beyond follow in their keyword order, scored as the fusion would score a passage only
    the keyword list found at that rank, so that every passage containing the query's words is listed.
    """
    head_keyword, head_semantic = keyword[: params.depth], semantic[: params.depth]
    weights = (params.keyword_weight, params.semantic_weight)
    tail_score: Callable[[int, Hit], float]
    if params.method == "rrf":
        fused = rrf([head_keyword, head_semantic], k=params.k, weights=weights)

        def tail_score(rank: int, hit: Hit) -> float:
            return params.keyword_weight / (params.k + rank)
    else:
        fused = normalized([head_keyword, head_semantic], method=params.method, weights=weights)
        keyword_scale = Normalizer.fit(list(_first_scores(head_keyword).values()), params.method)
        semantic_absent = Normalizer.fit(list(_first_scores(head_semantic).values()), params.method).absent

        def tail_score(rank: int, hit: Hit) -> float:
            return (
                params.keyword_weight * keyword_scale.scale(hit.score)
                + params.semantic_weight * semantic_absent
            )

    seen = {hit.passage_id for hit in fused}
    for rank, hit in enumerate(keyword[params.depth :], start=params.depth + 1):
        if hit.passage_id not in seen:
            seen.add(hit.passage_id)
            fused.append(Hit(hit.passage_id, tail_score(rank, hit)))
    return fused
