"""Publication dates as integers: ISO 8601 strings to UTC epoch seconds, and inclusive query bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

# Articles without a date get this value in integer fields, so that sorting by date puts them last
# and range filters (whose lower bound is always above it) never match them.
UNDATED = -(2**62)


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 date or datetime; a naive value is taken as UTC. Raises ValueError naming it."""
    text = value.strip()
    try:
        if len(text) == 10:  # a bare date, "2018-02-18"
            return datetime.combine(date.fromisoformat(text), time.min, tzinfo=UTC)
        parsed = datetime.fromisoformat(text)  # 3.11 reads "Z" and any offset
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or datetime: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_epoch(value: str | None) -> int:
    """Epoch seconds of an article's `published`, or UNDATED when missing or unreadable."""
    if not value:
        return UNDATED
    try:
        return int(parse_datetime(value).timestamp())
    except (ValueError, OverflowError):
        return UNDATED


def query_bounds(date_from: str | None, date_to: str | None) -> tuple[int, int] | None:
    """Inclusive epoch-second bounds for a date filter, or None when there is none.

    A bare `date_to` covers its whole day (UTC). Raises ValueError for an unreadable date.
    """
    if not date_from and not date_to:
        return None
    low = int(parse_datetime(date_from).timestamp()) if date_from else UNDATED + 1
    if date_to:
        end = parse_datetime(date_to)
        if len(date_to.strip()) == 10:
            end += timedelta(days=1, seconds=-1)
        high = int(end.timestamp())
    else:
        high = 2**62
    return low, high
