"""Read articles from JSON lines or JSON arrays, mapping the shared corpora's field names onto ours."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from indexer.ingest import cleaning
from indexer.ingest.dates import to_iso

# Our canonical keys first; then the names the shared corpora and common exports use for the same thing.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "title": ("title",),
    "text": ("text", "content"),
    "published": ("published", "time", "date", "date_extracted"),
    "source": ("source", "src"),
    "url": ("url",),
    "author": ("author",),
    "category": ("category", "cat"),
}


def _pick(record: dict[str, Any], field: str) -> Any:
    for key in FIELD_ALIASES[field]:
        value = record.get(key)
        if value not in (None, ""):
            return value
    return None


def _as_text(value: Any) -> str | None:
    """A string field; lists of strings (paragraphs, several authors) are joined, other shapes ignored."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n\n".join(value)
    return None


_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")


def _unescape(text: str) -> str:
    """HTML entities some scrapers leave in JSON ("&quot;", "&nbsp;") as the characters they stand for."""
    return html.unescape(text) if _ENTITY.search(text) else text


def record_fields(record: dict[str, Any]) -> dict[str, str | None]:
    """The canonical fields of one JSON record, cleaned: body whitespace, one-line title, ISO date."""
    text = cleaning.clean_body(cleaning.strip_boilerplate(_unescape(_as_text(_pick(record, "text")) or "")))
    title = cleaning.normalize_line(_unescape(_as_text(_pick(record, "title")) or "").replace("\n", " "))
    fields: dict[str, str | None] = {
        "id": _as_text(_pick(record, "id")),
        "title": title or (cleaning.derive_title(text) if text else ""),
        "text": text,
        "published": to_iso(_pick(record, "published")),
    }
    for name in ("source", "url", "author", "category"):
        value = _as_text(_pick(record, name))
        fields[name] = cleaning.normalize_line(value.replace("\n", " ")) or None if value else None
    return fields


def parse_lines(lines: Iterable[tuple[int, str | None]]) -> Iterator[tuple[int, dict[str, Any] | str | None]]:
    """(line number, record) for each non-blank JSON line, or (line number, error message) when it is not one.

    A line given as None (its bytes did not decode) comes back as (line number, None).
    """
    for number, line in lines:
        if line is None:
            yield number, None
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, f"{error.msg}: column {error.colno}"
            continue
        except RecursionError:
            # One line nested deeper than the parser can follow is that line's fault, not the file's.
            yield number, "nested too deeply to be an article"
            continue
        if isinstance(value, dict):
            yield number, value
        else:
            yield number, f"expected a JSON object, found {type(value).__name__}"


def _array_records(items: list[Any]) -> list[tuple[int, dict[str, Any] | str | None]]:
    return [
        (index, item if isinstance(item, dict) else f"expected a JSON object, found {type(item).__name__}")
        for index, item in enumerate(items, start=1)
    ]


def _wrapped_list(value: dict[str, Any]) -> list[Any] | None:
    """The article list of an export wrapped in an object, like {"articles": [...]}: its only list of objects."""
    if any(key in value for key in FIELD_ALIASES["text"]):
        return None
    lists = [v for v in value.values() if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)]
    return lists[0] if len(lists) == 1 else None


def parse_document(text: str) -> tuple[str, list[tuple[int, dict[str, Any] | str | None]]]:
    """Records of a .json file: an array of objects, one object (or one wrapping an array), or JSON lines.

    Returns the separator for origins ("#" when positions are array indexes, ":" when they are line numbers) and
    (position, record-or-error) pairs. Raises json.JSONDecodeError when an array or object is malformed.
    """
    stripped = text.lstrip()
    if stripped.startswith("["):
        value = json.loads(text)
        return "#", _array_records(value if isinstance(value, list) else [value])
    if stripped.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None  # not one object: read it as JSON lines below
        if isinstance(value, dict):
            wrapped = _wrapped_list(value)
            return ("#", _array_records(wrapped)) if wrapped is not None else (":", [(1, value)])
    return ":", list(parse_lines(enumerate(text.split("\n"), start=1)))
