"""With a search-engine backend the write routes refuse clearly (501 writes_unsupported) and change nothing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from es_server import Engine, drop_indices

from indexer.keys import KeyStore
from indexer.pipeline import index_paths
from webapp.services import services_of

ARTICLE = {"id": "es-1", "title": "أسعار النفط", "text": "ارتفعت أسعار النفط بعد قرار أوبك خفض الإنتاج."}


@pytest.mark.es
def test_writes_are_refused_on_the_engine_backend(engine: Engine, tmp_path: Path) -> None:
    from webapp.app import create_app

    corpus = tmp_path / "one.jsonl"
    corpus.write_text(json.dumps(ARTICLE, ensure_ascii=False) + "\n", encoding="utf-8")
    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    settings = engine.settings(
        **{"data.dir": str(tmp_path / "data"), "search.mode": "keyword", "elasticsearch.index": alias}
    )
    index_paths([str(corpus)], settings, embed=False, progress=False)
    _, key = KeyStore(settings["data.dir"]).create("write")
    app = create_app({"TESTING": True}, settings=settings)
    try:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {key}"}
        for method, path in (
            ("POST", "/api/v1/articles"),
            ("PUT", "/api/v1/articles/es-2"),
            ("DELETE", "/api/v1/articles/es-1"),
        ):
            response = client.open(path, method=method, json={"text": "نص"}, headers=headers)
            assert response.status_code == 501, response.get_json()
            error = response.get_json()["error"]
            assert error["code"] == "writes_unsupported" and "isnad index" in error["message"]
        assert client.get("/api/v1/articles/es-1").status_code == 200
    finally:
        services_of(app).close()
        drop_indices(engine, alias)
