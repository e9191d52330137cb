"""The JSON API over each store backend: the same corpus indexed through the pipeline, the same requests,
the same responses: the embedded backend, and a real engine node (ISNAD_ES_URL's, else the session's
OpenSearch node).

Keyword mode is used so no embedding model is needed: this is about what the store backend changes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from es_server import Engine, drop_indices

from indexer.settings import load_settings
from webapp.services import services_of

NEWS = [
    {
        "id": "bbc-1",
        "title": "قمة الرياض الاقتصادية",
        "source": "bbc",
        "published": "2018-02-18T10:00:00Z",
        "text": "انعقدت القمة الاقتصادية في الرياض بحضور قادة الخليج.\n\nوناقش القادة أسعار النفط والاستثمار.",
    },
    {
        "id": "cnn-2",
        "title": "مباراة الهلال والنصر",
        "source": "cnn",
        "published": "2018-02-19T20:00:00Z",
        "text": "فاز الهلال على النصر في مباراة مثيرة في الرياض.\n\nوسجل المهاجم هدفين في الشوط الثاني.",
    },
    {
        "id": "f24-3",
        "title": "أسعار النفط",
        "source": "france24",
        "published": "2018-02-17T08:00:00Z",
        "text": "ارتفعت أسعار النفط بعد قرار أوبك خفض الإنتاج.\n\nوقال محللون إن الأسواق تترقب القمة المقبلة.",
    },
]

QUERIES = [
    "/api/v1/search?q=النفط&mode=keyword",
    "/api/v1/search?q=الرياض&mode=keyword&source=cnn",
    "/api/v1/search?q=الرياض -الهلال&mode=keyword",
    '/api/v1/search?q="أسعار النفط"&mode=keyword',
    "/api/v1/search?q=القمة الرياض النفط&mode=keyword&sort=date",
    "/api/v1/search?q=الرياض&mode=keyword&from=2018-02-18&to=2018-02-18",
]


def index_news(tmp_path: Path, engine: Engine | None) -> dict[str, Any]:
    """The corpus indexed into the embedded backend (engine None) or into the engine, under a fresh alias."""
    from indexer.pipeline import index_paths

    corpus = tmp_path / "news.jsonl"
    corpus.write_text("\n".join(json.dumps(item, ensure_ascii=False) for item in NEWS), encoding="utf-8")
    backend = engine.backend if engine else "embedded"
    overrides: dict[str, Any] = {"data.dir": str(tmp_path / f"data-{backend}"), "search.mode": "keyword"}
    if engine is None:
        settings = load_settings(overrides={"store.backend": "embedded", **overrides}, environ={})
    else:
        settings = engine.settings(
            **overrides, **{"elasticsearch.index": f"isnad-test-{uuid.uuid4().hex[:12]}"}
        )
    report = index_paths([str(corpus)], settings, embed=False, progress=False)
    assert report.indexed == len(NEWS)
    return settings


def responses(settings: dict[str, Any]) -> dict[str, Any]:
    from webapp.app import create_app

    app = create_app({"TESTING": True}, settings=settings)
    try:
        client = app.test_client()
        answers = {}
        for url in QUERIES:
            reply = client.get(url)
            assert reply.status_code == 200, (url, reply.get_json())
            answers[url] = reply.get_json()
        answers["article"] = client.get("/api/v1/articles/bbc-1").get_json()
        return answers
    finally:
        services_of(app).close()


@pytest.fixture(params=["embedded", pytest.param("engine", marks=[pytest.mark.es])])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    engine: Engine | None = request.getfixturevalue("engine") if request.param == "engine" else None
    settings = index_news(tmp_path, engine)
    try:
        yield responses(settings)
    finally:
        if engine is not None:
            drop_indices(engine, settings["elasticsearch.index"])


def article_ids(answer: dict[str, Any]) -> list[str]:
    return [result["article_id"] for result in answer["results"]]


def test_keyword_search_through_the_api(served: dict[str, Any]) -> None:
    """What the API answers for keyword queries over the small corpus, whatever the backend."""
    assert set(article_ids(served[QUERIES[0]])) == {"bbc-1", "f24-3"}
    assert article_ids(served[QUERIES[1]]) == ["cnn-2"]
    assert set(article_ids(served[QUERIES[2]])) == {"bbc-1"}
    assert set(article_ids(served[QUERIES[3]])) == {"bbc-1", "f24-3"}
    assert article_ids(served[QUERIES[4]]) == ["cnn-2", "bbc-1", "f24-3"]
    assert article_ids(served[QUERIES[5]]) == ["bbc-1"]
    assert served[QUERIES[0]]["total"] == 2
    assert "<mark>النفط</mark>" in served[QUERIES[0]]["results"][0]["snippet"]
    assert served["article"]["title"] == "قمة الرياض الاقتصادية"
    assert served["article"]["passages"][0]["text"].startswith("انعقدت القمة")


@pytest.mark.es
def test_engine_answers_equal_embedded_answers(engine: Engine, tmp_path: Path) -> None:
    """The same requests give the same JSON (scores to within rounding) on both backends."""
    embedded = responses(index_news(tmp_path, None))
    settings = index_news(tmp_path, engine)
    try:
        remote = responses(settings)
    finally:
        drop_indices(engine, settings["elasticsearch.index"])
    for key, answer in embedded.items():
        assert _without_scores(remote[key]) == _without_scores(answer), key


def _without_scores(value: Any) -> Any:
    """The response with numbers named like scores rounded, so BM25 rounding differences do not count."""
    if isinstance(value, dict):
        return {
            k: round(v, 2) if "score" in k and isinstance(v, float) else _without_scores(v)
            for k, v in value.items()
            if k not in ("took_ms", "elapsed_ms")
        }
    if isinstance(value, list):
        return [_without_scores(v) for v in value]
    return value
