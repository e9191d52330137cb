"""Articles sent over HTTP: one JSON record checked field by field, then cleaned exactly as `isnad index` cleans a
JSON line (`record_fields`), so an article posted and the same article indexed from a file are stored alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from indexer.ingest import stable_id
from indexer.ingest.dates import to_iso
from indexer.ingest.jsonl import FIELD_ALIASES, record_fields
from indexer.models import Article

# Every name `isnad index` reads from a JSON record (ours first, then the corpora's aliases).
RECORD_FIELDS: tuple[str, ...] = tuple(
    dict.fromkeys(name for names in FIELD_ALIASES.values() for name in names)
)
MAX_ID_CHARS = 200  # ids appear in URLs (/api/v1/articles/<id>); longer ones are a client bug


@dataclass(frozen=True, slots=True)
class RecordError(Exception):
    """Why one record cannot be stored: a stable code and a message naming the field."""

    code: str
    message: str
    status: int = 400


def _text_value(value: Any, name: str, *, lists: bool) -> None:
    """Refuse a value `isnad index` would silently drop (an object, a boolean, a list of numbers)."""
    if value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return
    if lists and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return
    kind = "a list of strings" if lists else "a string"
    raise RecordError("bad_field", f"'{name}' must be {kind}, got {type(value).__name__}")


def record_article(record: Any, origin: str, article_id: str | None = None) -> Article:
    """The clean article of one posted record; raises RecordError naming what is wrong.

    `article_id` is the id from the URL (PUT); a record may then repeat it but not name another. A record
    without an id gets the one `isnad index` derives from its URL, or else one from its title and text,
    so posting the same article twice replaces it instead of storing a copy.
    """
    if not isinstance(record, dict):
        raise RecordError(
            "bad_item", f"expected a JSON object with 'title' and 'text', got {type(record).__name__}"
        )
    unknown = sorted(set(record) - set(RECORD_FIELDS))
    if unknown:
        raise RecordError(
            "unknown_field", f"unknown field {unknown[0]!r}; valid fields: {', '.join(RECORD_FIELDS)}"
        )
    for name, value in record.items():
        _text_value(value, name, lists=name in ("text", "content", "author"))
    given_id = record.get("id")
    if given_id is not None:
        given_id = str(given_id).strip()
        if not given_id:
            raise RecordError("bad_id", "'id' is empty; leave it out to have one derived")
        if len(given_id) > MAX_ID_CHARS:
            raise RecordError(
                "bad_id", f"'id' is {len(given_id)} characters long; the limit is {MAX_ID_CHARS}"
            )
        if article_id is not None and given_id != article_id:
            raise RecordError("id_mismatch", f"the body's id {given_id!r} is not the URL's {article_id!r}")
    for name in FIELD_ALIASES["published"]:
        value = record.get(name)
        if value not in (None, "") and to_iso(value) is None:
            raise RecordError(
                "bad_date",
                f"'{name}' must be a date like 2018-03-15 or 2018-03-15T10:00:00+03:00, got {value!r}",
            )
    fields = record_fields(record)
    if not (fields["text"] or "").strip():
        raise RecordError(
            "empty_article", "'text' is empty (after removing markup and boilerplate): nothing to index"
        )
    chosen = (
        article_id
        or given_id
        or (
            stable_id(fields["url"]) if fields["url"] else stable_id(f"{fields['title']}\x00{fields['text']}")
        )
    )
    return Article(
        id=chosen,
        title=fields["title"] or "",
        text=fields["text"] or "",
        source=fields["source"],
        published=fields["published"],
        url=fields["url"],
        author=fields["author"],
        category=fields["category"],
        origin=origin,
    )
