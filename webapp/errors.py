"""Errors a client can cause, each with an HTTP status and a stable machine-readable code.

Services raise these on bad input; the JSON API renders them as `{"error": {"code", "message"}}` and the
HTML pages show the message, so both faces report the same problem in the same words.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A problem with the request, reported to the client rather than logged as a crash."""

    status = 500
    code = "internal_error"

    def __init__(
        self,
        code: str | None = None,
        message: str = "",
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.message = message
        self.headers = dict(headers or {})  # e.g. WWW-Authenticate on a 401, Retry-After on a 429 or 503

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(ApiError):
    """Input that cannot be used as given: an empty query, a page that is not a number, an unknown mode."""

    status = 400
    code = "bad_request"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class ServiceUnavailable(ApiError):
    """The index cannot be read (not built yet, or a backend is down)."""

    status = 503
    code = "unavailable"
