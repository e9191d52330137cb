"""Bearer-key authentication: writes need a write key; reads are open unless `auth.reads = "key"`.

No key where one is needed, or a key that is unknown or revoked: 401; a read key on a write: 403. Both
answer JSON with a `WWW-Authenticate` challenge (RFC 6750). The key found is kept on `g.api_key` for the
rate limits.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request

from indexer.keys import ApiKey, KeyStore
from webapp.errors import ApiError
from webapp.services import services_of

REALM = "isnad"
EXTENSION = "isnad_keys"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
WRITE_ENDPOINT_PREFIX = "write_api."
# Always open: what a load balancer polls, and the description of the API itself.
OPEN_ENDPOINTS = ("api.health", "api.openapi")


def _challenge(error: str | None = None, scope: str | None = None) -> str:
    value = f'Bearer realm="{REALM}"'
    if error:
        value += f', error="{error}"'
    if scope:
        value += f', scope="{scope}"'
    return value


def required_scope() -> str | None:
    """The scope this request needs: write for the write routes, read for reads when reads need a key."""
    endpoint = request.endpoint or ""
    if endpoint.startswith(WRITE_ENDPOINT_PREFIX) and request.method in WRITE_METHODS:
        return "write"
    if endpoint in OPEN_ENDPOINTS or endpoint.endswith(".static"):
        return None
    if current_app.config["ISNAD_SETTINGS"]["auth.reads"] == "key":
        return "read"
    return None


def presented_key() -> str | None:
    """The key of `Authorization: Bearer <key>`, None without that header; a malformed header is a 401."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(
            "invalid_key",
            "the Authorization header must be 'Bearer <key>'",
            401,
            {"WWW-Authenticate": _challenge("invalid_request")},
        )
    return value.strip()


def authenticate() -> None:
    """Before every request: who is asking (g.api_key), and whether they may."""
    g.api_key = None
    scope = required_scope()
    presented = presented_key()
    if presented is None:
        if scope is not None:
            what = "writing articles" if scope == "write" else "this API (auth.reads = key)"
            raise ApiError(
                "missing_key",
                f"{what} needs an API key: send 'Authorization: Bearer <key>'; "
                f"make one with `isnad keys create --scope {scope}`",
                401,
                {"WWW-Authenticate": _challenge(scope=scope)},
            )
        return
    key: ApiKey | None = current_app.extensions[EXTENSION].verify(presented)
    if key is None:
        raise ApiError(
            "invalid_key",
            "the API key is not valid (unknown or revoked)",
            401,
            {"WWW-Authenticate": _challenge("invalid_token")},
        )
    g.api_key = key
    if scope is not None and not key.allows(scope):
        raise ApiError(
            "insufficient_scope",
            f"the key {key.name!r} has {key.scope} scope; this request needs a {scope} key",
            403,
            {"WWW-Authenticate": _challenge("insufficient_scope", scope)},
        )


def init_app(app: Flask) -> None:
    keys = KeyStore(app.config["ISNAD_SETTINGS"]["data.dir"])
    app.extensions[EXTENSION] = keys
    services_of(app).closers.append(keys.close)
    app.before_request(authenticate)
