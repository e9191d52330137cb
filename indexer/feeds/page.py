"""A feed item's fetched page as an article: decoded, then read by the same HTML reader as `isnad index`."""

from __future__ import annotations

import codecs

from indexer.errors import IsnadError
from indexer.feeds.fetch import Response
from indexer.ingest import article_from_html, stable_id
from indexer.ingest.encoding import DecodeError, decode
from indexer.models import Article

# What a news page may be served as; anything else (a PDF, an image, a video) is not read.
HTML_TYPES = frozenset(
    {"", "text/html", "application/xhtml+xml", "application/xml", "text/xml", "text/plain"}
)


class PageError(IsnadError):
    """A page that gives no article: not HTML, not text, or without main text."""


def page_text(response: Response) -> str:
    """The page as text: in the charset its Content-Type declares when the bytes are that, else decoded
    like an HTML file (byte-order mark, UTF-8, or the detected legacy encoding such as Windows-1256)."""
    if response.content_type not in HTML_TYPES:
        raise PageError(f"not an HTML page (Content-Type {response.content_type})")
    charset = response.charset
    if charset:
        try:
            return response.body.decode(codecs.lookup(charset).name).removeprefix("\ufeff")
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown charset header: the bytes themselves decide, as for a file
    try:
        return decode(response.body).text
    except DecodeError as error:
        raise PageError(f"{error.reason}: {error.detail}") from None


def article_id(link: str) -> str:
    """An item's article id: derived from its link, so a re-fetch (after a crash, or the same link in
    another feed) lands on the same article and is never indexed twice."""
    return stable_id(link)


def page_article(
    response: Response, link: str, *, title: str, published: str | None, source: str | None
) -> Article:
    """The article of an item's page; the feed's title, date and name fill what the page lacks."""
    text = page_text(response)
    try:
        article = article_from_html(
            text,
            article_id(link),
            link,
            {"title": title or None, "published": published, "source": source, "url": link},
        )
    except (ValueError, RecursionError, MemoryError) as error:  # trafilatura giving up on an odd page
        raise PageError(f"the page cannot be read ({type(error).__name__}: {error})") from None
    if article is None or not article.text.strip():
        raise PageError("no main text found in the page")
    return article
