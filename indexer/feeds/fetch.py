"""HTTP(S) GET for feeds and their pages: conditional requests, timeouts, a size cap, a clear User-Agent."""

from __future__ import annotations

import email.utils
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any

from indexer.errors import IsnadError

MAX_REDIRECTS = 5
CHUNK = 64 * 1024


class FetchError(IsnadError):
    """A request that gave nothing usable; the message names the URL and why. `retry_after` is the
    server's Retry-After in seconds, when it sent one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(slots=True)
class Response:
    """What a GET brought back; `not_modified` for a 304, then with no body."""

    url: str  # after redirects
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """The charset the Content-Type header declares, if any."""
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


def check_url(url: str) -> str | None:
    """Why `url` cannot be fetched (not http(s), no host), or None when it can."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as error:
        return f"not a valid URL ({error})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"only http:// and https:// addresses are fetched, not {parts.scheme or 'a bare path'}"
    if not parts.hostname:
        return "the address has no host"
    return None


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows at most MAX_REDIRECTS redirects, and only to http(s): never file:// or ftp://."""

    max_redirections = MAX_REDIRECTS

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urllib.parse.urljoin(req.full_url, location)
            problem = check_url(target)
            if problem:
                raise FetchError(f"{req.full_url}: redirects to {target}: {problem}")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


# Only the HTTP handlers: no file:, ftp: or data: URLs can be opened through this opener.
_OPENER = urllib.request.OpenerDirector()
for _handler in (
    urllib.request.HTTPHandler(),
    urllib.request.HTTPSHandler(),
    _Redirects(),
    urllib.request.HTTPDefaultErrorHandler(),
    urllib.request.HTTPErrorProcessor(),
):
    _OPENER.add_handler(_handler)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _read_capped(handle: Any, url: str, max_bytes: int, gzipped: bool) -> bytes:
    """The body, refused as soon as it (or, gzipped, what it unpacks to) passes `max_bytes`."""
    declared = handle.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes and not gzipped:
        raise FetchError(f"{url}: {int(declared):,} bytes, more than feeds.max_bytes ({max_bytes:,})")
    unpack = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    parts: list[bytes] = []
    size = 0
    while chunk := handle.read(CHUNK):
        if unpack is not None:
            try:
                chunk = unpack.decompress(chunk, max_bytes + 1 - size)
            except zlib.error as error:
                raise FetchError(f"{url}: the gzip body is damaged ({error})") from None
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"{url}: larger than feeds.max_bytes ({max_bytes:,} bytes); not read further")
        parts.append(chunk)
    return b"".join(parts)


def get(
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    user_agent: str,
    etag: str | None = None,
    modified: str | None = None,
    accept: str = "*/*",
) -> Response:
    """GET `url`, conditionally when `etag` / `modified` come from an earlier answer (then a 304 is a
    Response with not_modified). Raises FetchError for anything else that is not a 2xx body."""
    problem = check_url(url)
    if problem:
        raise FetchError(f"{url}: {problem}")
    headers = {"User-Agent": user_agent, "Accept": accept, "Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with _OPENER.open(request, timeout=timeout) as handle:
            gzipped = handle.headers.get("Content-Encoding", "").strip().lower() == "gzip"
            body = _read_capped(handle, url, max_bytes, gzipped)
            return Response(
                handle.geturl(),
                handle.status,
                body,
                {name.lower(): value for name, value in handle.headers.items()},
            )
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return Response(url, 304, b"", {name.lower(): value for name, value in error.headers.items()})
        raise FetchError(
            f"{url}: HTTP {error.code} {error.reason}", _retry_after(error.headers.get("Retry-After"))
        ) from None
    except FetchError:
        raise
    except TimeoutError:
        raise FetchError(f"{url}: no answer within feeds.timeout ({timeout:g} s)") from None
    except ssl.SSLError as error:
        raise FetchError(f"{url}: TLS failed ({error.reason or error})") from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise FetchError(f"{url}: no answer within feeds.timeout ({timeout:g} s)") from None
        raise FetchError(f"{url}: cannot connect ({getattr(reason, 'strerror', None) or reason})") from None
    except (HTTPException, OSError, ValueError) as error:
        # A connection cut mid-body (IncompleteRead), a reset, a malformed status line.
        raise FetchError(f"{url}: the connection failed ({type(error).__name__}: {error})") from None
