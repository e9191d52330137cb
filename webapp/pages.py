"""The HTML face of Isnad: search, chat and article pages rendered server-side, right-to-left Arabic."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from retrieval.query import parse_query
from retrieval.search import MODES as SEARCH_MODES
from retrieval.search import SORTS as SEARCH_SORTS
from webapp.errors import ApiError
from webapp.headers import VERSION_PARAMETER, asset_version
from webapp.services import get_services

# Assets under /assets so they never collide with an app-level /static route.
bp = Blueprint(
    "pages", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)

# The search form's single-valued parameters, in the order they appear in shared URLs.
SEARCH_FIELDS = ("q", "mode", "from", "to", "sort", "page", "size", "collapse")
MODE_LABELS = {"hybrid": "الكلمات والمعنى", "keyword": "الكلمات فقط", "semantic": "المعنى فقط"}
MODES = tuple((mode, MODE_LABELS[mode]) for mode in SEARCH_MODES)  # a mode without a label fails at import
SORT_LABELS = {"relevance": "الأكثر صلة", "date": "الأحدث"}
SORTS = tuple((sort, SORT_LABELS[sort]) for sort in SEARCH_SORTS)

# Gregorian month names as used across Egyptian and Gulf news sites (Levantine names differ).
MONTHS = (
    "يناير",
    "فبراير",
    "مارس",
    "أبريل",
    "مايو",
    "يونيو",
    "يوليو",
    "أغسطس",
    "سبتمبر",
    "أكتوبر",
    "نوفمبر",
    "ديسمبر",
)


# Arabic wording for the errors a reader can cause from the search form, by the service's error code;
# an unlisted code falls back to the service's own message.
ERROR_MESSAGES = {
    "empty_query": "اكتب كلمة أو عبارة للبحث عنها.",
    "query_too_long": "نص البحث أطول من اللازم؛ الحد الأقصى 500 حرف.",
    "bad_page": "رقم الصفحة غير صالح.",
    "bad_size": "عدد النتائج في الصفحة غير صالح.",
    "bad_date": "التاريخ غير صالح: اكتبه على صورة 2018-03-15، وليكن تاريخ البداية قبل تاريخ النهاية.",
    "unknown_mode": "طريقة البحث غير معروفة؛ اختر هجينًا أو بالكلمات أو بالمعنى.",
    "bad_sort": "الترتيب غير معروف؛ اختر الأكثر صلة أو الأحدث.",
    "repeated_parameter": "تكرّر أحد خيارات البحث في الرابط.",
    "unknown_source": "لا توجد مقالات من هذا المصدر في الفهرس؛ اختر مصدرًا من قائمة المصادر.",
}


def error_message(error: ApiError) -> str:
    """What to tell a reader about a bad request, in Arabic when the error is one we know."""
    return ERROR_MESSAGES.get(error.code, error.message)


def search_params(args: MultiDict[str, str]) -> dict[str, Any]:
    """The search parameters present in a query string; blank fields are left out, `source` is a list."""
    params: dict[str, Any] = {}
    for name in SEARCH_FIELDS:
        value = args.get(name, "").strip()
        if value:
            params[name] = value
    sources = [s for s in args.getlist("source") if s.strip()]
    if sources:
        params["source"] = sources
    return params


def url_query(params: Mapping[str, Any], **changes: Any) -> str:
    """`?…` for the search page with some parameters changed; None drops one. Page resets unless given."""
    merged = dict(params)
    if "page" not in changes:
        merged.pop("page", None)
    for name, value in changes.items():
        if value is None or value == [] or value == "":
            merged.pop(name, None)
        else:
            merged[name] = value
    ordered = [(k, merged[k]) for k in (*SEARCH_FIELDS, "source") if k in merged]
    return "?" + urlencode(ordered, doseq=True)


def toggled(values: Sequence[str], value: str) -> list[str]:
    """`values` with `value` removed if present, else added: what clicking a facet does."""
    return [v for v in values if v != value] if value in values else [*values, value]


def parse_date(value: str | None) -> date | None:
    """The calendar date of an ISO 8601 date or datetime, or None when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).date()  # Python 3.11 reads a trailing Z too
    except ValueError:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None


def arabic_date(value: str | None) -> str:
    """'12 مارس 2018' for an ISO date; the raw value when it cannot be read; '' when absent."""
    day = parse_date(value)
    if day is None:
        return value or ""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def count_phrase(n: int, one: str, two: str, few: str, many: str, hundreds: str | None = None) -> str:
    """A count with the noun form Arabic grammar asks for: 1, 2, 3–10 (plural) and 11+ (or 0) take different
    forms; with `hundreds`, 11–99 keep `many` (accusative singular) while 100, 200 … (and 0) take `hundreds`
    (genitive singular)."""
    if n == 1:
        return one
    if n == 2:
        return two
    if 3 <= n % 100 <= 10:
        return f"{n} {few}"
    if hundreds is not None and not 11 <= n % 100 <= 99:
        return f"{n} {hundreds}"
    return f"{n} {many}"


def results_phrase(total: int) -> str:
    return count_phrase(total, "نتيجة واحدة", "نتيجتان", "نتائج", "نتيجة")


def matches_phrase(n: int) -> str:
    """'12 مقالاً تذكر': how many articles contain the query's words (followed by the words)."""
    return count_phrase(n, "مقال واحد يذكر", "مقالان يذكران", "مقالات تذكر", "مقالاً تذكر", "مقال تذكر")


def related_phrase(n: int) -> str:
    """'5 مقالات ذات صلة': how many articles are only close in meaning to the query."""
    return count_phrase(
        n, "مقال واحد ذو صلة", "مقالان ذوا صلة", "مقالات ذات صلة", "مقالاً ذا صلة", "مقال ذي صلة"
    )


def sources_phrase(n: int) -> str:
    """'نُشر في 3 مصادر': how many outlets carried a story."""
    return "نُشر في " + count_phrase(n, "مصدر واحد", "مصدرين", "مصادر", "مصدرًا", "مصدر")


def others_phrase(n: int) -> str:
    """'3 مقالات أخرى عن الحدث': the other articles of a story from the same outlet."""
    return count_phrase(
        n,
        "مقال آخر عن الحدث",
        "مقالان آخران عن الحدث",
        "مقالات أخرى عن الحدث",
        "مقالاً آخر عن الحدث",
        "مقال آخر عن الحدث",
    )


TIMELINE_WIDTH = 600  # the chart's own units (the SVG scales to the column)
TIMELINE_HEIGHT = 64
INTERVAL_LABELS = {"day": "يوميًا", "week": "أسبوعيًا", "month": "شهريًا"}


def timeline_bars(timeline: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each bucket as an SVG bar (x, y, width, height in the chart's units), earliest on the right as the
    page reads; zero-count periods keep their place and get no bar."""
    buckets = timeline.get("buckets") or []
    if not buckets:
        return []
    top = max(b["count"] for b in buckets) or 1
    slot = TIMELINE_WIDTH / len(buckets)
    gap = min(2.0, slot * 0.2)
    bars = []
    for i, bucket in enumerate(buckets):
        height = round((TIMELINE_HEIGHT - 4) * bucket["count"] / top, 2) if bucket["count"] else 0
        bars.append(
            {
                **bucket,
                "x": round(TIMELINE_WIDTH - (i + 1) * slot + gap / 2, 2),
                "width": round(slot - gap, 2),
                "y": round(TIMELINE_HEIGHT - height, 2),
                "height": height,
            }
        )
    return bars


def page_window(page: int, pages: int, width: int = 2) -> list[int | None]:
    """Page numbers to show around `page`: first, last and neighbours, None marking a gap."""
    wanted = {1, pages, *range(page - width, page + width + 1)}
    shown = sorted(p for p in wanted if 1 <= p <= pages)
    window: list[int | None] = []
    for p in shown:
        if window and p - (window[-1] or 0) > 1:
            window.append(None)
        window.append(p)
    return window


@dataclass(frozen=True)
class Segment:
    """A run of article body: a passage (with its id) or text between passages (id None).

    `text` is stripped of surrounding whitespace; `offset` is where it starts in the article body, so
    offsets given against the body or the passage can still be marked in it.
    """

    passage_id: int | None
    text: str
    offset: int


def _segment(passage_id: int | None, body: str, start: int, end: int) -> Segment | None:
    raw = body[start:end]
    text = raw.strip()
    if not text:
        return None
    return Segment(passage_id, text, start + len(raw) - len(raw.lstrip()))


def article_segments(body: str, passages: Iterable[Mapping[str, Any]]) -> list[Segment]:
    """Cut the article body at passage spans so every passage becomes one addressable element.

    Passages may overlap or leave gaps (the chunker cuts at sentence boundaries); overlapping text is
    shown once, in the earlier passage, and gaps are kept so the reader sees the whole body.
    """
    pieces: list[Segment | None] = []
    cursor = 0
    for passage in sorted(passages, key=lambda p: (int(p["start"]), int(p["ordinal"]))):
        start, end = max(int(passage["start"]), cursor), min(int(passage["end"]), len(body))
        if end <= start:
            continue
        pieces.append(_segment(None, body, cursor, start))
        pieces.append(_segment(int(passage["id"]), body, start, end))
        cursor = end
    pieces.append(_segment(None, body, cursor, len(body)))
    return [piece for piece in pieces if piece is not None]


def paragraphs(text: str) -> list[str]:
    """The paragraphs of a span (non-blank lines, stripped), as a reader sees them."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def single_spaced(text: str) -> str:
    """Blank lines folded into one line break, for short quotes shown with their line breaks kept."""
    return re.sub(r"\n\s*\n", "\n", text)


def quote_parts(text: str, quote: str | None, start: int | None, end: int | None) -> tuple[str, str, str]:
    """Split `text` into (before, quoted, after) for highlighting a quoted sentence.

    Offsets are trusted when they point at the quote; otherwise the quote is looked up by value, and
    when it is not found nothing is marked (better no highlight than a wrong one).
    """
    if (
        start is not None
        and end is not None
        and 0 <= start < end <= len(text)
        and (not quote or text[start:end].strip() == quote.strip())
    ):
        return text[:start], text[start:end], text[end:]
    if quote and quote.strip():
        found = text.find(quote.strip())
        if found >= 0:
            stop = found + len(quote.strip())
            return text[:found], text[found:stop], text[stop:]
    return text, "", ""


CITATION_MARKER = re.compile(r"\[(\d{1,3})\]")


def answer_parts(answer: str) -> list[tuple[str, int | None]]:
    """The answer as text runs and citation numbers, so markers [n] can become links to their sources."""
    parts: list[tuple[str, int | None]] = []
    cursor = 0
    for match in CITATION_MARKER.finditer(answer):
        if match.start() > cursor:
            parts.append((answer[cursor : match.start()], None))
        parts.append((match.group(0), int(match.group(1))))
        cursor = match.end()
    if cursor < len(answer):
        parts.append((answer[cursor:], None))
    return parts


def marked_runs(text: str, citation: Mapping[str, Any] | None) -> list[tuple[str, bool]]:
    """`text` (an answer's run before marker [n]) split where citation n's `answer_spans` mark the fact
    asked for inside its quote; no marks when the quote is not found in the run verbatim."""
    quote = str((citation or {}).get("quote") or "")
    spans = (citation or {}).get("answer_spans") or []
    found = text.find(quote) if quote else -1
    if found < 0 or not spans:
        return [(text, False)]
    runs: list[tuple[str, bool]] = []
    cursor = 0
    for start, end in sorted((int(a), int(b)) for a, b in spans):
        start, end = found + max(start, 0), found + min(end, len(quote))
        if start < cursor or start >= end:
            continue
        runs += [(text[cursor:start], False), (text[start:end], True)]
        cursor = end
    runs.append((text[cursor:], False))
    return [(run, marked) for run, marked in runs if run]


def answer_runs(answer: str, citations: Sequence[Mapping[str, Any]]) -> list[tuple[str, int | None, bool]]:
    """The answer as (text, citation number, marked) runs: markers [n] become links, and the fact asked
    for inside each quoted sentence is marked."""
    by_number = {int(c["n"]): c for c in citations if "n" in c}
    parts = answer_parts(answer)
    runs: list[tuple[str, int | None, bool]] = []
    for i, (text, n) in enumerate(parts):
        if n is not None:
            runs.append((text, n, False))
            continue
        following = parts[i + 1][1] if i + 1 < len(parts) else None
        runs += [(run, None, marked) for run, marked in marked_runs(text, by_number.get(following or -1))]
    return runs


def safe_url(url: str | None) -> str | None:
    """The url when it is a web address; None for javascript:, data: and other schemes a link must not carry."""
    if not url:
        return None
    scheme = url.strip().split(":", 1)[0].lower() if ":" in url else ""
    return url.strip() if scheme in ("http", "https") else None


def asset_url(filename: str) -> str:
    """The URL of a static asset with its content version, so browsers may cache it until it changes."""
    version = asset_version(bp.static_folder or "", filename)
    values: dict[str, Any] = {"filename": filename}
    if version:
        values[VERSION_PARAMETER] = version
    return url_for("pages.static", **values)


def article_href(article_id: str, passage_id: int | None = None) -> str:
    """Link to an article page, at a passage when one is given."""
    href = url_for("pages.article", article_id=article_id)
    return f"{href}#p-{passage_id}" if passage_id is not None else href


bp.add_app_template_filter(arabic_date, "arabic_date")
bp.add_app_template_filter(results_phrase, "results_phrase")
bp.add_app_template_filter(matches_phrase, "matches_phrase")
bp.add_app_template_filter(related_phrase, "related_phrase")
bp.add_app_template_filter(sources_phrase, "sources_phrase")
bp.add_app_template_filter(others_phrase, "others_phrase")
bp.add_app_template_global(timeline_bars, "timeline_bars")
bp.add_app_template_global(asset_url, "asset_url")
bp.add_app_template_global(article_href, "article_href")
bp.add_app_template_global(url_query, "url_query")
bp.add_app_template_global(toggled, "toggled")
bp.add_app_template_global(quote_parts, "quote_parts")
bp.add_app_template_global(answer_parts, "answer_parts")
bp.add_app_template_global(answer_runs, "answer_runs")
bp.add_app_template_filter(safe_url, "safe_url")
bp.add_app_template_filter(paragraphs, "paragraphs")
bp.add_app_template_filter(single_spaced, "single_spaced")


@bp.get("/")
def search() -> Any:
    """The search page: a GET form whose state lives in the URL, so it works without JavaScript."""
    params = search_params(request.args)
    context: dict[str, Any] = {
        "params": params,
        "modes": MODES,
        "sorts": SORTS,
        "selected_sources": params.get("source", []),
    }
    if not params.get("q"):
        return render_template("search.html", results=None, **context)
    try:
        results = get_services().search(params)
    except ApiError as error:
        return render_template(
            "search.html", results=None, error=error_message(error), **context
        ), error.status
    pages = results.get("pages") or max(1, math.ceil(results["total"] / max(1, results["size"])))
    return render_template(
        "search.html",
        results=results,
        pages=pages,
        words=parse_query(params["q"]).positive_text,
        window=page_window(results["page"], pages),
        **context,
    )


@bp.get("/ask")
def ask() -> Any:
    """The chat page. The script drives the conversation; `?q=` answers one question without JavaScript."""
    question = request.args.get("q", "").strip()
    reply = None
    error = None
    status = 200
    if question:
        try:
            reply = get_services().ask(question, [], request.args.get("mode") or None)
        except ApiError as exc:
            error, status = error_message(exc), exc.status
    return render_template("chat.html", question=question, reply=reply, error=error), status


@bp.get("/articles/<article_id>")
def article(article_id: str) -> Any:
    """One article in full, each passage an element `#p-<passage id>` that citations point at."""
    found = get_services().article(article_id)
    if found is None:
        abort(404)
    related = get_services().related(article_id)["related"]
    return render_template(
        "article.html",
        article=found,
        related=related,
        segments=article_segments(found["text"], found.get("passages", [])),
    )


ERROR_TEXT = {
    400: ("طلب غير صالح", "لم نفهم هذا الطلب. راجع ما كتبته وحاول مرة أخرى."),
    404: ("الصفحة غير موجودة", "لم نجد ما تبحث عنه. ربما حُذف المقال أو تغيّر الرابط."),
    405: ("طريقة غير مسموحة", "لا تقبل هذه الصفحة هذا النوع من الطلبات."),
    500: ("حدث خطأ في الخادم", "حدث خطأ غير متوقع من جهتنا. حاول مرة أخرى بعد قليل."),
    503: ("الخدمة غير متاحة الآن", "تعذّر الوصول إلى مخزن المقالات. حاول مرة أخرى بعد قليل."),
}


def error_page(error: HTTPException) -> Any:
    """Errors of the HTML pages in the same design; under /api/ the JSON API's own handler answers.

    Flask prefers a handler registered for a status code over one registered for an exception class, so
    these page handlers would also catch the API's 404s and 405s; they hand those back to the handler
    the app registered for HTTPException (the API's JSON errors) when there is one.
    """
    if request.path.startswith("/api/"):
        fallback = current_app.error_handler_spec.get(None, {}).get(None, {}).get(HTTPException)
        return fallback(error) if fallback is not None else error
    status = error.code or 500
    title, text = ERROR_TEXT.get(status, (error.name, error.description or ""))
    return render_template("error.html", status=status, title=title, text=text), status


for _status in ERROR_TEXT:
    bp.app_errorhandler(_status)(error_page)


@bp.app_context_processor
def _timeline_constants() -> dict[str, Any]:
    """The chart's sizes and period names, values rather than functions, so context not template globals."""
    return {
        "interval_labels": INTERVAL_LABELS,
        "timeline_width": TIMELINE_WIDTH,
        "timeline_height": TIMELINE_HEIGHT,
    }
