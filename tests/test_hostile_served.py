"""Hostile input against the real `isnad serve` (waitress): a bad request gets its own clear 4xx, and never
breaks another user's request.

Raw sockets where a client library would clean the input up (bytes that are not UTF-8 in a path, a
300 KB URL); the concurrent test has one client sending lone surrogates while others search, read pages
and ask, and every one of theirs must succeed.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evaluation.server import ServedIndex
from webapp.headers import CONTENT_SECURITY_POLICY

FOLLOW_UP = "ومتى حدث ذلك؟"
SUBJECT = "ما الذي اشتعل في مصفاة النفط في أزوف بعد هجوم المسيرات؟"
HOSTILE_BODIES = (
    '{"question": "\\ud800"}',
    '{"question": "ومتى؟", "history": [{"role": "user", "content": "\\udfff"}]}',
)


class Reply:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    @property
    def json(self) -> Any:
        assert self.headers.get_content_type() == "application/json", (self.status, self.body[:200])
        return json.loads(self.body)

    def error_code(self) -> str:
        return str(self.json["error"]["code"])


class Client:
    """One keep-alive connection to the served app that sends exactly the bytes it is given."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def send(self, method: str, target: str, body: bytes | None = None) -> Reply:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        # skip_host and a bytes-safe target: http.client would refuse or re-encode what a hostile client sends.
        self.connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body or b""))}.items():
            self.connection.putheader(name, value)
        self.connection.endheaders(body)
        reply = Reply(self.connection.getresponse())
        if reply.headers.get("Connection", "").lower() == "close":
            self.connection.close()
        return reply

    def get(self, path: str, **params: str) -> Reply:
        query = urllib.parse.urlencode(params)
        return self.send("GET", path + (f"?{query}" if query else ""))

    def ask(self, raw_body: str) -> Reply:
        return self.send("POST", "/api/v1/ask", raw_body.encode("utf-8"))

    def close(self) -> None:
        self.connection.close()


@pytest.fixture(scope="module")
def port(indexed_seeds_dir: Path) -> Iterator[int]:
    served = ServedIndex(
        indexed_seeds_dir, log_path=indexed_seeds_dir.parent / "hostile-serve.log", startup_timeout=120.0
    ).start()
    try:
        yield served.port
    finally:
        served.stop()


@pytest.fixture()
def client(port: int) -> Iterator[Client]:
    opened = Client(port)
    yield opened
    opened.close()


@pytest.mark.parametrize(
    "body",
    [
        '{"question": "\\ud800"}',
        '{"question": "\\udfff"}',
        '{"question": "ومتى؟", "history": [{"role": "user", "content": "مصفاة \\ud800"}]}',
    ],
)
def test_a_lone_surrogate_is_a_400_for_that_request(client: Client, body: str) -> None:
    reply = client.ask(body)
    assert reply.status == 400 and reply.error_code() == "invalid_unicode"
    assert "surrogate" in reply.json["error"]["message"]


@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_deeply_nested_json_is_malformed_json(client: Client, body: str) -> None:
    reply = client.ask(body)
    assert reply.status == 400 and reply.error_code() == "malformed_json"


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/search?q=%ED%A0%80",
        "/api/v1/search?q=%FF",
        "/api/v1/articles/%FF",
        "/api/v1/articles/%ED%A0%80",
    ],
)
def test_urls_that_are_not_utf8_are_a_json_400(client: Client, target: str) -> None:
    reply = client.send("GET", target)
    assert reply.status == 400 and reply.error_code() == "invalid_unicode"


@pytest.mark.parametrize("target", ["/?q=%ED%A0%80", "/articles/%FF"])
def test_pages_answer_urls_that_are_not_utf8_with_the_400_page(client: Client, target: str) -> None:
    reply = client.send("GET", target)
    assert reply.status == 400 and reply.headers.get_content_type() == "text/html"
    assert "طلب غير صالح" in reply.body.decode("utf-8")


def test_a_url_beyond_waitress_limit_is_a_json_431_under_the_api(client: Client, port: int) -> None:
    huge = "%D8%A8" * 60_000  # 360 KB of an encoded Arabic letter: past waitress's 256 KiB of request head
    reply = client.send("GET", f"/api/v1/search?q={huge}")
    assert reply.status == 431 and reply.error_code() == "request_header_too_large"
    assert "POST /api/v1/ask" in reply.json["error"]["message"]
    assert (
        reply.headers["Cache-Control"] == "no-store" and reply.headers["X-Content-Type-Options"] == "nosniff"
    )
    page = Client(port)
    try:
        reply = page.send("GET", f"/?q={huge}")
        assert reply.status == 431 and reply.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        page.close()
    assert Client(port).get("/api/v1/health").status == 200  # the server goes on


def test_served_responses_carry_the_security_headers(client: Client) -> None:
    for path, cache in (
        ("/", "no-cache"),
        ("/api/v1/search?q=%D8%AD%D8%B1%D9%8A%D9%82", "no-store"),
        ("/api/v1/nothing", "no-store"),
    ):
        reply = client.send("GET", path)
        assert reply.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert (
            reply.headers["X-Frame-Options"] == "DENY"
            and reply.headers["X-Content-Type-Options"] == "nosniff"
        )
        assert reply.headers["Referrer-Policy"] == "same-origin"
        assert reply.headers["Cache-Control"] == cache, path


def test_contract_mismatches_are_400(client: Client) -> None:
    assert client.get("/api/v1/search", q="بوتين", mode="").error_code() == "unknown_mode"
    assert client.ask('{"question": "من هو بوتين؟", "mode": null}').error_code() == "unknown_mode"
    assert client.send("GET", "/api/v1/analyze?text=a&text=b").error_code() == "repeated_parameter"
    assert client.get("/api/v1/search", q="بوتين", source="false").error_code() == "unknown_source"


def test_a_follow_up_with_the_longest_history_is_answered_from_its_subject(client: Client) -> None:
    # A user who pasted the question over and over: 5,000 characters that borrowed whole took seconds.
    turn = ((SUBJECT + " ") * 100)[:5000]
    history = [
        {"role": "user", "content": turn},
        {"role": "assistant", "content": "اندلعت النيران في خزانات."},
        {"role": "user", "content": turn},
    ]
    reply = client.ask(json.dumps({"question": FOLLOW_UP, "history": history}))
    assert reply.status == 200, reply.body[:300]
    answer = reply.json
    assert answer["answered"] is True
    assert any("أزوف" in c["text"] or "روستوف" in c["text"] for c in answer["citations"])


def test_one_client_sending_lone_surrogates_fails_no_other_request(port: int) -> None:
    """The probe that made 754 of 1,364 other users' requests fail: now each hostile request gets its
    own 400 and every normal search, page and ask sent at the same time succeeds."""
    stop = threading.Event()
    hostile: list[int] = []
    normal: list[tuple[str, int]] = []
    failures: list[str] = []

    def attacker() -> None:
        connection = Client(port)
        try:
            while not stop.is_set():
                for body in HOSTILE_BODIES:
                    hostile.append(connection.ask(body).status)
        finally:
            connection.close()

    def user(n: int) -> None:
        connection = Client(port)
        requests = [
            (
                "search hybrid",
                lambda: connection.get("/api/v1/search", q=f"كوريا الشمالية {n}", mode="hybrid"),
            ),
            (
                "search semantic",
                lambda: connection.get("/api/v1/search", q="حريق مصفاة النفط", mode="semantic"),
            ),
            ("search page", lambda: connection.get("/", q="صواريخ روسيا")),
            ("ask", lambda: connection.ask(json.dumps({"question": "متى وصل كيم جونغ أون إلى روسيا؟"}))),
        ]
        try:
            for _ in range(4):
                for name, send in requests:
                    reply = send()
                    normal.append((name, reply.status))
                    if reply.status != 200:
                        failures.append(f"{name}: {reply.status} {reply.body[:200]!r}")
        finally:
            connection.close()

    attack = threading.Thread(target=attacker)
    attack.start()
    users = [threading.Thread(target=user, args=(n,)) for n in range(4)]
    for thread in users:
        thread.start()
    for thread in users:
        thread.join(600)
    stop.set()
    attack.join(120)
    assert not failures, failures
    assert len(normal) == 4 * 4 * 4
    assert hostile and set(hostile) == {400}
