"""The fusion sweep ranks offline exactly as the search API does: same lists, same fusion, same page order.

`evaluation/scripts/tune_fusion.py` gathers each question's keyword and dense lists once and sweeps
fusion settings without a server; its figures mean something only if, for any setting, its first page
equals the API's (stories not collapsed). Checked over the indexed seed pages (real stores and embedder)
for every fusion method, at a depth small enough that keyword matches beyond it and related articles reach
the first page.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.scripts.fusion_headroom import two_depth_page
from evaluation.scripts.tune_fusion import (
    RESULTS,
    Gathered,
    hybrid_page,
    passage_counts,
    prepare,
    question_lists,
    wide_retriever,
    with_length_weight,
)
from indexer.settings import load_settings
from indexer.stores import open_stores
from indexer.stores.base import ArticleRef
from retrieval.fusion import METHODS, FusionParams
from webapp.app import create_app
from webapp.services import services_of

QUERIES = ("الحكومة", "قال الرئيس في بيان", "أسعار النفط", "مباراة كرة القدم", "زرافات تطير")
DEPTH = 5


@pytest.mark.parametrize("method", METHODS)
def test_offline_first_page_equals_the_apis(indexed_seeds_dir: Path, method: str) -> None:
    settings = load_settings(
        overrides={
            "data.dir": str(indexed_seeds_dir),
            "search.fusion": method,
            "search.candidates": DEPTH,
            "search.keyword_weight": 0.6,
            "search.semantic_weight": 0.4,
            "search.article_length_weight": 0.5,  # long seed pages lose ranks: the offline order must follow
        },
        environ={},
    )
    app = create_app({"TESTING": True}, settings=settings)
    client = app.test_client()
    api_pages = []
    for query in QUERIES:
        reply = client.get(
            "/api/v1/search", query_string={"q": query, "mode": "hybrid", "size": RESULTS, "collapse": "none"}
        )
        assert reply.status_code == 200
        api_pages.append([r["article_id"] for r in reply.get_json()["results"]])
    services_of(app).close()
    assert sum(len(page) for page in api_pages) >= 2 * RESULTS  # the queries find articles

    stores = open_stores(settings)
    articles: dict[int, ArticleRef] = {}
    try:
        retriever = wide_retriever(stores, settings, depth=50)
        gathered = [
            Gathered("seeds", str(n), "", *question_lists(retriever, query, articles), [])
            for n, query in enumerate(QUERIES)
        ]
        counts = passage_counts(stores, articles)
    finally:
        stores.close()
    floor = float(settings["search.semantic_min_score"])
    gathered = with_length_weight(gathered, articles, counts, 0.5)
    prepared = prepare(gathered, articles, floor, (DEPTH,))
    params = FusionParams.from_settings(settings)
    for query, page, item in zip(QUERIES, api_pages, prepared, strict=True):
        assert hybrid_page(item, params, articles, floor) == page, query
        if method == "zscore":
            # fusion_headroom's depth-per-list fusion is the product's when both depths are equal.
            assert two_depth_page(item, DEPTH, DEPTH, 0.6, articles, floor) == page, query
