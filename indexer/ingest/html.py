"""Read one article from an HTML page with trafilatura: main text, title, date and site name."""

from __future__ import annotations

import trafilatura

from indexer.ingest import cleaning
from indexer.ingest.dates import to_iso


def extract_html(html: str) -> dict[str, str | None] | None:
    """Canonical fields of the page's main article, or None when trafilatura finds no main text."""
    document = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=False, favor_precision=True
    )
    if document is None:
        return None
    text = cleaning.clean_body(getattr(document, "text", None) or "")
    if not text:
        return None
    title = cleaning.normalize_line(getattr(document, "title", None) or "")
    categories = getattr(document, "categories", None) or []
    return {
        "title": title or cleaning.derive_title(text),
        "text": text,
        "published": to_iso(getattr(document, "date", None)),
        "source": getattr(document, "sitename", None) or None,
        "url": getattr(document, "url", None) or None,
        "author": getattr(document, "author", None) or None,
        "category": categories[0] if categories else None,
    }
