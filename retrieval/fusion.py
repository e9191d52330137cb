"""Reciprocal-rank fusion of ranked hit lists: the hybrid step that merges BM25 and dense retrieval.

RRF (Cormack, Clarke & Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and individual Rank
Learning Methods", SIGIR 2009) scores a document by the sum over lists of 1 / (k + rank), rank starting
at 1. It needs no score normalisation, which matters here because BM25 scores are unbounded and cosine
similarities are not. The paper fixed k = 60; per-list weights are the usual weighted variant.
"""

from __future__ import annotations

from collections.abc import Sequence

from indexer.models import Hit

RRF_K = 60  # Cormack et al. 2009, section 2: "k = 60 was fixed during a pilot investigation".


def rrf(
    hit_lists: Sequence[Sequence[Hit]],
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
    limit: int | None = None,
) -> list[Hit]:
    """Fuse ranked lists into one, best first; each list is already sorted best first.

    A passage repeated within one list counts at its best rank only. Ties keep the order in which
    passages were first seen (earlier lists first), so fusion is deterministic.
    """
    if k < 0:
        raise ValueError(f"rrf: k must be >= 0, got {k}")
    if weights is None:
        weights = [1.0] * len(hit_lists)
    if len(weights) != len(hit_lists):
        raise ValueError(f"rrf: {len(weights)} weights for {len(hit_lists)} hit lists")
    scores: dict[int, float] = {}
    for hits, weight in zip(hit_lists, weights, strict=True):
        seen: set[int] = set()
        for rank, hit in enumerate(hits, start=1):
            if hit.passage_id in seen:
                continue
            seen.add(hit.passage_id)
            scores[hit.passage_id] = scores.get(hit.passage_id, 0.0) + weight / (k + rank)
    # sorted() is stable, so equal scores keep first-seen order.
    fused = sorted(scores.items(), key=lambda item: -item[1])
    if limit is not None:
        fused = fused[:limit]
    return [Hit(passage_id, score) for passage_id, score in fused]
