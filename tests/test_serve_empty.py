"""`isnad serve` on a folder without an index starts an empty one, so a newsroom can start with the write API;
it says so on its log, and still refuses an index made with another analyzer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from served_json import request

from evaluation.server import ServedIndex
from indexer.keys import KeyStore
from indexer.pipeline import index_paths
from indexer.settings import load_settings


def test_serve_on_an_empty_folder_starts_an_empty_index_that_takes_writes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = KeyStore(data)
    _, key = store.create("write", "cms")
    store.close()
    log = tmp_path / "serve.log"
    with ServedIndex(data, log_path=log) as server:
        status, stats = request(server, "GET", "/api/v1/stats")
        assert status == 200 and stats["counts"]["articles"] == 0
        article = {"id": "n-1", "title": "افتتاح الجسر", "text": "افتتحت البلدية الجسر الجديد فوق النهر."}
        status, body = request(server, "POST", "/api/v1/articles", article, key)
        assert status == 200 and body["items"][0]["status"] == 201, body
        query = urlencode({"q": "الجسر", "mode": "keyword"})
        status, found = request(server, "GET", f"/api/v1/search?{query}")
        assert [result["article_id"] for result in found["results"]] == ["n-1"]
    said = log.read_text(encoding="utf-8")
    assert f"isnad serve: no index in {data}: started an empty one there" in said
    assert "Traceback" not in said


@pytest.mark.parametrize("workers", ["1", "3"])
def test_serve_still_refuses_an_index_of_another_analyzer(tmp_path: Path, workers: str) -> None:
    """With several workers too, said once: they start one after another and the first is refused."""
    data = tmp_path / "data"
    corpus = tmp_path / "one.jsonl"
    corpus.write_text(json.dumps({"id": "a", "title": "خبر", "text": "نص الخبر."}, ensure_ascii=False) + "\n")
    index_paths(
        [str(corpus)],
        load_settings(overrides={"data.dir": str(data)}, environ={}),
        embed=False,
        progress=False,
    )
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    (data / "manifest.json").write_text(
        json.dumps({**manifest, "analyzer_version": "0-other"}), encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "cli", "--data-dir", str(data), "serve", "--port", "1", "--workers", workers],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("isnad serve: ") and "analyzer" in result.stderr
    assert result.stderr.count("isnad serve: ") == 1, result.stderr
    assert "Traceback" not in result.stderr
