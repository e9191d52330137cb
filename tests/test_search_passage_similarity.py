"""Passage similarities for answers: read from the stored vectors, or embedded when a passage has none yet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from indexer.pipeline import index_paths
from indexer.settings import load_settings
from indexer.stores import open_stores
from webapp.services import Services

ARTICLES = [
    (
        "nile",
        "يبلغ طول نهر النيل نحو ستة آلاف وستمائة كيلومتر، ويجري من بحيرة فكتوريا حتى يصب في البحر المتوسط.",
    ),
    ("coffee", "تقدم القهوة العربية في فناجين صغيرة مع التمر، وتضاف إلى حبوبها المحمصة حبات الهيل."),
]


def _corpus_and_settings(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """ARTICLES as a JSONL file, and settings for a data folder beside it."""
    corpus = tmp_path / "news.jsonl"
    corpus.write_text(
        "".join(json.dumps({"id": i, "title": i, "text": t}, ensure_ascii=False) + "\n" for i, t in ARTICLES),
        encoding="utf-8",
    )
    return corpus, {**load_settings(), "data.dir": str(tmp_path / "data")}


def test_stored_and_fresh_similarities_agree(tmp_path: Path) -> None:
    corpus, settings = _corpus_and_settings(tmp_path)

    def similarities() -> tuple[dict[int, float], dict[int, float]]:
        services = Services(settings, open_stores(settings))
        try:
            retriever = services.retriever
            passages = [p for aid, _ in ARTICLES for p in retriever.stores.docs.article_passages(aid)]
            vector = retriever.embed_query("أين يصب نهر النيل؟")
            direct = retriever.stores.embedder.embed_passages([p.text for p in passages]) @ vector
            return retriever.passage_similarities(passages, vector), {
                p.id: float(s) for p, s in zip(passages, direct, strict=True)
            }
        finally:
            services.close()

    index_paths([str(corpus)], settings, embed=False, progress=False)
    fresh, direct = similarities()  # no vectors stored yet: every passage is embedded on the spot
    assert fresh.keys() == direct.keys() and len(fresh) == 2
    assert np.allclose([fresh[k] for k in direct], list(direct.values()), atol=1e-5)

    index_paths([], settings, embed=True, progress=False)
    stored, direct = similarities()  # now read from the vector index
    assert np.allclose([stored[k] for k in direct], list(direct.values()), atol=1e-5)
    nile = next(iter(direct))  # ARTICLES order: the Nile passage first
    assert stored[nile] == max(stored.values())


def test_the_dense_lists_scores_are_reused_and_only_the_others_looked_up(tmp_path: Path) -> None:
    from retrieval.query import ParsedQuery
    from retrieval.search import Filters

    corpus, settings = _corpus_and_settings(tmp_path)
    index_paths([str(corpus)], settings, embed=True, progress=False)
    services = Services(settings, open_stores(settings))
    try:
        retriever = services.retriever
        nile, coffee = (p for aid, _ in ARTICLES for p in retriever.stores.docs.article_passages(aid))
        question = "أين يصب نهر النيل؟"
        found = retriever.retrieve(
            ParsedQuery(words=("نهر", "النيل")), "hybrid", Filters(), embed_text=question, with_facets=False
        )
        assert found.query_vector is not None and nile.id in found.semantic_scores
        looked_up = retriever.passage_similarities([nile, coffee], found.query_vector)
        reused = retriever.passage_similarities([nile, coffee], found.query_vector, found.semantic_scores)
        assert reused.keys() == looked_up.keys() == {nile.id, coffee.id}
        assert np.allclose([reused[k] for k in looked_up], list(looked_up.values()), atol=1e-5)
        # A known score is taken as it is; only the passages without one are looked up.
        partial = retriever.passage_similarities([nile, coffee], found.query_vector, {nile.id: 0.25})
        assert partial[nile.id] == 0.25
        assert abs(partial[coffee.id] - looked_up[coffee.id]) < 1e-5
    finally:
        services.close()
