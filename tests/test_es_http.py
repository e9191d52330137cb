"""The HTTP side of the Elasticsearch backend, through the real client, against a tiny local HTTP server.

The server here is not Elasticsearch and these tests do not claim the store works: they check what our
code does with answers Elasticsearch's REST protocol defines (429 then 200, per-item statuses in a bulk
response, a server of another major version, refused credentials) and with no server at all. The store
contract against a real Elasticsearch is in test_es_contract.py, run when ISNAD_ES_URL is set.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pytest
from elasticsearch import Elasticsearch

from indexer.settings import load_settings
from indexer.stores.base import KeywordQuery
from indexer.stores.es.bulk import BulkWriter, backoff_delay
from indexer.stores.es.client import CLIENT_VERSION, connect, display_url
from indexer.stores.es.engine import ElasticsearchEngine
from indexer.stores.es.errors import (
    ElasticsearchIndexMissing,
    ElasticsearchUnavailable,
    ElasticsearchVersionMismatch,
)
from indexer.stores.es.store import ElasticsearchBackend, ElasticsearchKeywordIndex

Reply = tuple[int, dict[str, Any]]


class ScriptedServer:
    """An HTTP server on 127.0.0.1 answering each request with the next scripted (status, JSON body)."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[str, str, bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                server.requests.append((self.command, self.path, self.rfile.read(length)))
                status, body = server.replies.pop(0) if server.replies else (500, {"error": "unscripted"})
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")  # what the client checks for
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def bulk_lines(self, number: int) -> list[dict[str, Any]]:
        """The NDJSON lines of the number-th request."""
        return [json.loads(line) for line in self.requests[number][2].decode().splitlines() if line]


@pytest.fixture
def closed_port_url() -> str:
    """A URL on which nothing listens: a port the OS just handed out and that is closed again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def operations(count: int) -> list[list[dict[str, Any]]]:
    return [[{"index": {"_index": "isnad-1", "_id": f"p:{n}"}}, {"text": f"نص {n}"}] for n in range(count)]


def item(
    doc_id: str, status: int, error: dict[str, Any] | None = None, kind: str = "index"
) -> dict[str, Any]:
    result: dict[str, Any] = {"_index": "isnad-1", "_id": doc_id, "status": status}
    if error:
        result["error"] = error
    return {kind: result}


def bulk_ok(*items: dict[str, Any]) -> Reply:
    errors = any(next(iter(i.values()))["status"] >= 300 for i in items)
    return 200, {"took": 1, "errors": errors, "items": list(items)}


TOO_MANY = (
    429,
    {"error": {"type": "es_rejected_execution_exception", "reason": "queue full"}, "status": 429},
)


def es_client(url: str) -> ElasticsearchEngine:
    """The store's view of the real Elasticsearch client for `url`."""
    return ElasticsearchEngine(Elasticsearch(url))


def writer(url: str, delays: list[float], **options: Any) -> BulkWriter:
    return BulkWriter(es_client(url), sleep=delays.append, url=url, **options)


# -- bulk writes ---------------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, 0.5, 3.0) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_batch_refused_with_429_is_sent_again_after_a_pause() -> None:
    delays: list[float] = []
    with ScriptedServer([TOO_MANY, TOO_MANY, bulk_ok(item("p:0", 201), item("p:1", 200))]) as server:
        report = writer(server.url, delays).write(operations(2))
    assert report.written == 2 and report.failures == [] and report.retries == 2
    assert delays == [0.5, 1.0]
    assert len(server.requests) == 3
    assert all(method == "PUT" or method == "POST" for method, _, _ in server.requests)
    assert all(path.startswith("/_bulk") for _, path, _ in server.requests)
    assert server.bulk_lines(0) == server.bulk_lines(2)  # the same batch, whole


def test_only_the_documents_answered_429_are_retried_and_refused_ones_are_reported() -> None:
    mapping_error = {
        "type": "document_parsing_exception",
        "reason": "[1:10] failed to parse field [published]",
        "caused_by": {"type": "illegal_argument_exception", "reason": "bad date"},
    }
    first = bulk_ok(
        item("p:0", 201),
        item("p:1", 429, {"type": "es_rejected_execution_exception", "reason": "queue full"}),
        item("p:2", 400, mapping_error),
        item("p:3", 503, {"type": "unavailable_shards_exception", "reason": "primary not active"}),
    )
    second = bulk_ok(item("p:1", 201), item("p:3", 201))
    delays: list[float] = []
    with ScriptedServer([first, second]) as server:
        report = writer(server.url, delays).write(operations(4))
    assert report.written == 3
    assert [(f.doc_id, f.status) for f in report.failures] == [("p:2", 400)]
    assert (
        "document_parsing_exception" in report.failures[0].reason and "bad date" in report.failures[0].reason
    )
    assert delays == [0.5]
    resent = server.bulk_lines(1)
    assert [line["index"]["_id"] for line in resent[::2]] == ["p:1", "p:3"]
    assert resent[1] == {"text": "نص 1"}


def test_documents_still_refused_after_the_last_retry_are_reported_not_lost() -> None:
    busy = bulk_ok(item("p:0", 429, {"type": "es_rejected_execution_exception", "reason": "queue full"}))
    delays: list[float] = []
    with ScriptedServer([busy, busy, busy]) as server:
        report = writer(server.url, delays, max_retries=2).write(operations(1))
    assert report.written == 0
    assert [(f.doc_id, f.status) for f in report.failures] == [("p:0", 429)]
    assert delays == [0.5, 1.0] and len(server.requests) == 3


def test_batches_are_cut_by_document_count_and_size() -> None:
    replies = [
        bulk_ok(item("p:0", 201), item("p:1", 201)),
        bulk_ok(item("p:2", 201), item("p:3", 201)),
        bulk_ok(item("p:4", 201)),
    ]
    with ScriptedServer(replies) as server:
        report = writer(server.url, [], max_docs=2).write(operations(5))
    assert report.written == 5
    assert [len(server.bulk_lines(n)) for n in range(3)] == [4, 4, 2]
    with ScriptedServer([bulk_ok(item("p:0", 201)), bulk_ok(item("p:1", 201))]) as server:
        writer(server.url, [], max_bytes=60).write(operations(2))  # each operation is ~50 bytes
    assert len(server.requests) == 2


def test_deleting_an_absent_document_counts_as_done() -> None:
    with ScriptedServer([bulk_ok(item("a:x", 404, kind="delete"))]) as server:
        report = writer(server.url, []).write([[{"delete": {"_index": "isnad-1", "_id": "a:x"}}]])
    assert report.written == 1 and report.failures == []


def test_a_server_that_keeps_failing_stops_the_write_with_a_clear_error() -> None:
    delays: list[float] = []
    with ScriptedServer([TOO_MANY] * 3) as server, pytest.raises(ElasticsearchUnavailable) as caught:
        writer(server.url, delays, max_retries=2).write(operations(1))
    assert "after 3 attempts" in str(caught.value) and "HTTP 429" in str(caught.value)
    assert delays == [0.5, 1.0]


def test_a_request_error_is_not_retried() -> None:
    bad = (
        400,
        {"error": {"type": "illegal_argument_exception", "reason": "Malformed action"}, "status": 400},
    )
    delays: list[float] = []
    with ScriptedServer([bad]) as server, pytest.raises(ElasticsearchUnavailable, match="HTTP 400"):
        writer(server.url, delays).write(operations(1))
    assert delays == [] and len(server.requests) == 1


def test_no_server_at_all_is_retried_then_reported(closed_port_url: str) -> None:
    delays: list[float] = []
    with pytest.raises(ElasticsearchUnavailable, match="did not accept a bulk write after 3 attempts"):
        writer(closed_port_url, delays, max_retries=2).write(operations(1))
    assert delays == [0.5, 1.0]


# -- connecting ------------------------------------------------------------------------------------------


def info(version: str) -> Reply:
    return 200, {
        "name": "node-1",
        "cluster_name": "isnad",
        "version": {"number": version},
        "tagline": "You Know, for Search",
    }


def settings_for(url: str, **extra: str) -> dict[str, Any]:
    return load_settings(overrides={"elasticsearch.url": url, **extra}, environ={})


def test_connect_accepts_the_same_major_version() -> None:
    same = f"{CLIENT_VERSION.split('.')[0]}.0.1"
    with ScriptedServer([info(same)]) as server:
        client, details = connect(settings_for(server.url))
        client.close()
    assert details["version"]["number"] == same
    method, path, _ = server.requests[0]
    assert (method, path) == ("GET", "/")


def test_connect_refuses_another_major_version_and_says_what_to_run() -> None:
    with ScriptedServer([info("8.15.3")]) as server, pytest.raises(ElasticsearchVersionMismatch) as caught:
        connect(settings_for(server.url))
    message = str(caught.value)
    assert "8.15.3" in message and CLIENT_VERSION in message and "major versions must match" in message


def test_connect_explains_refused_credentials() -> None:
    refused = (401, {"error": {"type": "security_exception", "reason": "missing authentication credentials"}})
    with ScriptedServer([refused]) as server, pytest.raises(ElasticsearchUnavailable) as caught:
        connect(settings_for(server.url))
    assert "HTTP 401" in str(caught.value) and "elasticsearch.api_key" in str(caught.value)


def test_connect_to_nothing_says_how_to_start_elasticsearch(closed_port_url: str) -> None:
    with pytest.raises(ElasticsearchUnavailable) as caught:
        connect(settings_for(closed_port_url))
    message = str(caught.value)
    assert message.startswith(f"cannot reach Elasticsearch at {closed_port_url}")
    assert "docker compose up -d elasticsearch" in message and "ISNAD_ES_URL" in message


def test_credentials_never_appear_in_messages() -> None:
    assert display_url("http://elastic:s3cret@es.example:9200/") == "http://es.example:9200/"
    assert display_url("http://localhost:9200") == "http://localhost:9200"


def test_health_reports_an_unreachable_server_instead_of_raising(closed_port_url: str) -> None:
    backend = ElasticsearchBackend(settings_for(closed_port_url), client=es_client(closed_port_url))
    report = backend.health()
    assert report["ok"] is False and report["backend"] == "elasticsearch"
    assert report["url"] == closed_port_url and report["alias"] == "isnad"
    assert report["error"].startswith("cannot reach Elasticsearch")


def test_searching_a_missing_index_names_it_and_the_fix() -> None:
    missing = (
        404,
        {
            "error": {
                "type": "index_not_found_exception",
                "reason": "no such index [isnad]",
                "index": "isnad",
            },
            "status": 404,
        },
    )
    with ScriptedServer([missing]) as server:
        backend = ElasticsearchBackend(settings_for(server.url), client=es_client(server.url))
        with pytest.raises(ElasticsearchIndexMissing) as caught:
            ElasticsearchKeywordIndex(backend).search(KeywordQuery(terms=("قمه",)), 10)
    assert "has no index 'isnad'" in str(caught.value) and "isnad index PATH" in str(caught.value)
    _method, path, body = server.requests[0]
    assert path.startswith("/isnad/_search")
    assert json.loads(body)["query"]["bool"]["minimum_should_match"] == 1


def test_an_invalid_alias_name_is_refused_before_any_request() -> None:
    with pytest.raises(Exception, match="not a valid Elasticsearch index name"):
        ElasticsearchBackend(
            settings_for("http://127.0.0.1:9", **{"elasticsearch.index": "Isnad News"}),
            client=es_client("http://127.0.0.1:9"),
        )


def test_the_registry_opens_elasticsearch_and_reports_no_server_before_touching_disk(
    tmp_path: Any, closed_port_url: str
) -> None:
    from indexer.stores import open_stores

    data = tmp_path / "data"
    settings = load_settings(
        overrides={
            "store.backend": "elasticsearch",
            "elasticsearch.url": closed_port_url,
            "data.dir": str(data),
        },
        environ={},
    )
    with pytest.raises(ElasticsearchUnavailable, match="cannot reach Elasticsearch"):
        open_stores(settings)
    assert not data.exists()
