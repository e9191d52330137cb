"""API keys and rate limits: `isnad keys` creates (shown once), lists and revokes; keys are stored as salted
scrypt hashes; writes need a write key (401 without, 403 with a read key), reads need one only with
`auth.reads = "key"`; limits per key and per address answer 429 with Retry-After."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from indexer.keys import KEYS_FILE, KeyStore
from indexer.pipeline import index_paths
from indexer.settings import load_settings
from webapp.services import services_of

ARTICLE = {"id": "key-test-1", "title": "خبر عن الأمطار", "text": "هطلت أمطار غزيرة على المدينة ليلة أمس."}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("keys")
    corpus = root / "one.jsonl"
    corpus.write_text(json.dumps(ARTICLE, ensure_ascii=False) + "\n", encoding="utf-8")
    index_paths(
        [str(corpus)],
        load_settings(overrides={"data.dir": str(root / "data")}, environ={}),
        embed=False,
        progress=False,
    )
    return root / "data"


def _app(data_dir: Path, **config: Any) -> Flask:
    from webapp.app import create_app

    return create_app({"data.dir": str(data_dir), "TESTING": True, **config})


@pytest.fixture()
def app(data_dir: Path) -> Iterator[Flask]:
    app = _app(data_dir)
    yield app
    services_of(app).close()


def _isnad(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "--data-dir", str(data_dir), "keys", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_command_shows_a_key_once_and_stores_only_a_salted_hash(data_dir: Path) -> None:
    made = _isnad(data_dir, "create", "--scope", "write", "--name", "cli-writer")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("isk_") and "shown only now" in made.stderr
    twin = _isnad(data_dir, "create", "--scope", "write", "--name", "cli-writer-2").stdout.strip()
    listing = _isnad(data_dir, "list", "--json")
    keys = {k["name"]: k for k in json.loads(listing.stdout)}
    assert keys["cli-writer"]["scope"] == "write" and keys["cli-writer"]["last_used"] is None
    assert secret not in listing.stdout and secret.split("_", 2)[2] not in listing.stdout
    raw = (data_dir / KEYS_FILE).read_bytes()
    assert secret.split("_", 2)[2].encode() not in raw
    with sqlite3.connect(data_dir / KEYS_FILE) as db:
        salts = [row[0] for row in db.execute("SELECT salt FROM api_keys WHERE name LIKE 'cli-writer%'")]
    assert len(set(salts)) == 2 and twin != secret  # a salt of its own per key
    taken = _isnad(data_dir, "create", "--scope", "read", "--name", "cli-writer")
    assert taken.returncode == 2 and "exists already" in taken.stderr
    assert KeyStore(data_dir).verify(secret).name == "cli-writer"  # type: ignore[union-attr]
    assert _isnad(data_dir, "revoke", "cli-writer").returncode == 0
    assert KeyStore(data_dir).verify(secret) is None
    unknown = _isnad(data_dir, "revoke", "cli-writer")
    assert unknown.returncode == 2 and "no key named 'cli-writer'" in unknown.stderr


def test_writes_need_a_write_key(app: Flask, data_dir: Path) -> None:
    store = KeyStore(data_dir)
    _, reader = store.create("read", "scope-reader")
    _, writer = store.create("write", "scope-writer")
    client = app.test_client()
    cases = [
        ({}, 401, "missing_key", 'Bearer realm="isnad", scope="write"'),
        (_bearer(reader), 403, "insufficient_scope", 'error="insufficient_scope"'),
        (_bearer(writer[:-2] + "xx"), 401, "invalid_key", 'error="invalid_token"'),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "invalid_key", 'error="invalid_request"'),
    ]
    for headers, status, code, challenge in cases:
        for method, path in (
            ("POST", "/api/v1/articles"),
            ("PUT", "/api/v1/articles/a-1"),
            ("DELETE", "/api/v1/articles/key-test-1"),
        ):
            response = client.open(path, method=method, json={"text": "نص"}, headers=headers)
            assert response.status_code == status, (method, headers, response.get_json())
            assert response.get_json()["error"]["code"] == code
            assert challenge in response.headers["WWW-Authenticate"]
    assert client.get("/api/v1/articles/key-test-1").status_code == 200  # refused writes changed nothing
    assert (
        client.post(
            "/api/v1/articles", json={"id": "a-1", "text": "نص عن البحر"}, headers=_bearer(writer)
        ).get_json()["items"][0]["status"]
        == 201
    )
    assert client.get("/api/v1/search?q=البحر&mode=keyword").status_code == 200  # reads open by default
    store.revoke("scope-writer")
    revoked = client.delete("/api/v1/articles/a-1", headers=_bearer(writer))
    assert revoked.status_code == 401 and revoked.get_json()["error"]["code"] == "invalid_key"


def test_reads_can_require_a_key(data_dir: Path) -> None:
    store = KeyStore(data_dir)
    _, reader = store.create("read")
    app = _app(data_dir, **{"auth.reads": "key"})
    try:
        client = app.test_client()
        refused = client.get("/api/v1/search?q=الأمطار&mode=keyword")
        assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "missing_key"
        assert 'scope="read"' in refused.headers["WWW-Authenticate"]
        assert client.get("/api/v1/search?q=الأمطار&mode=keyword", headers=_bearer(reader)).status_code == 200
        assert client.get("/api/v1/health").status_code == 200  # what a load balancer polls stays open
    finally:
        services_of(app).close()


def test_rate_limits_per_key_and_per_address(data_dir: Path) -> None:
    store = KeyStore(data_dir)
    _, reader = store.create("read")
    app = _app(
        data_dir,
        RATELIMIT_ENABLED=True,
        **{"limits.per_address": "3 per minute", "limits.per_key": "5 per minute"},
    )
    try:
        client = app.test_client()
        anonymous = [client.get("/api/v1/stats") for _ in range(4)]
        assert [r.status_code for r in anonymous] == [200, 200, 200, 429]
        limited = anonymous[-1]
        assert limited.get_json()["error"]["code"] == "rate_limited"
        assert "limits.per_address" in limited.get_json()["error"]["message"]
        assert int(limited.headers["Retry-After"]) > 0
        assert "Retry-After" not in anonymous[0].headers
        # A key has its own budget, whatever the address did; other routes share it.
        keyed = [
            client.get(path, headers=_bearer(reader))
            for path in (
                "/api/v1/stats",
                "/api/v1/articles/key-test-1",
                "/api/v1/stats",
                "/api/v1/stats",
                "/api/v1/stats",
                "/api/v1/stats",
            )
        ]
        assert [r.status_code for r in keyed] == [200, 200, 200, 200, 200, 429]
        assert "limits.per_key" in keyed[-1].get_json()["error"]["message"]
        # Guessing keys counts against the address: an unknown key is no fresh budget.
        guess = client.get("/api/v1/stats", headers=_bearer("isk_0123456789ab_" + "x" * 43))
        assert guess.status_code == 429
        assert client.get("/").status_code == 200  # the pages are not limited
    finally:
        services_of(app).close()
