"""Connecting to the engine (Elasticsearch or OpenSearch): the client from settings and the version check.

Every failure becomes an `ElasticsearchStoreError` whose message names the URL and the fix, so the CLI
and the API can show it as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from indexer.stores.es.engine import (
    ElasticsearchEngine,
    EngineApiError,
    EngineClient,
    EngineUnreachable,
    OpenSearchEngine,
)
from indexer.stores.es.errors import (
    ElasticsearchStoreError,
    ElasticsearchUnavailable,
    ElasticsearchVersionMismatch,
)

REQUEST_TIMEOUT_S = 30.0
START_HINT = (
    "start it (`docker compose up -d elasticsearch`, or `make engine-node` for a local OpenSearch "
    "node) or point ISNAD_ES_URL at a running server"
)
# The OpenSearch majors opensearch-py 3 speaks to (its compatibility table).
OPENSEARCH_MAJORS = (1, 2, 3)


def elasticsearch_client_version() -> str:
    import elasticsearch

    return str(vars(elasticsearch)["__versionstr__"])  # not among the package's declared exports


try:
    CLIENT_VERSION = elasticsearch_client_version()
except ImportError:  # only the [opensearch] extra is installed
    CLIENT_VERSION = "0"


def display_url(url: str) -> str:
    """The URL without any user:password part, safe to print in messages and health reports."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def client_from_settings(settings: Mapping[str, Any]) -> EngineClient:
    """The engine client for `elasticsearch.url`: OpenSearch's when store.backend is "opensearch",
    else Elasticsearch's, with the API key or user/password when set."""
    url = settings["elasticsearch.url"]
    opensearch = settings.get("store.backend") == "opensearch"
    try:
        if opensearch:
            return _opensearch_client(settings)
        return _elasticsearch_client(settings)
    except ImportError:
        extra, package = ("opensearch", "opensearch-py") if opensearch else ("es", "elasticsearch")
        raise ElasticsearchStoreError(
            f"store.backend = {settings.get('store.backend')!r} needs the {package} client: "
            f"pip install -e '.[{extra}]'"
        ) from None
    except ValueError as error:  # the clients reject malformed URLs at construction
        raise ElasticsearchStoreError(
            f"elasticsearch.url {display_url(url)!r} is not a valid URL: {error}"
        ) from None


def _elasticsearch_client(settings: Mapping[str, Any]) -> ElasticsearchEngine:
    from elasticsearch import Elasticsearch

    options: dict[str, Any] = {
        "request_timeout": REQUEST_TIMEOUT_S,
        "max_retries": 2,
        "retry_on_timeout": True,
    }
    if settings.get("elasticsearch.api_key"):
        options["api_key"] = settings["elasticsearch.api_key"]
    elif settings.get("elasticsearch.username"):
        options["basic_auth"] = (
            settings["elasticsearch.username"],
            settings.get("elasticsearch.password", ""),
        )
    return ElasticsearchEngine(Elasticsearch(settings["elasticsearch.url"], **options))


def _opensearch_client(settings: Mapping[str, Any]) -> OpenSearchEngine:
    options: dict[str, Any] = {"timeout": REQUEST_TIMEOUT_S, "max_retries": 2, "retry_on_timeout": True}
    if settings.get("elasticsearch.api_key"):
        options["headers"] = {"authorization": f"ApiKey {settings['elasticsearch.api_key']}"}
    elif settings.get("elasticsearch.username"):
        options["http_auth"] = (
            settings["elasticsearch.username"],
            settings.get("elasticsearch.password", ""),
        )
    return OpenSearchEngine.connect(settings["elasticsearch.url"], **options)


def major(version: str) -> int:
    """The major number of a version string such as '9.5.2' or '9.0.0-SNAPSHOT'."""
    head = version.strip().split(".", 1)[0]
    if not head.isdigit():
        raise ValueError(f"not a version number: {version!r}")
    return int(head)


def check_version(
    server_version: str,
    url: str,
    client_version: str | None = None,
    distribution: str | None = None,
    engine: str = "elasticsearch",
) -> None:
    """Refuse a server the installed client cannot speak to: requests would fail in odd ways.

    Elasticsearch's client speaks to its own major only; opensearch-py 3 to OpenSearch 1 to 3. A server
    of the other engine is named, with the store.backend that fits it.
    """
    where = display_url(url)
    if engine == "opensearch":
        if distribution != "opensearch":
            raise ElasticsearchVersionMismatch(
                f"the server at {where} is Elasticsearch {server_version}, not OpenSearch: set "
                "store.backend = 'elasticsearch' (ISNAD_STORE=elasticsearch)"
            )
        if major(server_version) not in OPENSEARCH_MAJORS:
            raise ElasticsearchVersionMismatch(
                f"OpenSearch at {where} is version {server_version}; the installed opensearch-py speaks to "
                f"OpenSearch {', '.join(map(str, OPENSEARCH_MAJORS))}.x"
            )
        return
    if distribution == "opensearch":
        raise ElasticsearchVersionMismatch(
            f"the server at {where} is OpenSearch {server_version}, not Elasticsearch: set "
            "store.backend = 'opensearch' (ISNAD_STORE=opensearch) and install the [opensearch] extra"
        )
    client_version = client_version or CLIENT_VERSION
    if major(server_version) != major(client_version):
        raise ElasticsearchVersionMismatch(
            f"Elasticsearch at {where} is version {server_version}, but the installed "
            f"elasticsearch client is {client_version}: the major versions must match. Run an Elasticsearch "
            f"{major(client_version)}.x server (docker-compose.yml pins one), or install "
            f"'elasticsearch>={major(server_version)},<{major(server_version) + 1}'."
        )


def server_info(client: EngineClient, url: str) -> dict[str, Any]:
    """GET / on the server, as plain JSON, with every way it can fail said plainly."""
    name = client.product
    try:
        body = client.info()
    except EngineUnreachable as error:
        raise ElasticsearchUnavailable(
            f"cannot reach {name} at {display_url(url)} ({error.message}): {START_HINT}"
        ) from None
    except EngineApiError as error:
        if error.status in (401, 403):
            raise ElasticsearchUnavailable(
                f"{name} at {display_url(url)} refused the request (HTTP {error.status}): security is on, "
                "so set elasticsearch.api_key (ISNAD_ELASTICSEARCH_API_KEY) or elasticsearch.username and "
                "elasticsearch.password"
            ) from None
        raise ElasticsearchUnavailable(
            f"{name} at {display_url(url)} answered GET / with HTTP {error.status}: {error.message[:200]}"
        ) from None
    version = body.get("version", {}).get("number") if isinstance(body.get("version"), Mapping) else None
    if not isinstance(version, str):
        raise ElasticsearchUnavailable(
            f"the server at {display_url(url)} does not look like {name} (no version in GET /)"
        )
    return dict(body)


def connect(settings: Mapping[str, Any]) -> tuple[EngineClient, dict[str, Any]]:
    """A checked client: reachable, credentials accepted, a version it speaks to. Returns it and GET / info."""
    url = settings["elasticsearch.url"]
    client = client_from_settings(settings)
    try:
        info = server_info(client, url)
        check_version(
            info["version"]["number"],
            url,
            distribution=info["version"].get("distribution"),
            engine=client.backend,
        )
    except ElasticsearchStoreError:
        client.close()
        raise
    return client, info
