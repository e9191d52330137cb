"""What the API answers, as pydantic models: the OpenAPI document's response schemas.

The views build plain dicts (the services are shared with the pages and the command line); these models
describe them, and tests/test_api_schema.py checks real answers against the served document, so a field
added to a response without its description here fails there.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from indexer.stores.registry import STORE_BACKENDS
from retrieval.search import MODES
from retrieval.stories import COLLAPSE

Mode = Literal[MODES]  # type: ignore[valid-type]
Backend = Literal[tuple(STORE_BACKENDS)]  # type: ignore[valid-type]
Text = str | None


class Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class ErrorDetail(Out):
    code: str = Field(description="Stable machine-readable code, e.g. empty_query, bad_page, unknown_mode.")
    message: str = Field(description="What was wrong, naming the input.")


class Error(Out):
    """Every error of the API: a 4xx for bad input (never a 500), 404 for unknown articles and routes."""

    error: ErrorDetail


class GroupSummary(Out):
    id: str
    size: int = Field(description="Articles in the whole index.")
    sources: list[str] = Field(description="Its outlets, by first publication.")


class AlsoArticle(Out):
    article_id: str
    title: str
    source: Text
    published: Text
    url: Text = None
    copy_group: str
    copy_: bool = Field(
        alias="copy", description="Syndicated: the same copy as the result or as another article listed."
    )
    matched: bool = Field(description="It matched the query too (collapsed into this result).")


class Reference(Out):
    article_id: str
    passage_id: int = Field(description="The passage this points at (a search result's best passage).")
    title: str
    source: Text
    published: Text = Field(description="ISO 8601, or null when undated.")
    url: Text


class SearchResult(Reference):
    score: float = Field(
        description="RRF score (hybrid), BM25 (keyword) or cosine similarity (semantic) of the best passage."
    )
    related: bool = Field(
        description="Hybrid mode: true when the article contains none of the query's words and is listed "
        "only as a semantic neighbour (after every article that contains them)."
    )
    snippet: str = Field(
        description="HTML: a window of the best passage, escaped, with <mark> around matches placed by "
        "analyzer offsets in the original text."
    )
    title_html: str = Field(description="The title, HTML-escaped, with <mark> around query matches.")
    story: GroupSummary | None = Field(description="The story the article belongs to (null until grouped).")
    copies: GroupSummary | None = Field(
        description="Its copy group: articles that are (nearly) the same text."
    )
    also: list[AlsoArticle] = Field(
        description="The other articles of what the result stands for (its story, or its copy group), "
        "oldest first: the outlets that also carried it."
    )
    collapsed: list[str] = Field(description="Ids of the matching articles collapsed into this result.")


class SourceCount(Out):
    value: str
    count: int


class DateBucket(Out):
    value: str = Field(description="The period: YYYY-MM-DD (day, week) or YYYY-MM (month).")
    from_: str = Field(alias="from", description="Its first day, the filter's `from`.")
    to: str = Field(description="Its last day, the filter's `to`.")
    count: int


class DateFacet(Out):
    """Matching articles per day, week or month (chosen by their span)."""

    interval: Literal["day", "week", "month"] | None
    buckets: list[DateBucket]
    undated: int


class Facets(Out):
    source: list[SourceCount]
    date: DateFacet


class Counted(Out):
    """What `total` and the facets count."""

    total: Literal["stories", "copy groups", "articles"]
    facets: Literal["articles"]


class SearchResponse(Out):
    query: str
    mode: Mode
    collapse: Literal[COLLAPSE]  # type: ignore[valid-type]
    total: int = Field(description="Results containing the query's words, in the unit `counts.total` names.")
    total_articles: int = Field(description="Matching articles before collapsing.")
    related_total: int = Field(description="Hybrid mode: semantic neighbours listed after the matches.")
    counts: Counted
    page: int
    size: int
    pages: int
    took_ms: float
    results: list[SearchResult]
    facets: Facets


class CopyOf(Out):
    article_id: str
    source: Text
    published: Text
    title: str
    url: Text = None


class Citation(Reference):
    n: int = Field(description="The marker [n] in the answer.")
    text: str = Field(description="The whole cited passage.")
    quote: str = Field(
        description="The sentence of the answer taken from this passage, verbatim; or two adjacent sentences "
        "with the text between them, when the one after (or before) the best sentence likely holds the answer."
    )
    quote_start: int = Field(description="Start of quote in text (the passage).")
    quote_end: int = Field(description="End of quote in text (exclusive).")
    passage_start: int = Field(description="Start of the passage in the article's text.")
    answer_spans: list[list[int]] = Field(
        description="[start, end) offsets into quote of the fact the question asks for (a date for متى, a "
        "number for كم, a name for من, ...), where one is found."
    )
    score: float = Field(description="Retrieval score of the passage.")
    also_carried_by: list[CopyOf] = Field(
        description="The other articles of the cited article's copy group, oldest first."
    )


class AskResponse(Out):
    question: str
    answer: str = Field(description="Sentences from the passages, each followed by its marker [n].")
    answered: bool = Field(description="False when the service abstains (the answer then says so).")
    evidence: float = Field(
        description="The answer model's probability that the best sentence holds the answer."
    )
    answer_model: str = Field(description="Version of the answer model that scored the sentences.")
    mode: Mode
    took_ms: float
    citations: list[Citation]


class Passage(Out):
    id: int
    ordinal: int
    text: str
    start: int = Field(description="Offset of the passage in the article's text.")
    end: int


class Article(Out):
    id: str
    title: str
    source: Text
    published: Text
    url: Text
    author: Text
    category: Text
    text: str
    passages: list[Passage]


class StoryArticle(Out):
    article_id: str
    title: str
    source: Text
    published: Text
    url: Text
    copy_group: str


class Story(GroupSummary):
    first_published: Text
    last_published: Text
    articles: list[StoryArticle] = Field(description="The story's articles by date.")


class RelatedArticle(Out):
    article_id: str
    title: str
    source: Text
    published: Text
    url: Text
    score: float = Field(description="similarity less up to 0.03 for being up to 30 days apart: the order.")
    similarity: float
    days_apart: int | None
    same_story: bool
    why: list[Literal["story", "similar"]]


class Related(Out):
    article_id: str
    related: list[RelatedArticle]
    note: str | None = Field(None, description="Why the list is empty when the article has no vectors yet.")


class Token(Out):
    term: str
    start: int
    end: int
    position: int


class AnalyzeResponse(Out):
    text: str
    analyzer: str
    tokens: list[Token] = Field(description="The indexed terms, with offsets into text.")
    exact: list[Token] = Field(description="The unstemmed terms quoted phrases match.")


class Health(Out):
    status: Literal["ok", "unavailable"]
    backend: Backend  # type: ignore[valid-type]
    store: dict[str, Any] | None = Field(None, description="The search engine's report (scale-out only).")
    articles: int | None = Field(None, description="Indexed articles (absent when the store is down).")


class StoreCounts(Out):
    articles: int
    passages: int
    keyword: int
    vectors: int
    pending_vectors: int
    extra: dict[str, Any]


class Embedding(Out):
    state: str
    embedded: int
    batches: int
    pending: int
    last_error: str | None


class Writes(Out):
    embedding: Embedding | None = Field(description="The background embedding of written articles.")


class Stats(Out):
    counts: StoreCounts
    sources: list[SourceCount]
    manifest: Any = Field(description="The index manifest (versions, model, dimension, counts).")
    settings: dict[str, Any] = Field(description="The settings that shape search and answers.")
    writes: Writes | None = Field(None, description="Present once the server has taken writes.")


class WriteItem(Out):
    position: int | None = Field(None, description="The item's place in the batch, from 0 (batches only).")
    id: str | None
    status: int
    result: Literal["created", "updated", "unchanged", "deleted"] | None = None
    error: ErrorDetail | None = None


class WriteResponse(Out):
    took_ms: float
    errors: bool = Field(description="True when any item failed; the others are stored.")
    items: list[WriteItem]


class OpenApiDocument(Out):
    """This document."""

    model_config = ConfigDict(extra="allow")
    openapi: str
