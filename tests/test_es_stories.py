"""Copy groups and stories on the search-engine backend: the same corpus indexed embedded and into a real
node gives the same collapsed results, stories, timeline, related articles and answers' outlets, and a
deleted article leaves its groups on both."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from es_server import Engine, drop_indices

from indexer.settings import load_settings
from tests.seed_dates import REPO, edited_copy, sample
from webapp.services import services_of

pytestmark = pytest.mark.es

SEARCH = "/api/v1/search?q=أمطار النخيل&mode=keyword&size=50"
QUESTION = "كم مليمترا سجلت محطة الرصد في المطار خلال أمطار النخيل؟"


def replies(settings: dict[str, Any]) -> dict[str, Any]:
    from webapp.app import create_app

    app = create_app({"TESTING": True}, settings=settings)
    try:
        client = app.test_client()
        search = client.get(SEARCH).get_json()
        rain = next(
            r
            for r in search["results"]
            if r["story"] and "rain-agency" in {r["article_id"], *(a["article_id"] for a in r["also"])}
        )
        return {
            "search": search,
            "story": client.get(f"/api/v1/stories/{rain['story']['id']}").get_json(),
            "related": client.get("/api/v1/articles/rain-khaleej/related").get_json(),
            "ask": client.post("/api/v1/ask", json={"question": QUESTION}).get_json(),
        }
    finally:
        services_of(app).close()


def shape(search: dict[str, Any]) -> list[tuple]:
    """What collapsing decided, without scores: each result, its story, copy group and listed outlets."""
    return [
        (r["article_id"], r["story"], r["copies"], [a["article_id"] for a in r["also"]], r["collapsed"])
        for r in search["results"]
    ]


def test_engine_groups_equal_embedded_groups(engine: Engine, tmp_path: Path) -> None:
    from indexer.pipeline import delete_articles, index_paths

    copy = tmp_path / "copy.jsonl"
    copy.write_text(
        json.dumps(edited_copy(sample("rain-agency"), "rain-copy-1", "قناة أولى"), ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    paths = [str(REPO / "samples" / "news.jsonl"), str(copy)]
    embedded = load_settings(
        overrides={"store.backend": "embedded", "data.dir": str(tmp_path / "embedded")}, environ={}
    )
    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    remote = engine.settings(**{"data.dir": str(tmp_path / "ledger"), "elasticsearch.index": alias})
    try:
        for settings in (embedded, remote):
            index_paths(paths, settings, progress=False)
        ours, theirs = replies(embedded), replies(remote)
        for settings in (embedded, remote):
            delete_articles(settings, ["rain-copy-1"])
        after_ours, after_theirs = replies(embedded), replies(remote)
    finally:
        drop_indices(engine, alias)
    assert shape(theirs["search"]) == shape(ours["search"])
    assert theirs["search"]["total"] == ours["search"]["total"] < ours["search"]["total_articles"]
    assert theirs["search"]["facets"]["date"] == ours["search"]["facets"]["date"]
    assert theirs["story"] == ours["story"] and ours["story"]["size"] >= 4
    assert [r["article_id"] for r in theirs["related"]["related"]][:3] == [
        r["article_id"] for r in ours["related"]["related"]
    ][:3]
    assert [(c["article_id"], c["also_carried_by"]) for c in theirs["ask"]["citations"]] == [
        (c["article_id"], c["also_carried_by"]) for c in ours["ask"]["citations"]
    ]
    # The copy is gone from its story and copy group on both backends.
    for after in (after_ours, after_theirs):
        assert after["story"]["size"] == ours["story"]["size"] - 1
        assert "rain-copy-1" not in {a["article_id"] for a in after["story"]["articles"]}
    assert shape(after_theirs["search"]) == shape(after_ours["search"])
