"""What a client sends, checked once at the edge: UTF-8 URLs, and JSON bodies of bounded depth and valid Unicode.

Every text that passes here is a sequence of real characters, so nothing further in (the analyzer, the
embedder, SQLite, the templates) meets a byte it cannot encode. JSON's `\\ud800` escapes decode to lone
surrogates, which Python keeps in a `str` but no encoder accepts; they are refused here with the field
that held them, instead of failing later inside a store or in a batch shared with other requests.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, request

from webapp.errors import BadRequest

# An ask body is {question, history: [{role, content}], mode}: three levels. Eight leaves room for
# clients that wrap values and still refuses the 100,000 `[` that would exhaust the parser's stack.
MAX_JSON_DEPTH = 8
_SURROGATE = re.compile("[\ud800-\udfff]")


def _invalid_utf8(what: str, raw: bytes, error: UnicodeDecodeError) -> BadRequest:
    return BadRequest(
        "invalid_unicode",
        f"{what} is not valid UTF-8: byte 0x{raw[error.start]:02x} at byte "
        f"{error.start}; encode text as UTF-8",
    )


def check_url() -> None:
    """Refuse a path or query string whose percent-escapes are not UTF-8 (Werkzeug would turn them into
    U+FFFD silently, so the query searched would not be the one typed)."""
    # The server has already percent-decoded PATH_INFO; WSGI hands its bytes over as latin-1.
    path = request.environ.get("PATH_INFO", "").encode("latin-1", "replace")
    try:
        path.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _invalid_utf8("the URL path", path, error) from None
    query = request.query_string.replace(b"+", b" ")
    raw = unquote_to_bytes(query)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _invalid_utf8("the query string", raw, error) from None


def _where(path: list[str | int]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text or "the body"


def _check_text(text: str, path: list[str | int], what: str) -> None:
    found = _SURROGATE.search(text)
    if found is not None:
        raise BadRequest(
            "invalid_unicode",
            f"{what} {_where(path)!r} holds \\u{ord(found.group()):04x} at "
            f"character {found.start()}, a lone UTF-16 surrogate that is not "
            f"a character; send valid Unicode text",
        )


def check_tree(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse a parsed JSON value nested deeper than `max_depth` or holding a lone surrogate in any
    string or key. Walks with its own stack, so no depth can overflow Python's."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            _check_text(item, path, "the text at")
            continue
        if not isinstance(item, (dict, list)):
            continue
        if len(path) >= max_depth:
            raise BadRequest(
                "malformed_json",
                f"the request body nests deeper than {max_depth} levels "
                f"(at {_where(path)}); no request needs that",
            )
        if isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, path, "a key in")
                stack.append((child, [*path, key]))
        else:
            stack.extend((child, [*path, i]) for i, child in enumerate(item))


def read_json_body() -> Any:
    """The request body as JSON: strict UTF-8, valid JSON, at most MAX_JSON_DEPTH deep, valid Unicode."""
    raw = request.get_data(cache=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(
            "malformed_json",
            f"the request body is not valid JSON: not UTF-8 (byte "
            f"0x{raw[error.start]:02x} at byte {error.start})",
        ) from None
    try:
        body = json.loads(text)
    except RecursionError:
        # The C parser gives up with RecursionError on a few thousand nested arrays or objects.
        raise BadRequest(
            "malformed_json",
            f"the request body nests deeper than {MAX_JSON_DEPTH} levels; no request needs that",
        ) from None
    except ValueError as error:
        raise BadRequest("malformed_json", f"the request body is not valid JSON: {error}") from None
    check_tree(body)
    return body


def init_app(app: Flask) -> None:
    """Check every request's URL before any view reads it."""
    app.before_request(check_url)
