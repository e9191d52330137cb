"""The API's SpecTree: request validation by the models of `webapp.inputs` and the OpenAPI document built
from them and `webapp.outputs`, served at /api/v1/openapi.json.

A failed validation is reported as our ApiError (`inputs.as_api_error`), so it answers the same JSON as
every other error. Each route declares its answers with `answers(...)`: the success model and the error
codes it can give per status; the statuses every route can give (401, 429, 500, 503) are added here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import request
from pydantic import BaseModel, ValidationError
from spectree import Response, SecurityScheme, SpecTree
from spectree.models import SecureType, SecuritySchemeData, Server

from webapp import outputs
from webapp.errors import BadRequest, UnsupportedMediaType
from webapp.inputs import Input, as_api_error
from webapp.request_input import read_json_body

PREFIX = "/api/v1"
BEARER = "bearerKey"
READ_SECURITY: list[dict[str, list[str]]] = [{}, {BEARER: []}]  # open unless auth.reads = "key"
WRITE_SECURITY: list[dict[str, list[str]]] = [{BEARER: []}]
NDJSON = "application/x-ndjson"

DESCRIPTION = (
    "Search and cited question answering over indexed Arabic news, and writes of articles behind keys. "
    'Every error is JSON `{"error": {"code", "message"}}`: a 4xx for bad input (never a 500), 404 for '
    "unknown articles and routes, 405 for a wrong method, 429 over a rate limit (with Retry-After)."
)
BEARER_DESCRIPTION = (
    "An API key from `isnad keys create --scope read|write`, sent as `Authorization: Bearer <key>`. "
    'Writes need a write key; reads need a key only when auth.reads = "key". No key or an unknown one: '
    "401; a read key on a write: 403; both with WWW-Authenticate. Over a rate limit: 429 with Retry-After."
)

# What any route can answer besides its own errors.
COMMON_ERRORS: dict[int, tuple[str, ...]] = {
    400: ("invalid_unicode",),
    401: ("missing_key", "invalid_key"),
    429: ("rate_limited",),
    500: ("internal_error",),
    503: ("unavailable",),
}
STATUS_TEXT = {
    400: "Bad request",
    401: "No valid API key",
    403: "The key's scope does not allow this",
    404: "Not found",
    413: "Body over the size limit",
    415: "Body not JSON",
    429: "Over the rate limit; retry after Retry-After seconds",
    500: "The server failed (logged)",
    501: "This store backend takes no writes",
    503: "The store cannot be reached or is busy; retry later",
    507: "The data directory's disk is full; free space, then send the batch again",
}


def _report_validation_error(
    req: Any, resp: Any, error: Exception | None, instance: Any, adapter: Any
) -> None:
    """SpecTree's hook before a view: a request that failed validation is reported as our ApiError."""
    if isinstance(error, ValidationError):
        raise as_api_error(_models()[error.title], error)


@functools.cache
def _models() -> dict[str, type[Input]]:
    found: dict[str, type[Input]] = {}
    stack: list[type[Input]] = [Input]
    while stack:
        model = stack.pop()
        found[model.__name__] = model
        stack.extend(model.__subclasses__())
    return found


spec = SpecTree(
    "flask",
    mode="strict",  # only the routes decorated here: the pages are not part of the API
    annotations=False,
    title="Isnad API",
    version="1.0.0",
    description=DESCRIPTION,
    license={"name": "MIT"},
    page_templates={},  # no documentation pages: they would load scripts from elsewhere
    servers=[Server(url=PREFIX)],
    security_schemes=[
        SecurityScheme(
            name=BEARER,
            data=SecuritySchemeData(type=SecureType.HTTP, scheme="bearer", description=BEARER_DESCRIPTION),
        )
    ],
    # Components named as the models are: Error, SearchResponse, Turn, ... (no hash suffixes).
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child,
    before=_report_validation_error,
    validation_error_status=400,
    validation_error_model=outputs.Error,
)


class Answers(Response):
    """A route's documented answers. The views' dicts are not validated again on every request (a missed
    field would turn an answer into a 500); tests/test_api_schema.py checks real answers instead."""

    def find_model(self, code: int) -> Any:
        return None


def answers(ok: dict[int, type[BaseModel]], errors: dict[int, tuple[str, ...]] | None = None) -> Answers:
    """The success models by status and the error codes by status, with those every route can give."""
    merged: dict[int, list[str]] = {}
    for table in (errors or {}, COMMON_ERRORS):
        for status, codes in table.items():
            merged.setdefault(status, []).extend(c for c in codes if c not in merged.get(status, []))
    documented: dict[str, Any] = {f"HTTP_{status}": model for status, model in ok.items()}
    for status, listed in sorted(merged.items()):
        text = f"{STATUS_TEXT[status]}: {', '.join(listed)}"
        documented.setdefault(f"HTTP_{status}", (outputs.Error, text))
    return Answers(**documented)


def json_body(
    model: type[Input], what: str, shape: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Before SpecTree reads the body (leniently): JSON by content type, strict UTF-8, bounded depth, valid
    Unicode, and an object; so those errors keep their codes (415 unsupported_media_type, malformed_json)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)  # keeps SpecTree's attributes on the view, which the document reads
        def checked(*args: Any, **kwargs: Any) -> Any:
            if not request.is_json:
                sent = request.content_type or "no content type"
                raise UnsupportedMediaType(
                    "unsupported_media_type", f"send {what} as application/json, not {sent}"
                )
            if not isinstance(read_json_body(), dict):
                raise BadRequest("malformed_json", shape or model.shape)
            return view(*args, **kwargs)

        return checked

    return decorate


def context() -> Any:
    """What SpecTree validated for this request (`.query`, `.json`)."""
    return request.context  # type: ignore[attr-defined]


def _relative(document: dict[str, Any]) -> dict[str, Any]:
    """Paths relative to the server URL /api/v1, as clients join them; the NDJSON body of POST /articles."""
    document["paths"] = {path.removeprefix(PREFIX): item for path, item in document["paths"].items()}
    post = document["paths"].get("/articles", {}).get("post")
    if post and "requestBody" in post:
        content = post["requestBody"]["content"]
        content[NDJSON] = {
            "schema": {"type": "string", "description": "One article object (ArticleInput) per line."}
        }
    for item in document["paths"].values():
        for operation in item.values():
            if not operation.get("tags"):
                operation.pop("tags", None)
            for parameter in operation.get("parameters", []):
                if parameter["schema"].get("default", ...) is None:  # "left out", as a query string says it
                    del parameter["schema"]["default"]
    document.pop("tags", None) if not document.get("tags") else None
    document.pop("security", None) if not document.get("security") else None
    # Query models are written out as parameters: their components would be referenced by nothing.
    text = json.dumps(document)
    schemas = document["components"]["schemas"]
    for name in [n for n in schemas if f'"#/components/schemas/{n}"' not in text]:
        del schemas[name]
    return document


@functools.cache
def _document_text() -> str:
    return json.dumps(_relative(dict(spec.spec)), ensure_ascii=False, indent=2)


def document() -> str:
    """The served OpenAPI document's text (built once per process, on the first request for it)."""
    return _document_text()
