"""One REST surface over the Elasticsearch and the OpenSearch Python clients, so one store speaks to either.

Both engines take the same index definition and query DSL; they differ in their client library, in how
that library reports errors, and in their name. The store calls the methods of `EngineClient`, each a
documented REST call returning plain JSON, and sees only two failures: `EngineApiError` (the server
answered with HTTP 4xx/5xx) and `EngineUnreachable` (no answer at all).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote


class EngineApiError(Exception):
    """The engine answered a request with HTTP 4xx/5xx; `body` is its JSON error when it sent one."""

    def __init__(self, status: int, body: Any, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = body if isinstance(body, Mapping) else {}
        self.message = message

    @property
    def error_type(self) -> str | None:
        """The engine's error type (`index_not_found_exception`, ...), when the body names one."""
        error = self.body.get("error")
        return error.get("type") if isinstance(error, Mapping) else None


class EngineUnreachable(Exception):
    """No answer: connection refused or reset, or the request timed out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="*,-_.") for part in parts)


def ndjson(lines: Sequence[Mapping[str, Any]]) -> bytes:
    """A bulk body: one JSON document per line, each line ended by a newline (the last one too)."""
    return b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)


class EngineClient:
    """The REST calls the store makes; subclasses send them through their engine's client library."""

    product = "the search engine"  # the engine's name in messages
    backend = ""  # the store.backend value that selects it

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        ndjson_body: bool = False,
    ) -> Any:
        """Send one request; returns the JSON body or raises EngineApiError / EngineUnreachable."""
        raise NotImplementedError

    def without_retries(self) -> EngineClient:
        """A client on the same server whose transport never resends a request (the bulk writer retries)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """GET /: the name, cluster and version of the server."""
        return dict(self.request("GET", "/"))

    def get_alias(self, name: str) -> dict[str, Any]:
        """Indices the alias points at (as keys); EngineApiError 404 when the alias does not exist."""
        return dict(self.request("GET", _path("_alias", name)))

    def create_index(self, name: str, settings: Mapping[str, Any], mappings: Mapping[str, Any]) -> None:
        self.request("PUT", _path(name), body={"settings": settings, "mappings": mappings})

    def update_aliases(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """One atomic request: every action applies, or none."""
        self.request("POST", "/_aliases", body={"actions": list(actions)})

    def get_indices(self, pattern: str, expand_wildcards: str = "open") -> dict[str, Any]:
        return dict(self.request("GET", _path(pattern), params={"expand_wildcards": expand_wildcards}))

    def refresh(self, index: str) -> None:
        self.request("POST", _path(index, "_refresh"))

    def delete_index(self, index: str, *, missing_ok: bool = False) -> None:
        try:
            self.request("DELETE", _path(index))
        except EngineApiError as error:
            if not (missing_ok and error.status == 404):
                raise

    def get_mapping(self, index: str) -> dict[str, Any]:
        return dict(self.request("GET", _path(index, "_mapping")))

    def analyze(self, index: str, analyzer: str, text: str) -> list[dict[str, Any]]:
        """The tokens the index's analyzer makes of `text`."""
        response = self.request("POST", _path(index, "_analyze"), body={"analyzer": analyzer, "text": text})
        return list(response["tokens"])

    def delete_by_query(self, index: str, query: Mapping[str, Any]) -> dict[str, Any]:
        """Delete what matches; version conflicts (a document changed meanwhile) do not stop it."""
        return dict(
            self.request(
                "POST",
                _path(index, "_delete_by_query"),
                params={"conflicts": "proceed", "refresh": "false"},
                body={"query": query},
            )
        )

    def mget(
        self, index: str, ids: Sequence[str], fields: Sequence[str], *, realtime: bool = True
    ) -> list[dict[str, Any]]:
        """One answer per id, with `found` and, when found, the listed source fields.

        `realtime=False` reads what searches see (the last refresh), which is about twice as fast: the
        engine need not look for newer, unrefreshed versions first.
        """
        params = {"_source_includes": ",".join(fields)} if fields else {"_source": "false"}
        if not realtime:
            params["realtime"] = "false"
        response = self.request("POST", _path(index, "_mget"), params=params, body={"ids": list(ids)})
        return list(response["docs"])

    def search(
        self, index: str, body: Mapping[str, Any], *, search_type: str | None = None
    ) -> dict[str, Any]:
        params = {"search_type": search_type} if search_type else None
        return dict(self.request("POST", _path(index, "_search"), params=params, body=dict(body)))

    def count(self, index: str, query: Mapping[str, Any]) -> int:
        return int(self.request("POST", _path(index, "_count"), body={"query": query})["count"])

    def cluster_health(self) -> dict[str, Any]:
        return dict(self.request("GET", "/_cluster/health"))

    def bulk(self, lines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Bulk action and document lines; the answer has one item per action, each with its status."""
        return dict(self.request("POST", "/_bulk", body=ndjson(lines), ndjson_body=True))


class ElasticsearchEngine(EngineClient):
    """Requests through the `elasticsearch` client (the `[es]` extra), which checks the server is Elasticsearch."""

    product = "Elasticsearch"
    backend = "elasticsearch"

    def __init__(self, client: Any) -> None:
        self.client = client  # elasticsearch.Elasticsearch

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        ndjson_body: bool = False,
    ) -> Any:
        import elastic_transport
        from elasticsearch import ApiError

        headers = {"accept": "application/json"}
        if body is not None:
            headers["content-type"] = "application/x-ndjson" if ndjson_body else "application/json"
        try:
            if path == "/":
                # Through the transport, without the client's compatibility media type: a server of
                # another major rejects that with an unhelpful 400, and GET / is how we tell which
                # version answered.
                meta, payload = self.client.transport.perform_request(
                    "GET", "/", headers={"accept": "application/json"}, max_retries=0
                )
                if meta.status >= 400:
                    raise EngineApiError(meta.status, payload, str(payload)[:200])
                return payload
            return self.client.perform_request(method, path, params=params, headers=headers, body=body).body
        except ApiError as error:
            raise EngineApiError(error.meta.status, error.body, str(error.message)) from None
        except elastic_transport.TransportError as error:
            raise EngineUnreachable(str(error.message)) from None

    def without_retries(self) -> ElasticsearchEngine:
        return ElasticsearchEngine(self.client.options(max_retries=0, retry_on_status=()))

    def close(self) -> None:
        self.client.close()


class OpenSearchEngine(EngineClient):
    """Requests through the `opensearch-py` client (the `[opensearch]` extra)."""

    product = "OpenSearch"
    backend = "opensearch"

    def __init__(self, client: Any, options: Mapping[str, Any] | None = None) -> None:
        self.client = client  # opensearchpy.OpenSearch
        self.options = dict(options or {})  # how it was built, for `without_retries`
        self._quiet: OpenSearchEngine | None = None  # the no-retry twin, closed with this one

    @classmethod
    def connect(cls, url: str, **options: Any) -> OpenSearchEngine:
        from opensearchpy import OpenSearch

        return cls(OpenSearch([url], **options), {"url": url, **options})

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        ndjson_body: bool = False,
    ) -> Any:
        from opensearchpy import ConnectionError as OpenSearchConnectionError
        from opensearchpy import TransportError

        headers = {"content-type": "application/x-ndjson"} if ndjson_body else None
        try:
            return self.client.transport.perform_request(
                method, path, params=dict(params or {}), body=body, headers=headers
            )
        except OpenSearchConnectionError as error:  # a TransportError whose status is 'N/A'
            raise EngineUnreachable(str(error.info or error.error)) from None
        except TransportError as error:
            status = error.status_code if isinstance(error.status_code, int) else 500
            info = error.info if isinstance(error.info, Mapping) else {}
            reason = info.get("error", {}) if isinstance(info.get("error"), Mapping) else {}
            raise EngineApiError(status, info, str(reason.get("type") or error.error)) from None

    def without_retries(self) -> OpenSearchEngine:
        # opensearch-py has no per-request retry setting: a second client, built alike, retries nothing.
        if self._quiet is None:
            options = {key: value for key, value in self.options.items() if key != "url"}
            options.update(max_retries=0, retry_on_status=())
            self._quiet = OpenSearchEngine.connect(self.options["url"], **options)
        return self._quiet

    def close(self) -> None:
        if self._quiet is not None:
            self._quiet.close()
        self.client.close()
