"""Tests for the benchmark's load generator and percentile arithmetic, against a real loopback server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evaluation.loadgen import Request, json_request, percentile, run_load


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load generator expects

    def do_GET(self) -> None:
        status = 404 if self.path.startswith("/missing") else 200
        self._reply(status, b'{"ok": true}')

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self._reply(200, self.rfile.read(length))

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7
    assert percentile([], 50) is None


def test_every_request_is_sent_once_across_clients(server: ThreadingHTTPServer) -> None:
    port = server.server_address[1]
    requests = [Request("GET", f"/search?q={i}") for i in range(40)] + [json_request("/ask", {"q": "سؤال"})]
    result = run_load("127.0.0.1", port, requests, clients=4)
    summary = result.summary()
    assert result.requests == 41 and result.errors == 0
    assert summary["clients"] == 4
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert summary["requests_per_s"] > 0


def test_error_statuses_are_counted_not_timed(server: ThreadingHTTPServer) -> None:
    port = server.server_address[1]
    result = run_load("127.0.0.1", port, [Request("GET", "/missing"), Request("GET", "/ok")], clients=1)
    assert result.requests == 1 and result.errors == 1
    assert "HTTP 404" in result.summary()["first_error"]
