"""Read one article from an HTML page with trafilatura: main text, title, date and site name."""

from __future__ import annotations

import trafilatura

from indexer.ingest import cleaning
from indexer.ingest.dates import to_iso

# Ask htmldate for the time and offset too, where the page gives them (the default keeps only the day).
_DATE_PARAMS = {"extensive_search": True, "original_date": True, "outputformat": "%Y-%m-%dT%H:%M:%S%z"}


def _published(value: str | None) -> str | None:
    iso = to_iso(value)
    # A page that only gives a day comes back as midnight without an offset: keep just the day.
    if iso and iso.endswith("T00:00:00"):
        return iso[:10]
    return iso


def extract_html(html: str) -> dict[str, str | None] | None:
    """Canonical fields of the page's main article, or None when trafilatura finds no main text."""
    document = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
        date_extraction_params=_DATE_PARAMS,
    )
    if document is None:
        return None
    title = cleaning.normalize_line(getattr(document, "title", None) or "")
    # trafilatura puts one paragraph per line; the headline often comes back as the first of them.
    lines = [line for line in (getattr(document, "text", None) or "").split("\n") if line.strip()]
    if lines and title and cleaning.normalize_line(lines[0]) == title:
        lines = lines[1:]
    text = cleaning.clean_body("\n\n".join(lines))
    if not text:
        return None
    categories = getattr(document, "categories", None) or []
    return {
        "title": title or cleaning.derive_title(text),
        "text": text,
        "published": _published(getattr(document, "date", None)),
        "source": getattr(document, "sitename", None) or None,
        "url": getattr(document, "url", None) or None,
        "author": getattr(document, "author", None) or None,
        "category": categories[0] if categories else None,
    }
