"""Read an RSS 2.0 / Atom document with feedparser into items; a feed that is not one is a clear error."""

from __future__ import annotations

import codecs
import hashlib
import io
import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from indexer.errors import IsnadError


class FeedFormatError(IsnadError):
    """The bytes are not a feed we can trust: not XML, cut short, wrongly declared encoding, no RSS/Atom."""


@dataclass(slots=True)
class FeedItem:
    """One entry of a feed: `key` identifies it across polls (its guid / Atom id, else its link), `digest`
    changes whenever the entry's title, link, summary, content or dates do."""

    key: str
    link: str | None
    title: str
    published: str | None  # ISO 8601, UTC
    digest: str


@dataclass(slots=True)
class Feed:
    title: str
    version: str  # feedparser's name of the format: rss20, atom10, ...
    items: list[FeedItem]


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_XML_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_HTML_START = re.compile(r"\s*(?:<!doctype\s+html|<html[\s>])", re.IGNORECASE)


def _codec(name: str, where: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise FeedFormatError(
            f"{where} declares the encoding {name!r}, which is not one Python knows"
        ) from None


def declared_encoding(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """The encoding the document says it is in and who says so: a byte-order mark, else the HTTP charset
    and the XML declaration (which must agree), else (None) UTF-8, as XML prescribes."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, "its byte-order mark"
    match = _XML_DECLARATION.match(data[:1024])
    in_document = _codec(match.group(1).decode("ascii"), "the XML declaration") if match else None
    in_header = _codec(charset, "the Content-Type header") if charset else None
    if in_document and in_header and in_document != in_header:
        raise FeedFormatError(
            f"wrong declared encoding: the server says {charset} (Content-Type) but the "
            f"document's XML declaration says {match.group(1).decode('ascii') if match else ''}"
        )
    if in_header:
        return in_header, "the Content-Type header"
    if in_document:
        return in_document, "its XML declaration"
    return "utf-8", None


def _check_encoding(data: bytes, encoding: str, declared_by: str | None) -> str:
    """The text, or a FeedFormatError naming the line where the bytes stop being `encoding`."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        if error.end >= len(data) and "end of data" in error.reason:
            raise FeedFormatError(
                f"the document ends in the middle of a character at line {line} (truncated?)"
            ) from None
        how = (
            f"is declared {encoding} by {declared_by}"
            if declared_by
            else "declares no encoding, so it must be UTF-8"
        )
        raise FeedFormatError(
            f"wrong declared encoding: the document {how}, but byte {error.start} "
            f"(line {line}) is not {encoding}"
        ) from None


def _iso(parsed: Any) -> str | None:
    if not parsed:
        return None
    try:
        year, month, day, hour, minute, second = parsed[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC).isoformat()
    except (TypeError, ValueError):
        return None


def _field(entry: Any, name: str) -> Any:
    """An entry's own value of `name`: dict.get skips feedparser's deprecated stand-ins (`published`
    answered with `updated`), which would also warn."""
    return dict.get(entry, name)


def _digest(entry: Any) -> str:
    digest = hashlib.blake2b(digest_size=16)
    contents = [part.get("value", "") for part in _field(entry, "content") or []]
    for value in (
        _field(entry, "id"),
        _field(entry, "link"),
        _field(entry, "title"),
        _field(entry, "summary"),
        *contents,
        _field(entry, "updated"),
        _field(entry, "published"),
    ):
        digest.update(str(value or "").encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _item(entry: Any, base: str) -> FeedItem:
    link = entry.get("link") or None
    if link:
        link = urllib.parse.urljoin(base, link.strip())
    title = " ".join(str(entry.get("title") or "").split())
    key = str(entry.get("id") or "").strip() or link or f"digest:{_digest(entry)}"
    published = _iso(_field(entry, "published_parsed")) or _iso(_field(entry, "updated_parsed"))
    return FeedItem(key, link, title, published, _digest(entry))


def _syntax_error(error: Any, text: str) -> FeedFormatError:
    message = error.getMessage() if hasattr(error, "getMessage") else str(error)
    line = error.getLineNumber() if hasattr(error, "getLineNumber") else None
    column = error.getColumnNumber() if hasattr(error, "getColumnNumber") else None
    where = f" at line {line}, column {column}" if line else ""
    last_line = text.rstrip().count("\n") + 1
    if message == "no element found" or (
        message == "unclosed token" and line is not None and line >= last_line
    ):
        hint = "; the document ends before its last element is closed (truncated?)"
    elif _HTML_START.match(text):
        hint = "; it is an HTML page, not an RSS or Atom feed"
    elif not text.lstrip().startswith("<"):
        hint = "; it is not XML at all"
    else:
        hint = ""
    return FeedFormatError(f"not well-formed XML{where} ({message}){hint}")


def parse_feed(data: bytes, url: str, charset: str | None = None) -> Feed:
    """The feed's title and items, links made absolute against `url`; FeedFormatError when `data` is not
    a complete, correctly encoded RSS or Atom document (feedparser would read some of it anyway, but
    what it guesses from a broken feed is not worth indexing)."""
    if not data.strip():
        raise FeedFormatError("the answer is empty, not a feed")
    encoding, declared_by = declared_encoding(data, charset)
    text = _check_encoding(data, encoding, declared_by)
    headers = {"content-location": url, "content-type": f"application/xml; charset={encoding}"}
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    error = parsed.get("bozo_exception")
    if parsed.get("bozo") and error is not None:
        if hasattr(error, "getLineNumber") or type(error).__name__ == "SAXParseException":
            raise _syntax_error(error, text)
        if not isinstance(error, (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)):
            raise FeedFormatError(f"feedparser could not read it ({type(error).__name__}: {error})")
    version = parsed.get("version") or ""
    if not version:
        root = re.search(
            r"<([A-Za-z_][\w:.-]*)",
            re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", text, flags=re.DOTALL),
        )
        what = f"its root element is <{root.group(1)}>" if root else "no root element"
        raise FeedFormatError(f"not an RSS or Atom feed ({what})")
    base = parsed.get("href") or url
    title = " ".join(str(parsed.feed.get("title") or "").split())
    return Feed(title, version, [_item(entry, base) for entry in parsed.entries])
