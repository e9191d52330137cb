"""Read input files (scraped .txt pages, JSON lines/arrays, HTML; .gz too) into clean, deduplicated articles."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from indexer.ingest import files
from indexer.ingest.html import extract_html
from indexer.ingest.jsonl import parse_document, parse_lines, record_fields
from indexer.ingest.scraped import split_page
from indexer.models import Article, IngestSummary, Problem

ProblemHandler = Callable[[Problem], None]


@dataclass(slots=True)
class _Read:
    """An article as a reader made it; `fallback` is a second derived id for when the first is already taken
    (two folders holding a file of the same name), None when the id came from the input itself."""

    article: Article
    fallback: str | None


_Item = _Read | Problem


def stable_id(key: str) -> str:
    """A short id (16 hex digits) derived from an input identity such as a URL or "file.jsonl:12"."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


def _fallback_id(path: Path, position: str) -> str:
    return stable_id(f"{path.resolve()}{position}")


def _article(fields: dict[str, str | None], article_id: str, origin: str) -> Article:
    return Article(
        id=article_id,
        title=fields.get("title") or "",
        text=fields.get("text") or "",
        source=fields.get("source"),
        published=fields.get("published"),
        url=fields.get("url"),
        author=fields.get("author"),
        category=fields.get("category"),
        origin=origin,
    )


def _from_records(path: Path, records: Iterator[tuple[int, dict | str | None]], sep: str) -> Iterator[_Item]:
    """Articles from parsed JSON records; `sep` joins path and position in origins (":" line, "#" index)."""
    urls_seen: set[str] = set()
    for position, record in records:
        origin = f"{path}{sep}{position}"
        if record is None:
            yield Problem(origin, "unreadable line", "the bytes do not decode as text")
            continue
        if isinstance(record, str):
            yield Problem(origin, "malformed json", record)
            continue
        fields = record_fields(record)
        url = fields["url"]
        fallback: str | None = _fallback_id(path, f"{sep}{position}")
        if fields["id"]:
            article_id, fallback = fields["id"], None
        elif url and url not in urls_seen:
            article_id = stable_id(url)
        else:
            # No URL, or a URL already used in this file for a different text: the position identifies it.
            article_id = stable_id(f"{path.name}{sep}{position}")
        if url:
            urls_seen.add(url)
        yield _Read(_article(fields, article_id, origin), fallback)


MAX_LINE_NOTES = 20  # repaired lines reported one by one per file; beyond that, one count at the end


def _guessed_note(path: Path, encoding: str) -> Problem:
    return Problem(
        str(path),
        "encoding guessed",
        f"read as {encoding}: the bytes are not UTF-8 and there is no byte-order mark",
        skipped=False,
    )


def _repaired_note(path: Path, decoded: files.Decoded) -> Iterator[Problem]:
    """One note for a file whose invalid UTF-8 bytes were replaced, naming the lines that held them."""
    if decoded.replaced_bytes:
        lines = decoded.repaired_lines
        shown = ", ".join(map(str, lines[:10])) + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")
        yield Problem(
            f"{path}:{lines[0]}",
            "invalid utf-8",
            f"{_bytes(decoded.replaced_bytes)} replaced with U+FFFD, on line{'s' * (len(lines) > 1)} {shown}",
            skipped=False,
        )


def _bytes(count: int) -> str:
    return f"{count} invalid byte{'s' * (count != 1)}"


def _empty_file(path: Path) -> Problem:
    return Problem(str(path), "empty file", "no articles in it")


def _read_jsonl(path: Path) -> Iterator[_Item]:
    lines = files.Lines(path)
    if lines.guessed:
        yield _guessed_note(path, lines.encoding)
    found = reported = 0
    for item in _from_records(path, parse_lines(lines), ":"):
        # Notes for repaired lines come just before what was read from them.
        for number, replaced in lines.repaired:
            reported += 1
            if reported <= MAX_LINE_NOTES:
                yield Problem(
                    f"{path}:{number}",
                    "invalid utf-8",
                    f"{_bytes(replaced)} replaced with U+FFFD; the rest of the line is kept",
                    skipped=False,
                )
        lines.repaired.clear()
        found += 1
        yield item
    if reported > MAX_LINE_NOTES:
        yield Problem(
            str(path),
            "invalid utf-8",
            f"{reported - MAX_LINE_NOTES} more lines had invalid bytes replaced with U+FFFD",
            skipped=False,
        )
    if not found:
        yield _empty_file(path)


def _read_json(path: Path) -> Iterator[_Item]:
    decoded = files.read_decoded(path)
    if decoded.guessed:
        yield _guessed_note(path, decoded.encoding)
    yield from _repaired_note(path, decoded)
    try:
        sep, records = parse_document(decoded.text)
    except json.JSONDecodeError as error:
        yield Problem(f"{path}:{error.lineno}", "malformed json", f"{error.msg}: column {error.colno}")
        return
    if not records:
        yield _empty_file(path)
        return
    yield from _from_records(path, iter(records), sep)


_HTML_START = re.compile(r"\s*(?:<!doctype\s+html|<html[\s>])", re.IGNORECASE)


def _decoded_text(path: Path) -> Generator[_Item, None, str | None]:
    """Yields the notes on how `path` was decoded (a guessed encoding, repaired bytes) or that it is empty;
    returns its text, or None when there is nothing to read."""
    decoded = files.read_decoded(path)
    if decoded.guessed:
        yield _guessed_note(path, decoded.encoding)
    yield from _repaired_note(path, decoded)
    if not decoded.text.strip():
        yield _empty_file(path)
        return None
    return decoded.text


def _read_scraped(path: Path) -> Iterator[_Item]:
    text = yield from _decoded_text(path)
    if text is None:
        return
    if _HTML_START.match(text):
        # A web page saved with a .txt name: read it as the HTML it is.
        yield from _read_html(path, text)
        return
    stories = split_page(text)
    if not stories:
        yield Problem(str(path), "empty article", "no story text on the page")
    for number, story in enumerate(stories, start=1):
        fields: dict[str, str | None] = {
            "title": story.title,
            "text": "\n\n".join(story.paragraphs),
            "source": story.source,
            "published": story.published,
        }
        article = _article(fields, stable_id(f"{path.name}#{number}"), f"{path}#{number}")
        yield _Read(article, _fallback_id(path, f"#{number}"))


def _read_html(path: Path, text: str | None = None) -> Iterator[_Item]:
    if text is None:
        text = yield from _decoded_text(path)
        if text is None:
            return
    fields = extract_html(text)
    if fields is None:
        yield Problem(str(path), "empty article", "no main text found in the page")
        return
    yield _Read(_article(fields, stable_id(fields["url"] or path.name), str(path)), _fallback_id(path, ""))


def article_from_html(
    text: str, article_id: str, origin: str, defaults: dict[str, str | None]
) -> Article | None:
    """An article from a web page fetched by URL (a feed item), read like an .html file: trafilatura's main
    text, title and date; `defaults` fill the fields the page does not give (the feed's title, date, link).
    None when the page has no main text."""
    fields = extract_html(text)
    if fields is None:
        return None
    merged = {key: fields.get(key) or defaults.get(key) for key in {*fields, *defaults}}
    return _article(merged, article_id, origin)


_READERS: dict[str, Callable[[Path], Iterator[_Item]]] = {
    "scraped": _read_scraped,
    "jsonl": _read_jsonl,
    "json": _read_json,
    "html": _read_html,
}


def _text_key(text: str) -> bytes:
    """Fingerprint for exact-duplicate detection: the text with all whitespace runs made equal."""
    return hashlib.blake2b(" ".join(text.split()).encode("utf-8"), digest_size=16).digest()


def iter_articles(
    paths: Iterable[str | Path], summary: IngestSummary, on_problem: ProblemHandler
) -> Iterator[Article]:
    """Clean articles from files and directories, in sorted order, each exact text once (see read_walked)."""
    yield from read_walked(files.expand(paths), summary, on_problem)


def read_walked(
    walked: Iterable[files.Entry], summary: IngestSummary, on_problem: ProblemHandler
) -> Iterator[Article]:
    """Clean articles from the files a walk of the inputs found (`files.expand`), each exact text once.

    Counts go to `summary`: `read` counts article records found (including those then skipped as empty or
    duplicate); `skipped[reason]` counts everything left out. Every problem is passed to `on_problem` with the
    file (and line) and reason, and reading goes on with the next record or file.
    """

    def problem(item: Problem) -> None:
        if item.skipped:
            summary.skip(item.reason)
        else:
            summary.note(item.reason)
        on_problem(item)

    seen_texts: set[bytes] = set()
    seen_ids: set[str] = set()
    for path, kind, missing in walked:
        if missing:
            problem(Problem(str(path), "unreadable file", missing))
            continue
        if kind is None:
            problem(
                Problem(str(path), "unsupported extension", "expected .txt, .jsonl, .json, .html (or .gz)")
            )
            continue
        try:
            for read in _READERS[kind](path):
                if isinstance(read, Problem):
                    if read.reason == "empty article":
                        summary.read += 1
                    problem(read)
                    continue
                item = read.article
                summary.read += 1
                if not item.text.strip():
                    problem(Problem(item.origin, "empty article", "no text"))
                    continue
                key = _text_key(item.text)
                if key in seen_texts:
                    summary.skip("duplicate")
                    continue
                if item.id in seen_ids and read.fallback and read.fallback not in seen_ids:
                    item.id = read.fallback
                if item.id in seen_ids:
                    problem(
                        Problem(
                            item.origin, "duplicate id", f"id {item.id!r} was already used by another article"
                        )
                    )
                    continue
                seen_texts.add(key)
                seen_ids.add(item.id)
                yield item
        except files.DecodeError as error:
            problem(Problem(str(path), error.reason, error.detail))
        except files.READ_ERRORS as error:
            problem(Problem(str(path), "unreadable file", str(error) or type(error).__name__))
        except (ValueError, RecursionError, MemoryError) as error:
            # A parser giving up on one odd file (trafilatura raises ValueError, json nests too deep) must not
            # stop a long indexing run: the file is reported and skipped like any unreadable one.
            problem(Problem(str(path), "unreadable file", f"{type(error).__name__}: {error}"))


__all__ = ["article_from_html", "iter_articles", "stable_id"]
