"""Rate limits of the API with Flask-Limiter: `limits.per_key` for requests with a key, `limits.per_address`
for those without; over a limit, 429 JSON with Retry-After.

The limit is checked before the key is verified, so guessing keys is limited too: a request counts against
the key its header names when that key exists (a lookup, not a hash), and against its address otherwise.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from webapp.auth import EXTENSION as KEYS_EXTENSION
from webapp.errors import ApiError


def _claimed_key() -> str | None:
    """The id of the existing key the Authorization header names (unverified), cached for the request."""
    if "rate_key" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.strip().partition(" ")
        claimed = None
        if scheme.lower() == "bearer":
            claimed = current_app.extensions[KEYS_EXTENSION].existing_id(value.strip())
        g.rate_key = claimed
    return g.rate_key


def identity() -> str:
    key_id = _claimed_key()
    return f"key:{key_id}" if key_id else f"address:{get_remote_address()}"


def _limit() -> str:
    settings = current_app.config["ISNAD_SETTINGS"]
    return str(settings["limits.per_key"] if _claimed_key() else settings["limits.per_address"])


def _exempt() -> bool:
    # The pages and their assets are not limited (a page view loads several assets); health is polled.
    if not request.path.startswith("/api/") or request.endpoint == "api.health":
        return True
    return not _limit().strip()


def init_app(app: Flask) -> Limiter:
    """Attach the limiter; call before the key check so its before_request runs first."""
    settings = app.config["ISNAD_SETTINGS"]
    # Test apps share one address and make hundreds of requests a minute: limits there only when a test asks.
    app.config.setdefault("RATELIMIT_ENABLED", not app.testing)

    @app.after_request
    def retry_after_only_when_limited(response: Response) -> Response:
        # Registered before the limiter's own hook, so it runs after it (Flask runs them in reverse):
        # Retry-After belongs on a 429 (or a 503 that set its own), not on every answer.
        if response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        return response

    # Application limits: one budget per key or address over all routes, not one per route.
    limiter = Limiter(
        identity,
        app=app,
        application_limits=[_limit],
        application_limits_exempt_when=_exempt,
        headers_enabled=True,
        storage_uri=str(settings["limits.storage"]),
        strategy="fixed-window",
    )

    @app.errorhandler(RateLimitExceeded)
    def too_many(error: RateLimitExceeded) -> Any:
        # Retry-After and the X-RateLimit-* headers are added by the limiter to this response.
        who = "this key" if _claimed_key() else "this address (requests without a key)"
        setting = "limits.per_key" if _claimed_key() else "limits.per_address"
        limited = ApiError(
            "rate_limited",
            f"too many requests from {who}: the limit is {error.description} "
            f"({setting}); retry after the time in Retry-After",
            429,
        )
        if not request.path.startswith("/api/"):
            return error
        return jsonify(limited.to_json()), 429

    return limiter
