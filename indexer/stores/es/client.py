"""Connecting to Elasticsearch: the client from settings, the version check, and the health report.

Every failure becomes an `ElasticsearchStoreError` whose message names the URL and the fix, so the CLI
and the API can show it as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import elastic_transport
import elasticsearch
from elasticsearch import Elasticsearch

from indexer.stores.es.errors import (
    ElasticsearchStoreError,
    ElasticsearchUnavailable,
    ElasticsearchVersionMismatch,
)

CLIENT_VERSION = elasticsearch.__versionstr__
REQUEST_TIMEOUT_S = 30.0
START_HINT = "start it (`docker compose up -d elasticsearch`) or point ISNAD_ES_URL at a running server"


def display_url(url: str) -> str:
    """The URL without any user:password part, safe to print in messages and health reports."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def client_from_settings(settings: Mapping[str, Any]) -> Elasticsearch:
    """An Elasticsearch client for `elasticsearch.url` with the API key or user/password when set."""
    options: dict[str, Any] = {"request_timeout": REQUEST_TIMEOUT_S, "max_retries": 2, "retry_on_timeout": True}
    if settings.get("elasticsearch.api_key"):
        options["api_key"] = settings["elasticsearch.api_key"]
    elif settings.get("elasticsearch.username"):
        options["basic_auth"] = (settings["elasticsearch.username"], settings.get("elasticsearch.password", ""))
    try:
        return Elasticsearch(settings["elasticsearch.url"], **options)
    except ValueError as error:  # the client rejects malformed URLs at construction
        raise ElasticsearchStoreError(
            f"elasticsearch.url {display_url(settings['elasticsearch.url'])!r} is not a valid URL: {error}"
        ) from None


def major(version: str) -> int:
    """The major number of a version string such as '9.5.2' or '9.0.0-SNAPSHOT'."""
    head = version.strip().split(".", 1)[0]
    if not head.isdigit():
        raise ValueError(f"not a version number: {version!r}")
    return int(head)


def check_version(server_version: str, url: str, client_version: str = CLIENT_VERSION) -> None:
    """Refuse a server whose major version differs from the client's: requests would fail in odd ways."""
    if major(server_version) != major(client_version):
        raise ElasticsearchVersionMismatch(
            f"Elasticsearch at {display_url(url)} is version {server_version}, but the installed "
            f"elasticsearch client is {client_version}: the major versions must match. Run an Elasticsearch "
            f"{major(client_version)}.x server (docker-compose.yml pins one), or install "
            f"'elasticsearch>={major(server_version)},<{major(server_version) + 1}'."
        )


def server_info(client: Elasticsearch, url: str) -> dict[str, Any]:
    """GET / on the server, as plain JSON.

    This goes through the transport rather than `client.info()` on purpose: the client asks for its own
    major's compatibility media type, which a server of another major rejects with an unhelpful 400,
    and the point here is to say plainly which version answered.
    """
    try:
        response = client.transport.perform_request(
            "GET", "/", headers={"accept": "application/json"}, max_retries=0
        )
    except elastic_transport.ConnectionError as error:
        raise ElasticsearchUnavailable(
            f"cannot reach Elasticsearch at {display_url(url)} ({error.message}): {START_HINT}"
        ) from None
    except elastic_transport.TransportError as error:
        raise ElasticsearchUnavailable(
            f"Elasticsearch at {display_url(url)} failed to answer ({error.message}): {START_HINT}"
        ) from None
    status = response.meta.status
    if status in (401, 403):
        raise ElasticsearchUnavailable(
            f"Elasticsearch at {display_url(url)} refused the request (HTTP {status}): security is on, "
            "so set elasticsearch.api_key (ISNAD_ELASTICSEARCH_API_KEY) or elasticsearch.username and "
            "elasticsearch.password"
        )
    body = response.body
    if status >= 400 or not isinstance(body, Mapping):
        raise ElasticsearchUnavailable(
            f"Elasticsearch at {display_url(url)} answered GET / with HTTP {status}: {str(body)[:200]}"
        )
    version = body.get("version", {}).get("number") if isinstance(body.get("version"), Mapping) else None
    if not isinstance(version, str):
        raise ElasticsearchUnavailable(
            f"the server at {display_url(url)} does not look like Elasticsearch (no version in GET /)"
        )
    return dict(body)


def connect(settings: Mapping[str, Any]) -> tuple[Elasticsearch, dict[str, Any]]:
    """A checked client: reachable, credentials accepted, same major version. Returns it and GET / info."""
    url = settings["elasticsearch.url"]
    client = client_from_settings(settings)
    try:
        info = server_info(client, url)
        check_version(info["version"]["number"], url)
    except ElasticsearchStoreError:
        client.close()
        raise
    return client, info
