"""Security and caching headers on every kind of response, and pages that a strict CSP does not break.

Flask's test client over the real app and stores; tests/test_hostile_served.py checks the same headers from
`isnad serve`, and tests/test_browser_pages.py fails on any CSP violation Chromium reports.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webapp.app import create_app
from webapp.headers import CONTENT_SECURITY_POLICY
from webapp.services import services_of

STATIC = Path(__file__).resolve().parents[1] / "webapp" / "static"


@pytest.fixture(scope="module")
def app(indexed_seeds_dir: Path) -> Iterator[Flask]:
    application = create_app({"data.dir": str(indexed_seeds_dir), "TESTING": True})
    yield application
    services_of(application).close()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def asset_links(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/assets/[^"]+)"', html)


@pytest.mark.parametrize(
    ("url", "status", "cache"),
    [
        ("/", 200, "no-cache"),
        ("/?q=حريق", 200, "no-cache"),
        ("/?q=", 200, "no-cache"),
        ("/?q=بوتين&page=zero", 400, "no-cache"),
        ("/ask", 200, "no-cache"),
        ("/no-such-page", 404, "no-cache"),
        ("/api/v1/search?q=حريق", 200, "no-store"),
        ("/api/v1/search?q=", 400, "no-store"),
        ("/api/v1/health", 200, "no-store"),
        ("/api/v1/openapi.json", 200, "no-store"),
        ("/api/v1/nothing", 404, "no-store"),
        ("/assets/isnad.css", 200, "no-cache"),  # no version in the URL: revalidate
    ],
)
def test_every_response_carries_the_security_headers_and_its_cache_policy(
    client: FlaskClient, url: str, status: int, cache: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == cache


def test_the_policy_allows_this_origin_only() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == directives["script-src"] == directives["style-src"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "*" not in CONTENT_SECURITY_POLICY
    assert directives["object-src"] == directives["frame-ancestors"] == "'none'"


def test_post_answers_and_errors_are_not_stored(client: FlaskClient) -> None:
    response = client.post("/api/v1/ask", data="{oops", content_type="application/json")
    assert response.status_code == 400 and response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("url", ["/", "/ask", "/no-such-page"])
def test_asset_urls_carry_their_content_digest_and_are_cached_for_good(client: FlaskClient, url: str) -> None:
    links = asset_links(client.get(url).get_data(as_text=True))
    assert {link.split("?")[0] for link in links} >= {"/assets/isnad.css", "/assets/favicon.svg"}
    for link in links:
        path, _, query = link.partition("?")
        digest = hashlib.sha256((STATIC / path.removeprefix("/assets/")).read_bytes()).hexdigest()
        assert query == f"v={digest[:16]}", link
        response = client.get(link)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        # A version that is not the file's current content must not be kept for good.
        stale = client.get(f"{path}?v=0000000000000000")
        assert stale.status_code == 200 and stale.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "url",
    ["/", "/?q=حريق", "/ask", "/ask?q=أين اندلع حريق مصفاة النفط؟", "/no-such-page", "/?q=بوتين&page=zero"],
)
def test_pages_have_no_inline_script_or_style_for_the_policy_to_block(client: FlaskClient, url: str) -> None:
    html = client.get(url).get_data(as_text=True)
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    for attrs in re.findall(r"<script([^>]*)>", html):
        # Either our own file, or the JSON hand-over to chat.js, which is data and never runs.
        assert re.search(r'src="/assets/', attrs) or 'type="application/json"' in attrs, attrs
    articles = re.findall(r'href="(/articles/[^"#]+)', client.get("/?q=حريق").get_data(as_text=True))
    article = client.get(articles[0]).get_data(as_text=True)
    assert "<style" not in article and not re.search(r"\sstyle=", article)
