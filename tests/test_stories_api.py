"""Stories through the JSON API on real articles: collapsed search results with their story and outlets,
GET /api/v1/stories/<id>, the matches' timeline (facets.date) and its periods as filters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from indexer.settings import load_settings
from webapp.services import services_of

RAIN = "/api/v1/search?q=أمطار النخيل&mode=keyword&size=50"


def rain_result(search: dict[str, Any]) -> dict[str, Any]:
    """The result standing for the storm's story (whichever of its articles ranks first)."""
    return next(
        r
        for r in search["results"]
        if "rain-agency" in {r["article_id"], *(a["article_id"] for a in r["also"])}
    )


@pytest.fixture(scope="module")
def client(indexed_stories_dir: Path) -> Iterator[Any]:
    from webapp.app import create_app

    app = create_app(
        {"TESTING": True},
        settings=load_settings(overrides={"data.dir": str(indexed_stories_dir)}, environ={}),
    )
    yield app.test_client()
    services_of(app).close()


def get(client: Any, url: str, status: int = 200) -> dict[str, Any]:
    reply = client.get(url)
    assert reply.status_code == status, (url, reply.get_json())
    return reply.get_json()


def test_a_story_is_one_result_naming_its_other_outlets(client):
    collapsed = get(client, RAIN)
    flat = get(client, RAIN + "&collapse=none")
    assert collapsed["counts"] == {"total": "stories", "facets": "articles"}
    assert flat["total"] == flat["total_articles"] == collapsed["total_articles"]
    assert collapsed["total"] < flat["total"]
    rain = rain_result(collapsed)
    story = rain["story"]
    assert story["size"] >= 4 and len(story["sources"]) >= 3
    # Every other article of the story is listed once, with its outlet, and the agency copy says so.
    listed = {a["article_id"]: a for a in rain["also"]}
    assert rain["article_id"] not in listed and len(listed) == story["size"] - 1
    assert {"rain-agency", "rain-khaleej", "rain-nahar", "rain-copy-1"} - {rain["article_id"]} <= set(listed)
    assert set(rain["collapsed"]) <= set(listed)
    copies = [a for a in ("rain-agency", "rain-copy-1") if a in listed]
    assert copies and all(listed[a]["copy"] for a in copies)
    assert (
        len(
            {listed[a]["copy_group"] for a in copies}
            | ({rain["copies"]["id"]} if len(copies) == 1 else set())
        )
        == 1
    )
    assert not listed.get("rain-khaleej", {"copy": False})["copy"]
    # Collapsed away, the story's articles are not results of their own.
    flat_ids = {r["article_id"] for r in flat["results"]}
    assert {r["article_id"] for r in collapsed["results"]} < flat_ids


def test_story_endpoint_lists_its_articles_by_date(client):
    rain = rain_result(get(client, RAIN))
    story = get(client, f"/api/v1/stories/{rain['story']['id']}")
    assert story["id"] == rain["story"]["id"] and story["size"] == rain["story"]["size"]
    dates = [a["published"] for a in story["articles"]]
    assert dates == sorted(dates) and story["first_published"] == dates[0]
    assert {a["article_id"] for a in story["articles"]} == {
        rain["article_id"],
        *(a["article_id"] for a in rain["also"]),
    }
    missing = get(client, "/api/v1/stories/s000000000000", 404)
    assert missing["error"]["code"] == "story_not_found"
    assert get(client, f"/api/v1/stories/{story['id']}?x=1", 400)["error"]["code"] == "unknown_parameter"


def test_timeline_counts_the_matching_articles_and_each_period_filters(client):
    result = get(client, "/api/v1/search?q=النخيل&mode=keyword&collapse=none")
    timeline = result["facets"]["date"]
    counted = sum(b["count"] for b in timeline["buckets"])
    assert counted + timeline["undated"] == result["total_articles"]
    assert timeline["interval"] in ("day", "week", "month")
    busiest = max(timeline["buckets"], key=lambda b: b["count"])
    period = get(
        client,
        f"/api/v1/search?q=النخيل&mode=keyword&collapse=none&from={busiest['from']}&to={busiest['to']}",
    )
    assert period["total_articles"] == busiest["count"]


def test_bad_collapse_is_a_clear_error(client):
    error = get(client, RAIN + "&collapse=outlet", 400)["error"]
    assert error["code"] == "bad_collapse" and "story" in error["message"]


def test_related_articles_leave_out_the_copy_group_and_say_why(client):
    related = get(client, "/api/v1/articles/rain-agency/related")["related"]
    ids = [r["article_id"] for r in related]
    assert "rain-copy-1" not in ids and "rain-agency" not in ids  # its own copy group is not "related"
    assert {"rain-khaleej", "rain-nahar"} <= set(ids)
    story = {r["article_id"]: r for r in related}
    assert story["rain-khaleej"]["same_story"] and story["rain-khaleej"]["why"][0] == "story"
    assert story["rain-khaleej"]["days_apart"] == 0
    assert [r["score"] for r in related] == sorted((r["score"] for r in related), reverse=True)
    assert all(r["score"] <= r["similarity"] for r in related)
    assert get(client, "/api/v1/articles/no-such/related", 404)["error"]["code"] == "article_not_found"


def test_an_answer_cites_one_article_per_copy_group_and_names_the_other_outlet(client):
    reply = client.post(
        "/api/v1/ask", json={"question": "كم مليمترا سجلت محطة الرصد في المطار خلال أمطار النخيل؟"}
    )
    answer = reply.get_json()
    assert answer["answered"], answer
    cited = [c["article_id"] for c in answer["citations"]]
    assert len({"rain-agency", "rain-copy-1"} & set(cited)) == 1
    copy = next(c for c in answer["citations"] if c["article_id"] in ("rain-agency", "rain-copy-1"))
    other = ({"rain-agency", "rain-copy-1"} - {copy["article_id"]}).pop()
    assert [o["article_id"] for o in copy["also_carried_by"]] == [other]
    assert copy["also_carried_by"][0]["source"] in ("وكالة الأنباء", "قناة أولى")
