"""When the engine node goes away the API answers JSON 503 naming it, and serves again by itself once the
node is back: no restart of the app, nothing lost from the index.

This test starts a node of its own (the session's node keeps serving the other tests) and stops it for real.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from es_server import LocalNode, describe

pytestmark = pytest.mark.es

NEWS = [
    {"id": "f24-1", "title": "أسعار النفط", "source": "france24", "published": "2018-02-17T08:00:00Z",
     "text": "ارتفعت أسعار النفط بعد قرار أوبك خفض الإنتاج.\n\nوقال محللون إن الأسواق تترقب القمة المقبلة."},
    {"id": "bbc-2", "title": "قمة الرياض", "source": "bbc", "published": "2018-02-18T10:00:00Z",
     "text": "انعقدت القمة الاقتصادية في الرياض بحضور قادة الخليج.\n\nوناقش القادة أسعار النفط والاستثمار."},
]
SEARCH = "/api/v1/search?q=النفط&mode=keyword"


@pytest.fixture
def own_node(tmp_path: Path) -> Iterator[LocalNode]:
    reason = LocalNode.missing()
    if reason:
        pytest.skip(reason)
    node = LocalNode(tmp_path / "node")
    node.home.mkdir()
    node.start()
    yield node
    node.stop()


def test_a_stopped_node_gives_json_503_and_the_app_recovers_when_it_returns(own_node: LocalNode,
                                                                         tmp_path: Path) -> None:
    from indexer.pipeline import index_paths
    from webapp.app import create_app

    engine = describe(own_node.url)
    settings = engine.settings(**{"data.dir": str(tmp_path / "data"), "search.mode": "keyword",
                                  "elasticsearch.index": f"isnad-test-{uuid.uuid4().hex[:12]}"})
    corpus = tmp_path / "news.jsonl"
    corpus.write_text("\n".join(json.dumps(item, ensure_ascii=False) for item in NEWS), encoding="utf-8")
    assert index_paths([str(corpus)], settings, embed=False, progress=False).indexed == len(NEWS)

    app = create_app({"TESTING": True}, settings=settings)
    try:
        client = app.test_client()
        before = client.get(SEARCH)
        assert before.status_code == 200
        found = [result["article_id"] for result in before.get_json()["results"]]
        assert sorted(found) == ["bbc-2", "f24-1"]

        own_node.stop()
        down = client.get(SEARCH)
        assert down.status_code == 503 and down.is_json
        error = down.get_json()["error"]
        assert own_node.url in error["message"] and "OpenSearch" in error["message"]
        health = client.get("/api/v1/health")
        assert health.status_code == 503

        own_node.start()  # the same data folder and port: the index is still there
        again = client.get(SEARCH)
        assert again.status_code == 200, again.get_json()
        assert [result["article_id"] for result in again.get_json()["results"]] == found
        assert client.get("/api/v1/health").status_code == 200
    finally:
        app.extensions["isnad"].close()
