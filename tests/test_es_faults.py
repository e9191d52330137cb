"""When the engine node goes away the API answers JSON 503 naming it, and serves again by itself once the
node is back: no restart of the app, nothing lost from the index.

This test starts a node of its own (the session's node keeps serving the other tests) and stops it for real.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from es_server import Engine, LocalNode, describe, drop_indices

from evaluation.distractors import write_corpus_slice
from evaluation.indexing import read_articles
from webapp.services import services_of

pytestmark = pytest.mark.es

NEWS = [
    {
        "id": "f24-1",
        "title": "أسعار النفط",
        "source": "france24",
        "published": "2018-02-17T08:00:00Z",
        "text": "ارتفعت أسعار النفط بعد قرار أوبك خفض الإنتاج.\n\nوقال محللون إن الأسواق تترقب القمة المقبلة.",
    },
    {
        "id": "bbc-2",
        "title": "قمة الرياض",
        "source": "bbc",
        "published": "2018-02-18T10:00:00Z",
        "text": "انعقدت القمة الاقتصادية في الرياض بحضور قادة الخليج.\n\nوناقش القادة أسعار النفط والاستثمار.",
    },
]
SEARCH = "/api/v1/search?q=النفط&mode=keyword"


@pytest.fixture
def engine_alias(engine: Engine) -> Iterator[tuple[Engine, str]]:
    """The session's node and a fresh alias on it, dropped afterwards."""
    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    yield engine, alias
    drop_indices(engine, alias)


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


def test_a_stopped_node_gives_json_503_and_the_app_recovers_when_it_returns(
    own_node: LocalNode, tmp_path: Path
) -> None:
    from indexer.pipeline import index_paths
    from webapp.app import create_app

    engine = describe(own_node.url)
    settings = engine.settings(
        **{
            "data.dir": str(tmp_path / "data"),
            "search.mode": "keyword",
            "elasticsearch.index": f"isnad-test-{uuid.uuid4().hex[:12]}",
        }
    )
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
        services_of(app).close()


KILL_ARTICLES = 3000  # enough that indexing is still writing when the node dies


def _news_corpus(shared: Path, path: Path, count: int) -> Path:
    corpus = shared / "corpus" / "news" / "ant_multisource.jsonl.gz"
    return write_corpus_slice(read_articles(corpus), path, count)


def test_a_node_killed_mid_bulk_then_restarted_ends_with_every_article_once(
    own_node: LocalNode, tmp_path: Path, shared_dir: Path
) -> None:
    import contextlib
    import os
    import subprocess
    import sys
    import time

    from indexer.stores import open_stores
    from indexer.stores.es.engine import EngineApiError
    from indexer.stores.ledger import IndexLedger
    from indexer.stores.sqlite_docstore import SQLiteDocumentStore

    engine = describe(own_node.url)
    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    data = tmp_path / "ledger"
    corpus = _news_corpus(shared_dir, tmp_path / "news.jsonl", KILL_ARTICLES)
    env = {
        **os.environ,
        "ISNAD_STORE": engine.backend,
        "ISNAD_ES_URL": engine.url,
        "ISNAD_ELASTICSEARCH_INDEX": alias,
    }
    command = [
        sys.executable,
        "-m",
        "cli",
        "--data-dir",
        str(data),
        "index",
        "--no-embed",
        "--quiet",
        str(corpus),
    ]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = engine.client()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:  # wait for the first documents
            with contextlib.suppress(EngineApiError):  # 404 until the first index exists
                if client.count(alias, {"match_all": {}}) > 0:
                    break
            time.sleep(0.05)
        assert first.poll() is None, "indexing finished before the node could be killed: raise KILL_ARTICLES"
        own_node.kill()
        _, stderr = first.communicate(timeout=300)
        assert first.returncode != 0
        assert "Traceback" not in stderr and "OpenSearch" in stderr, stderr
        print(f"the interrupted run said: {stderr.strip().splitlines()[-1]}")

        own_node.start()  # the same data folder: what the node had flushed is still there
        rerun = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
    finally:
        client.close()

    docs = SQLiteDocumentStore(data / "documents.sqlite3")
    ledger = IndexLedger(docs)
    try:
        expected_articles, expected_passages = docs.count_articles(), docs.count_passages()
        assert ledger.count_keyword_pending() == 0
    finally:
        ledger.close()
    assert expected_articles > 0.9 * KILL_ARTICLES  # the corpus was indexed, not just a part of it
    stores = open_stores(engine.settings(**{"elasticsearch.index": alias}))
    try:
        assert stores.docs.count_articles() == expected_articles
        assert stores.docs.count_passages() == expected_passages
    finally:
        stores.close()


def test_an_article_the_engine_refuses_is_named_and_the_rest_is_indexed(
    engine_alias: tuple[Any, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A source name longer than Lucene's 32,766-byte term limit makes the engine refuse that article's
    passages: the indexer names the article and the reason, indexes the others, and keeps the refused one
    pending so the next run tries it again."""
    from indexer.pipeline import index_paths
    from indexer.stores import open_stores
    from indexer.stores.ledger import IndexLedger
    from indexer.stores.sqlite_docstore import SQLiteDocumentStore

    engine, alias = engine_alias
    huge = {
        "id": "huge-9",
        "title": "مصدر طويل جدا",
        "source": "م" * 20_000,
        "published": "2018-02-19T08:00:00Z",
        "text": "ارتفعت أسعار النفط مرة أخرى.\n\nوتراجعت الأسهم في الأسواق.",
    }
    corpus = tmp_path / "news.jsonl"
    corpus.write_text(
        "\n".join(json.dumps(item, ensure_ascii=False) for item in [*NEWS, huge]), encoding="utf-8"
    )
    settings = engine.settings(**{"data.dir": str(tmp_path / "ledger"), "elasticsearch.index": alias})
    with caplog.at_level("WARNING"):
        index_paths([str(corpus)], settings, embed=False, progress=False)
    refusals = [r.getMessage() for r in caplog.records if "refused article" in r.getMessage()]
    assert len(refusals) == 1 and "huge-9" in refusals[0] and "HTTP 400" in refusals[0], refusals
    stores = open_stores(settings)
    try:
        assert stores.docs.count_articles() == len(NEWS)
        assert set(stores.docs.get_articles([item["id"] for item in NEWS])) == {item["id"] for item in NEWS}
    finally:
        stores.close()
    ledger = IndexLedger(SQLiteDocumentStore(tmp_path / "ledger" / "documents.sqlite3"))
    try:
        assert ledger.keyword_pending_ids() == ["huge-9"]
    finally:
        ledger.close()
