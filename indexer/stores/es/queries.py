"""Pure builders of Elasticsearch request bodies: documents, bulk lines, searches, facets and alias switches.

Nothing here talks to a server, so every body is asserted in detail by tests that need none. Terms in a
`KeywordQuery` are already analyzer output, so they are matched with the whitespace analyzer (which only
splits on spaces) instead of being analyzed a second time: re-stemming a stem can change it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from indexer.models import Article
from indexer.stores.base import ArticleRef, KeywordQuery, StoredPassage
from indexer.stores.dates import UNDATED, query_bounds, to_epoch

PASSAGE = "passage"  # value of doc_type for passage documents
ARTICLE = "article"  # value of doc_type for article documents
# Searched fields, as in the embedded index: terms and exclusions on the passage text and the article
# title (stemmed), phrases on their unstemmed `exact` subfields.
TEXT_FIELDS = ("text", "title")
# Terms rank on one field holding the title and the passage (the mapping's copy_to), as in the embedded index.
SCORED_FIELD = "body"
EXACT_FIELDS = ("text.exact", "title.exact")
# Highlight tags: the same <mark> the embedded snippets use.
HIGHLIGHT_TAGS = ("<mark>", "</mark>")
# Upper bound for a cardinality aggregation's exact counting (Elasticsearch's maximum): below it the
# article count per source is exact, as the embedded facets are.
CARDINALITY_PRECISION = 40_000


def passage_doc_id(passage_id: int) -> str:
    return f"p:{passage_id}"


def article_doc_id(article_id: str) -> str:
    return f"a:{article_id}"


def passage_id_of(doc_id: str) -> int:
    """The passage id inside a passage document's _id ('p:123' -> 123)."""
    kind, _, number = doc_id.partition(":")
    if kind != "p" or not number.isdigit():
        raise ValueError(f"not a passage document id: {doc_id!r}")
    return int(number)


def passage_source(passage: StoredPassage, article: Article) -> dict[str, Any]:
    """A passage document: its text to search, its place in the article, and the article's filter fields.

    Source, category and date are copied onto every passage so filters and facets need no join.
    """
    return {
        "doc_type": PASSAGE,
        "passage_id": passage.id,
        "article_id": passage.article_id,
        "ordinal": passage.ordinal,
        "text": passage.text,
        "start": passage.start,
        "end": passage.end,
        "title": article.title,
        "source": article.source,
        "category": article.category,
        "published": normalized_published(article.published),
    }


def normalized_published(published: str | None) -> str | None:
    """`published` as the embedded index reads it (UTC, whole seconds), or None when missing or unreadable.

    Both backends then parse dates the same way: ISO forms Elasticsearch's strict parser would refuse
    (a space before the time, say) still count, and unreadable ones make the passage undated in both.
    """
    seconds = to_epoch(published)
    if seconds == UNDATED:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def article_source(article: Article, content_hash: str) -> dict[str, Any]:
    """An article document: the whole record kept (not indexed) under `article`, with its content hash."""
    return {
        "doc_type": ARTICLE,
        "article_id": article.id,
        "hash": content_hash,
        "article": {
            "id": article.id,
            "title": article.title,
            "text": article.text,
            "source": article.source,
            "published": article.published,
            "url": article.url,
            "author": article.author,
            "category": article.category,
            "origin": article.origin,
        },
    }


def article_from_source(source: dict[str, Any]) -> Article:
    record = source["article"]
    return Article(
        id=record["id"],
        title=record["title"],
        text=record["text"],
        source=record.get("source"),
        published=record.get("published"),
        url=record.get("url"),
        author=record.get("author"),
        category=record.get("category"),
        origin=record.get("origin") or "",
    )


# What `article_ref_from_source` reads of an article document: the record's date as written, so sorting
# by date compares the same strings SQLite returns (the passages carry a normalised copy for filtering).
ARTICLE_REF_FIELDS = ("article.id", "article.source", "article.published")


def article_ref_from_source(source: dict[str, Any]) -> ArticleRef:
    record = source["article"]
    return ArticleRef(id=record["id"], source=record.get("source"), published=record.get("published"))


def passage_from_source(source: dict[str, Any]) -> StoredPassage:
    return StoredPassage(
        id=int(source["passage_id"]),
        article_id=source["article_id"],
        ordinal=int(source["ordinal"]),
        text=source["text"],
        start=int(source["start"]),
        end=int(source["end"]),
    )


def index_operation(index: str, doc_id: str, source: dict[str, Any]) -> list[dict[str, Any]]:
    """The two bulk lines that index (create or replace) one document."""
    return [{"index": {"_index": index, "_id": doc_id}}, source]


def delete_operation(index: str, doc_id: str) -> list[dict[str, Any]]:
    """The one bulk line that deletes one document."""
    return [{"delete": {"_index": index, "_id": doc_id}}]


def date_range(date_from: str | None, date_to: str | None) -> dict[str, Any] | None:
    """The range filter on `published`, inclusive, or None when neither end is given.

    Bounds are the embedded index's own epoch seconds (`query_bounds`: a bare date_to covers its whole
    UTC day), so both backends cut at the same second. Raises ValueError for an unreadable date.
    """
    bounds = query_bounds(date_from, date_to)
    if bounds is None:
        return None
    limits: dict[str, Any] = {}
    if date_from:
        limits["gte"] = bounds[0]
    if date_to:
        limits["lte"] = bounds[1]
    return {"range": {"published": {**limits, "format": "epoch_second"}}}


def filter_clauses(query: KeywordQuery) -> list[dict[str, Any]]:
    """Filters narrow without scoring: passages only, the chosen sources, the date range."""
    clauses: list[dict[str, Any]] = [{"term": {"doc_type": PASSAGE}}]
    if query.sources:
        clauses.append({"terms": {"source": list(query.sources)}})
    dates = date_range(query.date_from, query.date_to)
    if dates is not None:
        clauses.append(dates)
    return clauses


def _term_clauses(terms: Sequence[str], title_weight: float = 0.0) -> list[dict[str, Any]]:
    """Any of the analyzed terms, scored by BM25 on `body` (title and passage as one field, by copy_to),
    plus `title_weight` times their BM25 on the title alone when that weight is not 0.

    `match` makes one clause per token, so a repeated term counts once per occurrence, as in the
    embedded index, whose `text` field holds the same title + passage terms.
    """
    joined = " ".join(terms)
    clauses: list[dict[str, Any]] = [
        {"match": {SCORED_FIELD: {"query": joined, "analyzer": "whitespace", "operator": "or"}}}
    ]
    if title_weight:
        clauses.append(
            {
                "match": {
                    "title": {
                        "query": joined,
                        "analyzer": "whitespace",
                        "operator": "or",
                        "boost": title_weight,
                    }
                }
            }
        )
    return clauses


def _phrase_clause(phrase: Sequence[str]) -> dict[str, Any]:
    """One exact phrase, its words adjacent and in order, in the passage text or in the title."""
    joined = " ".join(phrase)
    return {
        "bool": {
            "should": [
                {"match_phrase": {field: {"query": joined, "analyzer": "whitespace", "slop": 0}}}
                for field in EXACT_FIELDS
            ]
        }
    }


def bool_query(query: KeywordQuery) -> dict[str, Any]:
    """The bool query for a KeywordQuery, with the embedded (tantivy) index's semantics.

    Every phrase must match; terms rank and, when there is no phrase, at least one must match (said
    explicitly because alongside filters `should` would otherwise be optional); no passage with an
    excluded term in its text or title matches. With neither terms nor phrases, every passage the
    filters allow matches with score 0, as in the embedded index.
    """
    body: dict[str, Any] = {"filter": filter_clauses(query)}
    phrases = [phrase for phrase in query.phrases if any(phrase)]
    terms = list(query.terms)
    if phrases:
        body["must"] = [_phrase_clause([word for word in phrase if word]) for phrase in phrases]
    if terms:
        body["should"] = _term_clauses(terms, query.title_weight)
        if not phrases:
            body["minimum_should_match"] = 1
    if query.excluded:
        excluded = list(dict.fromkeys(query.excluded))
        body["must_not"] = [{"terms": {field: excluded}} for field in TEXT_FIELDS]
    return {"bool": body}


def sort_clause(sort: str) -> list[Any] | None:
    """None for relevance (Elasticsearch's default _score order); newest first for 'date'.

    Passages without a date go last; ties fall back to score, then passage id so pages are stable.
    """
    if sort == "relevance":
        return None
    if sort == "date":
        return [
            {"published": {"order": "desc", "missing": "_last", "unmapped_type": "date"}},
            {"_score": {"order": "desc"}},
            {"passage_id": {"order": "asc"}},
        ]
    raise ValueError(f"unknown sort {sort!r}: expected 'relevance' or 'date'")


def highlight_section(fragment_chars: int = 160, fragments: int = 2) -> dict[str, Any]:
    """Highlighting on both text fields with <mark> tags, for callers that want Elasticsearch's fragments.

    Isnad's own snippets are made from the document store's text by analyzer offsets (the same in both
    backends); this exists for tools that read Elasticsearch directly.
    """
    field = {"type": "unified", "fragment_size": fragment_chars, "number_of_fragments": fragments}
    return {
        "pre_tags": [HIGHLIGHT_TAGS[0]],
        "post_tags": [HIGHLIGHT_TAGS[1]],
        "encoder": "html",
        "fields": {name: field for name in (*TEXT_FIELDS, *EXACT_FIELDS)},
    }


def search_body(query: KeywordQuery, limit: int, *, highlight: bool = False) -> dict[str, Any]:
    """The full _search body: passage ids only (from _id), exact total, scores kept under a date sort."""
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    body: dict[str, Any] = {
        "query": bool_query(query),
        "size": limit,
        "track_total_hits": True,
        "_source": False,
    }
    sort = sort_clause(query.sort)
    if sort is not None:
        body["sort"] = sort
        body["track_scores"] = True  # Hit.score stays the BM25 score when ordering by date
    if highlight:
        body["highlight"] = highlight_section()
    return body


def facets_body(query: KeywordQuery, size: int = 50) -> dict[str, Any]:
    """Counts of matching articles per source: a terms aggregation ordered by distinct articles.

    Facets describe the other choices, so the query's own source filter is left out.
    """
    unfiltered = KeywordQuery(
        terms=query.terms,
        phrases=query.phrases,
        excluded=query.excluded,
        date_from=query.date_from,
        date_to=query.date_to,
        sort="relevance",
        title_weight=query.title_weight,
    )
    return {
        "query": bool_query(unfiltered),
        "size": 0,
        "aggs": {
            "sources": {
                "terms": {"field": "source", "size": size, "order": [{"articles": "desc"}, {"_key": "asc"}]},
                "aggs": {
                    "articles": {
                        "cardinality": {"field": "article_id", "precision_threshold": CARDINALITY_PRECISION}
                    }
                },
            }
        },
    }


def facets_from_response(response: dict[str, Any]) -> list[tuple[str, int]]:
    buckets = response.get("aggregations", {}).get("sources", {}).get("buckets", [])
    return [(bucket["key"], int(bucket["articles"]["value"])) for bucket in buckets]


def passages_of_articles(article_ids: Iterable[str]) -> dict[str, Any]:
    """Query for every passage of the given articles (used to find and delete them)."""
    return {
        "bool": {"filter": [{"term": {"doc_type": PASSAGE}}, {"terms": {"article_id": list(article_ids)}}]}
    }


def stale_passages(article_ids: Iterable[str], keep_passage_ids: Iterable[int]) -> dict[str, Any]:
    """Passages of these articles that are not among the ones just written: what a re-cut left behind."""
    query = passages_of_articles(article_ids)
    keep = sorted(set(keep_passage_ids))
    if keep:
        query["bool"]["must_not"] = [{"terms": {"passage_id": keep}}]
    return query


def alias_switch_actions(alias: str, new_index: str, old_indices: Iterable[str]) -> dict[str, Any]:
    """One atomic _aliases request: the alias leaves every old index and points at the new one.

    Elasticsearch applies the whole list at once, so a search sees either the old index or the new
    complete one, never none and never both. The new index becomes the write index for incremental updates.
    """
    actions: list[dict[str, Any]] = [
        {"remove": {"index": old, "alias": alias}} for old in sorted(set(old_indices)) if old != new_index
    ]
    actions.append({"add": {"index": new_index, "alias": alias, "is_write_index": True}})
    return {"actions": actions}
