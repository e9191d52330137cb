"""Serving the app with waitress, whose own refusals (a URL or headers too large, a garbled request) are JSON
under /api/ like every other API error.

Waitress answers some requests before the app sees them: a request line and headers beyond
`max_request_header_size` get 431, an unparsable request 400, and their bodies are text/plain. A script
calling /api/v1 must be able to read every error the same way, so the request's first bytes are kept and,
when its target is under /api/, the error is written as `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import waitress
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

from webapp.headers import CACHE_API, SECURITY_HEADERS

API_PREFIX = b"/api/"
START_BYTES = 256  # of the request line: the method and the start of the target are all we look at
ERROR_CODES = {
    400: "bad_request",
    413: "request_too_large",
    431: "request_header_too_large",
    500: "internal_error",
    501: "not_implemented",
}
HEADER_LIMIT_HINT = (
    "the URL and headers together exceed the server's limit of {limit:,} bytes; a query is at "
    "most 500 characters, and questions go in the body of POST /api/v1/ask"
)


class _Parser(HTTPRequestParser):  # type: ignore[misc]
    """Waitress's parser, also keeping the first bytes of the request: on a header overflow it has
    parsed nothing, and the target tells whether the client is an API client."""

    start = b""

    def received(self, data: bytes) -> int:
        if len(self.start) < START_BYTES:
            self.start = (self.start + data)[:START_BYTES]
        consumed: int = super().received(data)
        return consumed


def request_target(start: bytes) -> bytes:
    """The request target from the first bytes of a request ("GET /api/v1/search?q=… HTTP/1.1");
    an absolute-form target (http://host/path) is reduced to its path."""
    line = start.lstrip(b"\r\n")
    target = line.partition(b" ")[2]
    for scheme in (b"http://", b"https://"):
        if target[: len(scheme)].lower() == scheme:
            rest = target[len(scheme) :]
            slash = rest.find(b"/")
            target = rest[slash:] if slash >= 0 else b"/"
    return target


def json_error(status: int, reason: str, detail: str, header_limit: int) -> bytes:
    """The API's error body for one of waitress's refusals."""
    message = HEADER_LIMIT_HINT.format(limit=header_limit) if status == 431 else f"{reason.lower()}: {detail}"
    code = ERROR_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    return json.dumps({"error": {"code": code, "message": message}}).encode("utf-8")


class _ErrorTask(ErrorTask):  # type: ignore[misc]
    """Waitress's error response, as JSON (with the app's security headers) when the target is under /api/."""

    def execute(self) -> None:
        self.response_headers.extend(SECURITY_HEADERS.items())
        start = getattr(self.request, "start", b"")
        if not request_target(start).startswith(API_PREFIX):
            super().execute()  # the pages' visitors get waitress's short text
            return
        error = self.request.error
        adjustments = self.channel.server.adj
        body = json_error(
            int(error.code), str(error.reason), str(error.body), adjustments.max_request_header_size
        )
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"), ("Cache-Control", CACHE_API)])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):  # type: ignore[misc]
    parser_class = _Parser
    error_task_class = _ErrorTask


def create_server(app: Any, **adjustments: Any) -> Any:
    """waitress.create_server with the JSON-aware channel on every listening socket it opened."""
    sockets: dict[int, Any] = {}
    server = waitress.create_server(app, map=sockets, **adjustments)
    for dispatcher in sockets.values():
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = _Channel
    return server


def serve(app: Any, **adjustments: Any) -> None:
    """Serve `app` until interrupted (what waitress.serve does, with the channel above)."""
    logging.basicConfig()  # waitress reports through logging, as under waitress.serve
    create_server(app, **adjustments).run()
