"""POST / PUT / DELETE /api/v1/articles on the real stores: per-item results, the indexer's own cleaning and
splitting, keyword search before the answer, semantic search once the background worker has embedded, and
turns with `isnad index` over the data directory's write lock."""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from indexer.keys import KeyStore
from indexer.pipeline import index_paths
from indexer.settings import load_settings
from webapp.services import services_of

SEED = {
    "id": "seed-1",
    "title": "افتتاح معرض الكتاب في مدينة النخيل",
    "source": "وكالة الأنباء",
    "published": "2024-02-04",
    "text": "افتتح وزير الثقافة صباح اليوم معرض الكتاب السنوي في مدينة النخيل بمشاركة ثلاثمئة دار نشر.",
}
TRAIN = {
    "id": "train-1",
    "title": "افتتاح محطة قطار جديدة في مدينة الزيتون",
    "source": "وكالة الاختبار",
    "published": "2024-05-01",
    "text": "افتتحت وزارة النقل صباح اليوم محطة قطار جديدة في مدينة الزيتون تربط الأحياء الشرقية بوسط "
    "المدينة.\n\nوقال الوزير إن المحطة ستخدم عشرين ألف راكب يوميا وإن خطا ثانيا سيفتتح العام المقبل.",
}
RAIN = {
    "id": "rain-1",
    "title": "أمطار غزيرة في الجبال",
    "source": "وكالة الاختبار",
    "text": "هطلت أمطار غزيرة على قرى الجبال الغربية ليلة أمس وأغلقت السيول طريقين رئيسيين.",
}


def _settings(data_dir: Path, **extra: Any) -> dict[str, Any]:
    return load_settings(overrides={"data.dir": str(data_dir), **extra}, environ={})


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    corpus = tmp_path / "seed.jsonl"
    corpus.write_text(json.dumps(SEED, ensure_ascii=False) + "\n", encoding="utf-8")
    data = tmp_path / "data"
    index_paths([str(corpus)], _settings(data), embed=False, progress=False)  # the server's worker embeds it
    return data


def _app(data_dir: Path, **config: Any) -> Flask:
    from webapp.app import create_app

    return create_app({"data.dir": str(data_dir), "TESTING": True, **config})


@pytest.fixture()
def app(data_dir: Path) -> Iterator[Flask]:
    app = _app(data_dir, **{"writes.lock_wait_seconds": 1.0})
    yield app
    services_of(app).close()


@pytest.fixture()
def write_key(data_dir: Path) -> str:
    store = KeyStore(data_dir)
    _, secret = store.create("write", "cms")
    store.close()
    return secret


@pytest.fixture()
def client(app: Flask, write_key: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {write_key}"
    return client


def _ids(client: FlaskClient, query: str, mode: str = "keyword") -> list[str]:
    response = client.get("/api/v1/search", query_string={"q": query, "mode": mode})
    assert response.status_code == 200, response.get_json()
    return [result["article_id"] for result in response.get_json()["results"]]


def _wait_embedded(client: FlaskClient, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stats = client.get("/api/v1/stats").get_json()
        embedding = stats["writes"]["embedding"]
        if embedding["pending"] == 0 and embedding["state"] == "idle":
            return stats
        assert embedding["state"] != "failed", embedding
        assert time.monotonic() < deadline, f"passages still without vectors: {embedding}"
        time.sleep(0.2)


def test_a_batch_answers_per_item_and_stores_the_good_ones(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/articles",
        json=[
            TRAIN,
            {"title": "بلا نص"},
            {**RAIN, "date": "أمس"},
            7,
            {**RAIN, "colour": "red"},
            RAIN,
            {**TRAIN, "title": "نسخة"},
        ],
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["errors"] is True
    got = [
        (item["position"], item["id"], item["status"], item.get("result") or item["error"]["code"])
        for item in body["items"]
    ]
    assert got == [
        (0, "train-1", 201, "created"),
        (1, None, 400, "empty_article"),
        (2, "rain-1", 400, "bad_date"),
        (3, None, 400, "bad_item"),
        (4, "rain-1", 400, "unknown_field"),
        (5, "rain-1", 201, "created"),
        (6, "train-1", 400, "duplicate_id"),
    ]
    assert "'date'" in body["items"][2]["error"]["message"]
    assert "'colour'" in body["items"][4]["error"]["message"]
    # Searchable by keyword as soon as the answer is back; the seed article is still there.
    assert _ids(client, "الزيتون") == ["train-1"]
    assert _ids(client, "السيول") == ["rain-1"]
    assert _ids(client, "معرض الكتاب") == ["seed-1"]
    again = client.post("/api/v1/articles", json=TRAIN).get_json()
    assert again["items"] == [{"position": 0, "id": "train-1", "status": 200, "result": "unchanged"}]


def test_ndjson_bad_lines_are_reported_by_position(client: FlaskClient) -> None:
    lines = [json.dumps(TRAIN, ensure_ascii=False), "{not json", "", json.dumps(RAIN, ensure_ascii=False)]
    response = client.post(
        "/api/v1/articles", data="\n".join(lines).encode(), content_type="application/x-ndjson"
    )
    items = response.get_json()["items"]
    assert [(i["position"], i["status"]) for i in items] == [(0, 201), (1, 400), (2, 201)]
    assert items[1]["error"]["code"] == "malformed_json" and "line 2" in items[1]["error"]["message"]
    assert _ids(client, "السيول") == ["rain-1"]


def test_stored_like_isnad_index_stores_the_same_record(client: FlaskClient, tmp_path: Path) -> None:
    record = {
        "title": "  عنوان\nفي سطرين &quot;مقتبس&quot; ",
        "content": ["فقرة أولى عن الاقتصاد والنفط &amp; الغاز.", "فقرة ثانية   عن الأسواق."],
        "url": "https://example.org/oil",
        "src": "مصدر",
        "time": "2018-03-15 10:00",
    }
    posted = client.post("/api/v1/articles", json=record).get_json()["items"][0]
    other = tmp_path / "other"
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    index_paths([str(source)], _settings(other), embed=False, progress=False)
    from indexer.stores import open_stores

    stores = open_stores(_settings(other))
    try:
        (indexed_id,) = stores.docs.article_ids()
        expected = stores.docs.get_articles([indexed_id])[indexed_id]
        expected_passages = [(p.id, p.text) for p in stores.docs.article_passages(indexed_id)]
    finally:
        stores.close()
    assert posted["id"] == indexed_id  # the id `isnad index` derives from the URL
    article = client.get(f"/api/v1/articles/{indexed_id}").get_json()
    assert (article["title"], article["text"], article["source"], article["published"]) == (
        expected.title,
        expected.text,
        expected.source,
        expected.published,
    )
    assert [(p["id"], p["text"]) for p in article["passages"]] == expected_passages


def test_semantic_search_finds_it_once_the_worker_has_embedded(client: FlaskClient) -> None:
    client.post("/api/v1/articles", json=TRAIN)
    stats = _wait_embedded(client)
    assert stats["counts"]["pending_vectors"] == 0
    passages = client.get("/api/v1/articles/train-1").get_json()["passages"]
    assert stats["writes"]["embedding"]["embedded"] >= len(passages) >= 1
    assert "train-1" in _ids(client, "افتتاح محطة القطار في الزيتون", mode="semantic")


def test_put_replaces_and_delete_removes(client: FlaskClient) -> None:
    created = client.put("/api/v1/articles/train-1", json=TRAIN)
    assert created.status_code == 201 and created.get_json()["result"] == "created"
    changed = {**TRAIN, "text": "أعلنت البلدية إغلاق حديقة الزيتون الكبرى للصيانة طوال الشهر المقبل."}
    replaced = client.put("/api/v1/articles/train-1", json=changed)
    assert (replaced.status_code, replaced.get_json()["result"]) == (200, "updated")
    assert _ids(client, "راكب") == []  # a word of the old text only
    assert _ids(client, "حديقة") == ["train-1"]
    mismatch = client.put("/api/v1/articles/train-1", json={**TRAIN, "id": "other"})
    assert mismatch.status_code == 400 and mismatch.get_json()["error"]["code"] == "id_mismatch"
    assert client.delete("/api/v1/articles/train-1").get_json() == {
        "id": "train-1",
        "status": 200,
        "result": "deleted",
    }
    assert _ids(client, "حديقة") == []
    assert client.get("/api/v1/articles/train-1").status_code == 404
    gone = client.delete("/api/v1/articles/train-1")
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "article_not_found"
    assert _ids(client, "معرض الكتاب") == ["seed-1"]


def test_body_limits_and_content_types(client: FlaskClient) -> None:
    # Larger than the 1 MB query-side limit: accepted on the write route.
    big = {**TRAIN, "text": TRAIN["text"] + "\n\n" + " ".join(["كلمة"] * 130_000)}
    assert len(json.dumps(big, ensure_ascii=False).encode()) > 1024 * 1024
    assert client.post("/api/v1/articles", json=big).get_json()["items"][0]["status"] == 201
    assert client.post("/api/v1/ask", json={"question": "س" * (1024 * 1024)}).status_code == 413
    client.application.config["ISNAD_SETTINGS"]["writes.max_body_bytes"] = 1000
    too_big = client.post("/api/v1/articles", json=big)
    assert too_big.status_code == 413
    assert too_big.get_json()["error"]["code"] == "request_too_large"
    assert "writes.max_body_bytes" in too_big.get_json()["error"]["message"]
    wrong = client.post("/api/v1/articles", data="title=x", content_type="application/x-www-form-urlencoded")
    assert wrong.status_code == 415 and wrong.get_json()["error"]["code"] == "unsupported_media_type"
    assert client.post("/api/v1/articles", json=[]).get_json()["error"]["code"] == "empty_batch"


def test_a_write_waits_for_isnad_index_then_answers_503(client: FlaskClient, data_dir: Path) -> None:
    with open(data_dir / "index.lock", "a+") as handle:  # what `isnad index` holds while it runs
        fcntl.flock(handle, fcntl.LOCK_EX)
        busy = client.post("/api/v1/articles", json=TRAIN)
        fcntl.flock(handle, fcntl.LOCK_UN)
    assert busy.status_code == 503
    assert busy.get_json()["error"]["code"] == "store_busy"
    assert int(busy.headers["Retry-After"]) > 0
    assert client.get("/api/v1/articles/train-1").status_code == 404  # nothing half-written
    assert client.post("/api/v1/articles", json=TRAIN).get_json()["items"][0]["status"] == 201


def test_isnad_index_and_the_api_take_turns(client: FlaskClient, data_dir: Path, tmp_path: Path) -> None:
    client.post("/api/v1/articles", json=TRAIN)
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps(RAIN, ensure_ascii=False) + "\n", encoding="utf-8")
    report = index_paths(
        [str(more)], _settings(data_dir), progress=False
    )  # as `isnad index` beside the server
    assert report.indexed == 1 and report.unchanged == 0
    client.post(
        "/api/v1/articles", json={**SEED, "id": "seed-2", "text": SEED["text"] + " وحضر الافتتاح سفراء."}
    )
    for query, expected in (("الزيتون", ["train-1"]), ("السيول", ["rain-1"]), ("سفراء", ["seed-2"])):
        assert _ids(client, query) == expected
    report = index_paths([], _settings(data_dir), progress=False)  # finishes what the server left: nothing
    assert report.keyword_caught_up == 0
    stats = client.get("/api/v1/stats").get_json()["counts"]
    assert stats["articles"] == 4 and stats["keyword"] == stats["passages"]


def test_concurrent_writes_of_one_article_are_applied_in_turn(client: FlaskClient) -> None:
    import threading

    # Eight commits in a row: more than the fixture's one-second wait for the lock (that is the 503 test's).
    client.application.config["ISNAD_SETTINGS"]["writes.lock_wait_seconds"] = 120.0
    versions = [
        {**TRAIN, "text": f"نص الخبر في نسخته رقم {n} عن محطة القطار الجديدة نسخة{n}"} for n in range(8)
    ]
    results: list[tuple[int, str]] = []
    barrier = threading.Barrier(len(versions))

    def put(version: dict[str, Any]) -> None:
        local = client.application.test_client()
        local.environ_base.update(client.environ_base)
        barrier.wait()
        response = local.put("/api/v1/articles/train-1", json=version)
        results.append((response.status_code, response.get_json().get("result")))

    threads = [threading.Thread(target=put, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(results) == [(200, "updated")] * 7 + [(201, "created")]
    stored = client.get("/api/v1/articles/train-1").get_json()["text"]
    assert stored in [v["text"] for v in versions]
    found = [n for n in range(8) if _ids(client, f"نسخة{n}") == ["train-1"]]
    assert len(found) == 1 and f"نسخة{found[0]}" in stored  # the keyword index holds the stored version only
    counts = client.get("/api/v1/stats").get_json()["counts"]
    assert counts["keyword"] == counts["passages"]


def test_replacements_batch_after_batch_keep_one_keyword_document_per_passage(client: FlaskClient) -> None:
    # A writer per batch, and a merge every few commits: the load test once counted a replaced article's
    # old passage beside its new one (a title-only PUT keeps the passage ids). Checked after every batch.
    def article(n: int, title: str) -> dict[str, Any]:
        return {**RAIN, "id": f"r-{n}", "title": title, "text": f"{RAIN['text']} رقم{n}"}

    for batch in range(12):
        ids = range(3 * batch, 3 * batch + 3)
        body = client.post("/api/v1/articles", json=[article(n, "أمطار") for n in ids]).get_json()
        assert [item["status"] for item in body["items"]] == [201] * 3
        earlier = 3 * (batch // 2)
        replaced = client.put(f"/api/v1/articles/r-{earlier}", json=article(earlier, f"عنوان {batch}"))
        assert replaced.status_code == 200, replaced.get_json()
        counts = client.get("/api/v1/stats").get_json()["counts"]
        assert counts["keyword"] == counts["passages"] == counts["articles"], (batch, counts)
    gone = client.delete("/api/v1/articles/r-0")
    assert gone.status_code == 200
    again = client.put("/api/v1/articles/r-0", json=article(0, "من جديد"))
    assert again.status_code == 201 and again.get_json()["result"] == "created"
    counts = client.get("/api/v1/stats").get_json()["counts"]
    assert counts["keyword"] == counts["passages"] == counts["articles"] == 37
    assert _ids(client, "رقم0") == ["r-0"]


def test_readers_copy_the_vectors_only_when_vectors_changed(client: FlaskClient) -> None:
    import numpy as np

    from webapp.write_api import writes

    extension = writes(client.application)
    extension.get()  # the writer and its background worker, which embeds the seed
    _wait_embedded(client)
    extension.embedder.stop()  # vectors are stored by hand below, at known moments
    writer, stores = extension.writer, services_of(client.application).stores
    held = stores.vectors._index  # the FAISS index readers search; a refresh that syncs swaps in a copy
    client.post("/api/v1/articles", json=TRAIN)
    assert _ids(client, "الزيتون") == ["train-1"]  # the keyword index is refreshed
    assert stores.vectors._index is held and stores.vectors.count() == 1  # no copy of the vectors
    pending = writer.ledger.passages_to_embed(100)
    vectors = np.asarray(stores.embedder.embed_passages([text for _, text in pending]), dtype=np.float32)
    writer.put_embeddings([pid for pid, _ in pending], vectors, 5.0)
    writer.publish(locked=False)
    assert stores.vectors._index is not held and stores.vectors.count() == 1 + len(pending)
    assert "train-1" in _ids(client, "افتتاح محطة القطار في الزيتون", mode="semantic")
    held = stores.vectors._index
    assert client.delete("/api/v1/articles/train-1").status_code == 200
    assert stores.vectors._index is not held and stores.vectors.count() == 1


def test_an_idle_worker_looks_for_passages_again_only_after_a_commit(client: FlaskClient) -> None:
    from webapp.write_api import writes

    extension = writes(client.application)
    extension.get()
    _wait_embedded(client)
    worker, writer = extension.embedder, extension.writer
    worker.stop()  # looks are made by hand below: the thread has ended, and its stop flag is lowered again
    worker._stop.clear()
    worker._idle_stamp = None  # and what its own last look found is forgotten
    looked: list[int | None] = []
    read = writer.ledger.passages_to_embed
    writer.ledger.passages_to_embed = lambda limit, after=None: looked.append(after) or read(limit, after)
    worker._embed_backlog()
    assert looked == [None]  # the first look by hand finds nothing to embed
    worker._embed_backlog()
    worker._embed_backlog()
    assert looked == [None]  # no commit since a look that found nothing: not repeated
    client.post("/api/v1/articles", json=TRAIN)  # a commit: there is something to embed again
    worker._embed_backlog()
    assert looked[:2] == [None, None]
    assert not read(100) and worker.progress.state == "idle"
    assert "train-1" in _ids(client, "افتتاح محطة القطار في الزيتون", mode="semantic")
