"""`groups.enabled = false` on real articles: no fingerprints and no ledger, search and the stories route
answer without groups, and turning grouping on again groups what was indexed meanwhile."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from indexer.grouping.store import GROUPS_FILE
from indexer.pipeline import analyze_articles, content_hash, index_paths
from indexer.settings import SettingsError, load_settings
from tests.seed_dates import edited_copy, sample, write_story_corpus
from webapp.services import services_of

RAIN = "/api/v1/search?q=أمطار النخيل&mode=keyword&size=50"


def settings_for(data_dir: Path, enabled: bool) -> dict[str, Any]:
    return load_settings(overrides={"data.dir": str(data_dir), "groups.enabled": enabled}, environ={})


def copy_groups(data_dir: Path) -> dict[str, str]:
    with sqlite3.connect(data_dir / GROUPS_FILE) as db:
        return dict(db.execute("SELECT article_id, copy_group FROM groups"))


def test_the_setting_reads_words_from_the_environment_and_names_itself_when_wrong():
    assert load_settings(environ={"ISNAD_GROUPS_ENABLED": "false"})["groups.enabled"] is False
    assert load_settings(environ={"ISNAD_GROUPS_ENABLED": "yes"})["groups.enabled"] is True
    with pytest.raises(SettingsError, match="groups.enabled must be bool"):
        load_settings(environ={"ISNAD_GROUPS_ENABLED": "maybe"})


def test_workers_skip_the_fingerprint_when_grouping_is_off():
    article = next(iter(_articles([sample("rain-agency")])))
    digest = content_hash(article, 40, 120)
    (on,) = analyze_articles([(article, digest)], 40, 120)
    (off,) = analyze_articles([(article, digest)], 40, 120, fingerprints=False)
    assert on[3] is not None and off[3] is None
    assert on[:3] == off[:3]  # the same passages and analysis either way


def _articles(records: list[dict[str, Any]]) -> list[Any]:
    from indexer.ingest.records import record_article

    return [record_article(r, f"test:{i}") for i, r in enumerate(records)]


@pytest.fixture(scope="module")
def ungrouped(tmp_path_factory: pytest.TempPathFactory, seeds_dir: Path) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("ungrouped")
    paths, _ = write_story_corpus(seeds_dir, root)
    index_paths(paths, settings_for(root / "data", False), embed=False, progress=False)
    return root / "data", paths


def test_an_index_built_with_grouping_off_has_no_ledger_and_searches_without_groups(ungrouped):
    from webapp.app import create_app

    data_dir, _ = ungrouped
    assert not (data_dir / GROUPS_FILE).exists()
    app = create_app({"TESTING": True}, settings=settings_for(data_dir, False))
    try:
        client = app.test_client()
        reply = client.get(RAIN)
        assert reply.status_code == 200
        found = reply.get_json()
        ids = {r["article_id"] for r in found["results"]}
        # Agency copy and the other outlets' reports are results of their own: nothing is collapsed.
        assert {"rain-agency", "rain-copy-1", "rain-khaleej"} <= ids
        assert found["total"] == found["total_articles"]
        assert all(r["story"] is None and r["also"] == [] for r in found["results"])
        missing = client.get("/api/v1/stories/s0123456789ab")
        assert missing.status_code == 404
        assert "groups.enabled" in missing.get_json()["error"]["message"]
    finally:
        services_of(app).close()


def test_grouping_turned_on_again_groups_the_archive_and_off_drops_replaced_texts(ungrouped, tmp_path):
    data_dir, _ = ungrouped
    index_paths([], settings_for(data_dir, True), embed=False, progress=False)  # groups what it lacks
    groups = copy_groups(data_dir)
    assert groups["rain-copy-1"] == groups["rain-agency"] != groups["rain-khaleej"]
    # Off again, a changed text leaves the ledger rather than keep its old group ...
    changed = edited_copy(sample("rain-khaleej"), "rain-copy-1", "قناة أولى")
    path = tmp_path / "changed.jsonl"
    path.write_text(json.dumps(changed, ensure_ascii=False) + "\n", encoding="utf-8")
    report = index_paths([str(path)], settings_for(data_dir, False), embed=False, progress=False)
    assert report.replaced == 1
    assert "rain-copy-1" not in copy_groups(data_dir)
    # ... and on again it is grouped by its new text: now a copy of the other outlet's report.
    index_paths([], settings_for(data_dir, True), embed=False, progress=False)
    groups = copy_groups(data_dir)
    assert groups["rain-copy-1"] == groups["rain-khaleej"] != groups["rain-agency"]
