"""Pure functions for stories at query time: collapsing ranked articles into one result per story (or
copy group), what a result says of its story, and the matches' timeline (`facets.date`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar

from indexer.grouping.store import GroupRow
from indexer.stores.dates import UNDATED, to_epoch

COLLAPSE = ("story", "copy", "none")  # what one search result stands for
T = TypeVar("T")
# The timeline's bar width by the span of the matches' dates: daily up to two months, weekly up to half a
# year, monthly beyond; at most about 60 bars up to five years.
DAILY_UP_TO_DAYS = 62
WEEKLY_UP_TO_DAYS = 182
DAYS_CACHED = 1 << 16  # distinct article date strings whose day is remembered


@dataclass(slots=True)
class Collapsed(Generic[T]):
    """One result: its best-ranked article and the other matching articles of the same group, ranked."""

    key: str
    lead: T
    others: list[T] = field(default_factory=list)


def group_key(article_id: str, row: GroupRow | None, collapse: str) -> str:
    """What the article collapses on: its story, else its copy group, else itself."""
    if row is None or collapse == "none":
        return "a:" + article_id
    if collapse == "story" and row.story:
        return "s:" + row.story
    return "c:" + row.copy_group


def collapse(
    items: Sequence[T], article_id: Any, rows: Mapping[str, GroupRow], how: str
) -> list[Collapsed[T]]:
    """Ranked items (each an article, `article_id(item)` its id) to one entry per group, in the rank of each
    group's best item."""
    groups: dict[str, Collapsed[T]] = {}
    for item in items:
        aid = article_id(item)
        key = group_key(aid, rows.get(aid), how)
        if key in groups:
            groups[key].others.append(item)
        else:
            groups[key] = Collapsed(key, item)
    return list(groups.values())


def story_summary(story: str | None, members: Sequence[GroupRow]) -> dict[str, Any] | None:
    """`{id, size, sources}`: the story's article count and its outlets by first publication."""
    if story is None:
        return None
    sources = list(dict.fromkeys(m.source for m in members if m.source))
    return {"id": story, "size": len(members), "sources": sources}


def timeline(published: Sequence[str | None]) -> dict[str, Any]:
    """Matching articles per day, week or month (chosen by the span), each bucket with the inclusive
    from/to dates a link filters on; undated articles are counted apart."""
    # Each distinct date string is looked at once (counted in C first): a keyword page's timeline counts
    # hundreds of matches, and their date strings repeat.
    per_day: dict[date, int] = {}
    undated = 0
    for value, count in Counter(published).items():
        day = _DAYS.get(value, _UNSEEN)  # one lookup: another thread may empty the memo in between
        if day is _UNSEEN:
            day = _utc_day(value)
        if day is None:
            undated += count
        else:
            per_day[day] = per_day.get(day, 0) + count
    if not per_day:
        return {"interval": None, "buckets": [], "undated": undated}
    first_day, last_day = min(per_day), max(per_day)
    span = (last_day - first_day).days
    interval = "day" if span <= DAILY_UP_TO_DAYS else "week" if span <= WEEKLY_UP_TO_DAYS else "month"
    counts: dict[date, int] = per_day
    if interval != "day":
        counts = {}
        for day, count in per_day.items():  # each distinct day bucketed once
            bucket = _bucket_start(day, interval)
            counts[bucket] = counts.get(bucket, 0) + count
    buckets = []
    start = _bucket_start(first_day, interval)
    last = _bucket_start(last_day, interval)
    one_day = timedelta(days=1)
    while start <= last:  # empty periods too, so the bars' spacing is the calendar's
        end = _bucket_end(start, interval)
        first = start.isoformat()
        buckets.append(
            {
                "value": first if interval != "month" else first[:7],
                "from": first,
                "to": end.isoformat(),
                "count": counts.get(start, 0),
            }
        )
        start = end + one_day
    return {"interval": interval, "buckets": buckets, "undated": undated}


_DAYS: dict[str | None, date | None] = {}
# "Not memoised yet": compared by identity, so no date parsed from a string is taken for it.
_UNSEEN = date.min


def _utc_day(published: str | None) -> date | None:
    """The UTC calendar day of an article's date as stored, None when undated. Memoised in a plain dict
    (emptied when full), read by `timeline` directly: a keyword page's timeline reads the dates of hundreds
    of matches, the archive's date strings repeat, and a dict lookup costs half a bounded lru_cache's."""
    seconds = to_epoch(published)
    day = None if seconds == UNDATED else datetime.fromtimestamp(seconds, UTC).date()
    if len(_DAYS) >= DAYS_CACHED:
        _DAYS.clear()
    _DAYS[published] = day
    return day


def _bucket_start(day: date, interval: str) -> date:
    if interval == "day":
        return day
    if interval == "week":  # weeks start on Saturday, as in most Arabic calendars
        return day - timedelta(days=(day.weekday() - 5) % 7)
    return day.replace(day=1)


def _bucket_end(start: date, interval: str) -> date:
    if interval == "day":
        return start
    if interval == "week":
        return start + timedelta(days=6)
    following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


# Related articles: cosine of the article vectors, less up to this much for being far apart in time, so
# of two equally close articles the one from the same days comes first.
DATE_PENALTY = 0.03
DATE_PENALTY_DAYS = 30  # the full penalty from this many days apart


def days_apart(a: str | None, b: str | None) -> int | None:
    first, second = to_epoch(a), to_epoch(b)
    if UNDATED in (first, second):
        return None
    return abs(first - second) // 86_400


def related_score(similarity: float, days: int | None) -> float:
    """The related list's order: similarity, nudged down by distance in time (undated: half the penalty)."""
    share = 0.5 if days is None else min(1.0, days / DATE_PENALTY_DAYS)
    return similarity - DATE_PENALTY * share


def why_related(similarity: float, same_story: bool, days: int | None) -> list[str]:
    """Machine-readable reasons, most telling first: 'story' (the same event), 'similar' (close text)."""
    return ["story", "similar"] if same_story else ["similar"]
