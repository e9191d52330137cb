"""Normalise the many ways news sites write dates (RFC 2822, SQL-style, Arabic month names) to ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2)
_HARAKAT_TATWEEL = re.compile("[\u064b-\u0652\u0640]")
_ALEFS = str.maketrans("أإآ", "ااا")

# Month names as Arabic newspapers print them. Egyptian/Gulf forms follow the Latin names; Levantine/Iraqi
# forms are the Syriac-derived names (كانون الثاني = January ... كانون الأول = December); Maghrebi forms
# follow French.
# Spellings are folded (أإآ → ا) before lookup, so one entry covers the hamza variants.
_ARABIC_MONTHS = {
    "يناير": 1,
    "فبراير": 2,
    "مارس": 3,
    "ابريل": 4,
    "مايو": 5,
    "يونيو": 6,
    "يونيه": 6,
    "يوليو": 7,
    "يوليه": 7,
    "اغسطس": 8,
    "سبتمبر": 9,
    "اكتوبر": 10,
    "نوفمبر": 11,
    "ديسمبر": 12,
    "كانون الثاني": 1,
    "شباط": 2,
    "اذار": 3,
    "نيسان": 4,
    "ايار": 5,
    "حزيران": 6,
    "تموز": 7,
    "اب": 8,
    "ايلول": 9,
    "تشرين الاول": 10,
    "تشرين الثاني": 11,
    "كانون الاول": 12,
    "جانفي": 1,
    "فيفري": 2,
    "افريل": 4,
    "ماي": 5,
    "جوان": 6,
    "جويليه": 7,
    "جويلية": 7,
    "اوت": 8,
    "يوليوز": 7,
    "غشت": 8,
    "شتنبر": 9,
    "نونبر": 11,
    "دجنبر": 12,
}
_ENGLISH_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTHS = {**_ARABIC_MONTHS, **_ENGLISH_MONTHS}
_MONTH_ALT = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
# The (?<![\w]) guards stop "اب" matching inside a longer word; Arabic letters count as \w in Python's re.
_MONTH = rf"(?<!\w)(?:{_MONTH_ALT})(?!\w)"
_DAY_MONTH_YEAR = re.compile(
    rf"(?<!\d)(?P<day>\d{{1,2}})\s*(?:من\s+)?(?P<month>{_MONTH})"
    rf"(?:\s*[/(\-]\s*{_MONTH}\s*\)?)?\s*,?\s*(?:عام\s+|سنة\s+)?(?P<year>\d{{4}})(?!\d)",
    re.IGNORECASE,
)
_MONTH_DAY_YEAR = re.compile(
    rf"(?P<month>{_MONTH})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})(?!\d)", re.IGNORECASE
)
_NUMERIC = re.compile(
    r"(?<!\d)(?:(?P<y1>\d{4})[/.\-](?P<m1>\d{1,2})[/.\-](?P<d1>\d{1,2})|(?P<d2>\d{1,2})[/.\-](?P<m2>\d{1,2})"
    r"[/.\-](?P<y2>\d{4}))(?!\d)"
)
_TIME = re.compile(
    r"(?<!\d)(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>صباحا|مساء|ص|م|am|pm|a\.m\.|p\.m\.)?"
    r"(?!\w)\s*(?P<tz>(?:gmt|utc)?\s*[+-]\d{1,2}(?::?\d{2})?|gmt|utc|z(?!\w))?",
    re.IGNORECASE,
)


def _fold(text: str) -> str:
    text = _HARAKAT_TATWEEL.sub("", text.translate(_DIGITS)).translate(_ALEFS)
    return " ".join(text.replace("\u060c", ",").split())


def _offset(tz: str | None) -> timezone | None:
    if not tz:
        return None
    tz = tz.strip().lower().removeprefix("gmt").removeprefix("utc").strip()
    if tz in ("", "z"):
        return UTC
    match = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?", tz)
    if not match:
        return None
    sign = -1 if match.group(1) == "-" else 1
    minutes = int(match.group(2)) * 60 + int(match.group(3) or 0)
    if minutes > 14 * 60:
        return None
    return timezone(sign * timedelta(minutes=minutes))


def _with_time(day: date, text: str) -> str:
    match = _TIME.search(text)
    if not match:
        return day.isoformat()
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"] or 0)
    ampm = (match["ampm"] or "").lower().replace(".", "")
    if ampm in ("م", "مساء", "pm") and hour < 12:
        hour += 12
    elif ampm in ("ص", "صباحا", "am") and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        return day.isoformat()
    moment = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=_offset(match["tz"]))
    return moment.isoformat()


def _epoch(value: float) -> str | None:
    seconds = value / 1000 if value > 1e11 else value  # millisecond timestamps are common in JSON exports
    try:
        return datetime.fromtimestamp(seconds, tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def to_iso(value: object) -> str | None:
    """ISO 8601 for a date as found in the input, keeping a given UTC offset; None when it cannot be read."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _epoch(float(value))
    if not isinstance(value, str):
        return None
    text = _fold(value)
    if not text:
        return None
    if re.fullmatch(r"\d{9,13}(?:\.\d+)?", text):
        return _epoch(float(text))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return _checked(int(text[:4]), int(text[5:7]), int(text[8:]), "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")).isoformat()
    except ValueError:
        pass
    if re.match(r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d", text):
        try:
            return parsedate_to_datetime(text).isoformat()
        except (TypeError, ValueError, IndexError):
            pass
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        match = pattern.search(text)
        if match:
            month = _MONTHS[match["month"].lower()]
            return _checked(int(match["year"]), month, int(match["day"]), text[match.end() :])
    match = _NUMERIC.search(text)
    if match:
        if match["y1"]:
            year, month, day = int(match["y1"]), int(match["m1"]), int(match["d1"])
        else:
            year, month, day = int(match["y2"]), int(match["m2"]), int(match["d2"])
        return _checked(year, month, day, text[match.end() :])
    return None


def _checked(year: int, month: int, day: int, rest: str) -> str | None:
    try:
        return _with_time(date(year, month, day), rest)
    except ValueError:
        return None
