"""The write API under load and under kill -9, against the real `isnad serve` process: 8 writers and 8 readers
for a bounded time lose no acknowledged article and get no 5xx; killing the server in the middle of a batch
loses none of the articles it had acknowledged, and the restarted server finishes what was cut short."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evaluation.server import ServedIndex
from indexer.keys import KeyStore
from indexer.pipeline import index_paths
from indexer.settings import load_settings

LOAD_SECONDS = 30.0  # bounded: 8 writers and 8 readers, thousands of interleaved requests on two cores
WRITERS = READERS = 8
SEED = {
    "id": "seed-1",
    "title": "افتتاح معرض الكتاب",
    "text": "افتتح وزير الثقافة معرض الكتاب السنوي في المدينة.",
}


def _token(article_id: str) -> str:
    # One word no other article has (the standard tokenizer keeps letters and digits together).
    return "tok" + article_id.replace("-", "x")


def _article(article_id: str) -> dict[str, Any]:
    return {
        "id": article_id,
        "title": f"خبر رقم {article_id}",
        "source": "وكالة الاختبار",
        "text": f"أعلنت البلدية اليوم عن مشروع جديد لتحسين الطرق في الأحياء القديمة {_token(article_id)}. "
        "وقال المسؤولون إن الأعمال ستبدأ الشهر المقبل وتستمر عاما كاملا.",
    }


class Client:
    """One keep-alive connection, as a CMS or a reader would hold."""

    def __init__(self, server: ServedIndex, key: str | None = None):
        self.server = server
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.connection = http.client.HTTPConnection(server.host, server.port, timeout=60)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.connection.request(method, path, body=data, headers=headers)
            response = self.connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            raise
        return response.status, json.loads(raw) if raw else None

    def close(self) -> None:
        self.connection.close()


def _search_path(query: str) -> str:
    from urllib.parse import urlencode

    return "/api/v1/search?" + urlencode({"q": query, "mode": "keyword"})


@pytest.fixture()
def served_dir(tmp_path: Path) -> tuple[Path, str]:
    corpus = tmp_path / "seed.jsonl"
    corpus.write_text(json.dumps(SEED, ensure_ascii=False) + "\n", encoding="utf-8")
    data_dir = tmp_path / "data"
    index_paths(
        [str(corpus)],
        load_settings(overrides={"data.dir": str(data_dir)}, environ={}),
        embed=False,
        progress=False,
    )
    store = KeyStore(data_dir)
    _, key = store.create("write", "load")
    store.close()
    return data_dir, key


def _serve(data_dir: Path, log: str) -> ServedIndex:
    # Writers queue on the write lock; let them wait rather than answer 503 on a busy two-core machine.
    return ServedIndex(
        data_dir,
        extra_args=["--threads", "16"],
        log_path=data_dir.parent / log,
        env={"ISNAD_WRITES_LOCK_WAIT_SECONDS": "120"},
    )


def _check_all_present(server: ServedIndex, acknowledged: list[str]) -> None:
    client = Client(server)
    try:
        for article_id in acknowledged:
            status, body = client.request("GET", f"/api/v1/articles/{article_id}")
            assert status == 200, (article_id, body)
            status, body = client.request("GET", _search_path(_token(article_id)))
            assert status == 200 and [r["article_id"] for r in body["results"]] == [article_id], (
                article_id,
                body,
            )
    finally:
        client.close()


def test_eight_writers_and_eight_readers_lose_nothing(served_dir: tuple[Path, str]) -> None:
    data_dir, key = served_dir
    acknowledged: list[str] = []
    failures: list[str] = []
    reads = [0]
    lock = threading.Lock()
    with _serve(data_dir, "load.log") as server:
        deadline = time.monotonic() + LOAD_SECONDS

        def writer(number: int) -> None:
            client = Client(server, key)
            batch = 0
            try:
                while time.monotonic() < deadline:
                    ids = [f"w{number}-{batch}-{k}" for k in range(3)]
                    status, body = client.request("POST", "/api/v1/articles", [_article(i) for i in ids])
                    if status != 200:
                        failures.append(f"POST {status}: {body}")
                        continue
                    done = [item["id"] for item in body["items"] if item["status"] == 201]
                    if len(done) != len(ids):
                        failures.append(f"POST items: {body['items']}")
                    if batch % 4 == 3:  # a replacement now and then, through PUT
                        status, body = client.request(
                            "PUT", f"/api/v1/articles/{ids[0]}", {**_article(ids[0]), "title": "عنوان معدل"}
                        )
                        if status != 200:
                            failures.append(f"PUT {status}: {body}")
                    with lock:
                        acknowledged.extend(done)
                    batch += 1
            except Exception as error:  # noqa: BLE001 - a dropped connection is a failure of the test, reported below
                failures.append(f"writer {number}: {type(error).__name__}: {error}")
            finally:
                client.close()

        def reader(number: int) -> None:
            client = Client(server)
            turn = 0
            try:
                while time.monotonic() < deadline:
                    with lock:
                        known = acknowledged[-1 - turn % min(7, len(acknowledged))] if acknowledged else None
                    turn += 1
                    if known is None:
                        status, body = client.request("GET", _search_path("معرض الكتاب"))
                    elif turn % 3 == 0:
                        status, body = client.request("GET", "/api/v1/stats")
                    elif turn % 3 == 1:
                        # Acknowledged means readable, from any connection, at once.
                        status, body = client.request("GET", f"/api/v1/articles/{known}")
                        if status != 200:
                            failures.append(f"GET acknowledged {known}: {status} {body}")
                    else:
                        status, body = client.request("GET", _search_path(_token(known)))
                        if status == 200 and known not in [r["article_id"] for r in body["results"]]:
                            failures.append(f"search for acknowledged {known} missed it")
                    if status >= 500:
                        failures.append(f"reader {number}: {status} {body}")
                    reads[0] += 1
            except Exception as error:  # noqa: BLE001 - any error is the test failing, reported below
                failures.append(f"reader {number}: {type(error).__name__}: {error}")
            finally:
                client.close()

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
        threads += [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(LOAD_SECONDS + 180)
        assert not failures, failures[:5]
        assert len(acknowledged) >= WRITERS * 3  # every writer got at least one batch through
        _check_all_present(server, acknowledged)
        _, stats = Client(server).request("GET", "/api/v1/stats")
        assert stats["counts"]["articles"] == len(acknowledged) + 1
        assert stats["counts"]["keyword"] == stats["counts"]["passages"]
        print(f"{len(acknowledged)} articles acknowledged and found, {reads[0]} reads, in {LOAD_SECONDS:g} s")


def test_kill_9_mid_batch_loses_no_acknowledged_article(served_dir: tuple[Path, str]) -> None:
    data_dir, key = served_dir
    acknowledged: list[str] = []
    stopped = threading.Event()
    server = _serve(data_dir, "killed.log").start()
    try:

        def writer() -> None:
            client = Client(server, key)
            batch = 0
            try:
                while not stopped.is_set():
                    ids = [f"k-{batch}-{n}" for n in range(20)]
                    status, body = client.request("POST", "/api/v1/articles", [_article(i) for i in ids])
                    assert status == 200, body
                    acknowledged.extend(item["id"] for item in body["items"] if item["status"] == 201)
                    batch += 1
            except (OSError, http.client.HTTPException):
                pass  # the server is gone: what it answered before is what must survive
            finally:
                client.close()

        thread = threading.Thread(target=writer)
        thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGKILL)  # while the next batch is on its way
        stopped.set()
        thread.join(30)
        assert server.process is not None and server.process.wait(10) == -signal.SIGKILL
    finally:
        server.stop()
    assert len(acknowledged) >= 60
    print(f"killed after {len(acknowledged)} acknowledged articles")
    with _serve(data_dir, "restarted.log") as again:
        _check_all_present(again, acknowledged)
        client = Client(again)
        deadline = time.monotonic() + 120
        while True:  # the restarted server indexes what the cut batch left in SQLite only
            _, stats = client.request("GET", "/api/v1/stats")
            if stats["counts"]["extra"]["pending_keyword_articles"] == 0:
                break
            assert time.monotonic() < deadline, stats["counts"]
            time.sleep(0.2)
        assert stats["counts"]["keyword"] == stats["counts"]["passages"]
        client.close()
    report = index_paths(
        [], load_settings(overrides={"data.dir": str(data_dir)}, environ={}), embed=False, progress=False
    )  # `isnad index` opens the same directory as usual afterwards
    assert report.keyword_caught_up == 0
