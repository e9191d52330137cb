"""Grouping and the write API on real articles: an article replaced through PUT /api/v1/articles/<id> loses
its old text's signature and copy group, and the next `isnad index` groups it by its new text; DELETE takes
it out of its groups at once."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from indexer.grouping.fingerprint import jaccard
from indexer.keys import KeyStore
from indexer.pipeline import index_paths
from indexer.settings import load_settings
from tests.seed_dates import edited_copy, sample
from webapp.services import services_of


def groups(data_dir: Path) -> dict[str, tuple[str, bytes]]:
    """Each grouped article's (copy group, signature), as the ledger holds them."""
    with sqlite3.connect(data_dir / "groups.sqlite") as db:
        rows = db.execute("SELECT article_id, copy_group, signature FROM groups").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def wait_embedded(client: Any, timeout: float = 300.0) -> None:
    """Until the server's background embedder is idle (it must not be cut off mid-batch at the end)."""
    deadline = time.monotonic() + timeout
    while (embedding := client.get("/api/v1/stats").get_json()["writes"]["embedding"])["pending"] or (
        embedding["state"] != "idle"
    ):
        assert embedding["state"] != "failed" and time.monotonic() < deadline, embedding
        time.sleep(0.2)


def test_an_article_replaced_or_deleted_through_the_api_leaves_its_old_groups(tmp_path: Path) -> None:
    from webapp.app import create_app

    corpus = tmp_path / "rain.jsonl"
    records = [sample(a) for a in ("rain-agency", "rain-khaleej", "rain-nahar")]
    records.append(edited_copy(sample("rain-agency"), "rain-copy", "قناة أولى"))
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    data_dir = tmp_path / "data"
    settings = load_settings(overrides={"data.dir": str(data_dir)}, environ={})
    index_paths([str(corpus)], settings, progress=False)
    before = groups(data_dir)
    agency_group = before["rain-agency"][0]
    assert before["rain-copy"][0] == agency_group != before["rain-khaleej"][0]

    store = KeyStore(data_dir)
    _, secret = store.create("write", "cms")
    store.close()
    app = create_app({"data.dir": str(data_dir), "TESTING": True})
    try:
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
        # The copy's id now carries another outlet's report of the storm: no longer the agency's copy.
        khaleej = sample("rain-khaleej")
        rewritten = {**khaleej, "id": "rain-copy", "source": "قناة أولى"}
        replaced = client.put("/api/v1/articles/rain-copy", json=rewritten)
        assert replaced.status_code == 200 and replaced.get_json()["result"] == "updated", replaced.get_json()
        after_put = groups(data_dir)
        assert "rain-copy" not in after_put  # its old signature and copy group went with its old text
        assert after_put["rain-agency"] == before["rain-agency"]
        # Sent again unchanged: nothing to forget.
        unchanged = client.put("/api/v1/articles/rain-agency", json=sample("rain-agency"))
        assert unchanged.get_json()["result"] == "unchanged"
        assert groups(data_dir)["rain-agency"] == before["rain-agency"]

        deleted = client.delete("/api/v1/articles/rain-nahar")
        assert deleted.status_code == 200, deleted.get_json()
        assert "rain-nahar" not in groups(data_dir)
        wait_embedded(client)
    finally:
        services_of(app).close()

    # The next run groups the replaced article by its new text: with the report it now repeats.
    report = index_paths([], settings, embed=False, progress=False)
    regrouped = groups(data_dir)
    assert report.indexed == 0
    assert "rain-nahar" not in regrouped
    assert regrouped["rain-copy"][0] == regrouped["rain-khaleej"][0] != agency_group
    assert jaccard(regrouped["rain-copy"][1], regrouped["rain-khaleej"][1]) == 1.0
    assert jaccard(regrouped["rain-copy"][1], before["rain-copy"][1]) < 0.5
