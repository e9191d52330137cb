"""Security and caching headers on every response, and the content versions that let assets be cached for good.

The pages load only what the app serves itself (one stylesheet, one script, an icon; no inline script or
style), so the Content-Security-Policy can allow nothing but this origin. API answers change with the index
and may carry a user's questions, so they are never stored; an asset URL carries a digest of the file, so
the browser may keep it for a year and a changed file gets a new URL.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    # Search URLs hold the query: other sites (an article's original link) learn nothing of it.
    "Referrer-Policy": "same-origin",
}
CACHE_API = "no-store"
CACHE_PAGE = "no-cache"  # a page shows the index as it is now: revalidate every time
CACHE_VERSIONED_ASSET = "public, max-age=31536000, immutable"
ASSET_ENDPOINT = "pages.static"
VERSION_PARAMETER = "v"


@lru_cache(maxsize=64)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def asset_version(folder: str | Path, filename: str) -> str:
    """A digest of the asset's content (re-read only when the file changes), '' when it does not exist."""
    path = Path(folder) / filename
    try:
        stat = path.stat()
    except OSError:
        return ""
    return _digest(str(path), stat.st_mtime_ns, stat.st_size)


def cache_control(response: Response, static_folder: str | None) -> str:
    """The Cache-Control header this response should carry, by what kind of response it is."""
    if request.path.startswith("/api/"):
        return CACHE_API
    if request.endpoint == ASSET_ENDPOINT and response.status_code == 200 and static_folder:
        filename = (request.view_args or {}).get("filename", "")
        wanted = request.args.get(VERSION_PARAMETER)
        # Only the URL naming the current content may be kept for good; an old or missing version revalidates.
        if wanted and wanted == asset_version(static_folder, filename):
            return CACHE_VERSIONED_ASSET
        return CACHE_PAGE
    return CACHE_PAGE


def init_app(app: Flask, static_folder: str | None = None) -> None:
    """Add the security headers to every response and Cache-Control by kind; `static_folder` holds the assets."""

    @app.after_request
    def add_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers["Cache-Control"] = cache_control(response, static_folder)
        return response
