"""The small interfaces every store backend implements, and the query it receives.

Indexes return ids and scores (`Hit`); the document store owns the text. Backends are chosen by a
config string through the registries in `indexer.stores.registry`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from indexer.models import Article, Hit, Passage

if TYPE_CHECKING:
    from indexer.stores.es.store import ElasticsearchBackend
    from indexer.stores.ledger import IndexLedger
    from indexer.stores.tantivy_index import KeywordDoc


def passage_id(article_id: str, ordinal: int, text: str) -> int:
    """Stable 53-bit passage id: the same article text always gets the same ids, in every backend.

    FAISS needs integer ids, and Elasticsearch and SQLite must agree with it, so the id is derived
    from content rather than assigned by one store. 53 bits keep it exact as a JSON number in
    JavaScript (Number.MAX_SAFE_INTEGER is 2**53 - 1); the chance of two equal ids among a million
    passages is about 1 in 18,000.
    """
    digest = hashlib.blake2b(f"{article_id}\x00{ordinal}\x00{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x1F_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class StoredPassage:
    """A passage as stored: its id, its article, its place and its span in the article body."""

    id: int
    article_id: str
    ordinal: int
    text: str
    start: int
    end: int

    @classmethod
    def of(cls, passage: Passage) -> StoredPassage:
        return cls(
            passage_id(passage.article_id, passage.ordinal, passage.text),
            passage.article_id,
            passage.ordinal,
            passage.text,
            passage.start,
            passage.end,
        )


@dataclass(frozen=True, slots=True)
class ArticleRef:
    """What ranking, filters and facets need of an article: its id, source and date, without its text."""

    id: str
    source: str | None = None
    published: str | None = None  # as stored on the article (not normalised)


@dataclass(frozen=True, slots=True)
class KeywordQuery:
    """An analyzed keyword query. Terms are analyzer output (stemmed for `terms`, exact for phrases).

    `terms` are optional (ranked by BM25, any may match); every phrase must match in the exact field;
    no passage containing an `excluded` term (stemmed) may match. Filters narrow, never score.
    `terms` keep every occurrence, in query order: a word said twice counts twice, as in Lucene's
    QueryBuilder (one clause per token) and so in Elasticsearch's `match`. Terms are scored on one field
    holding the article title and the passage; `title_weight` adds that many times their BM25 on the
    title alone (0: none).
    """

    terms: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()
    excluded: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    date_from: str | None = None  # ISO date or datetime, inclusive
    date_to: str | None = None  # ISO date or datetime, inclusive (a bare date covers the whole day)
    sort: str = "relevance"  # or "date" (newest first)
    title_weight: float = 0.0


@dataclass(slots=True)
class KeywordResult:
    hits: list[Hit]
    total: int  # passages matching, before the limit


@runtime_checkable
class KeywordIndex(Protocol):
    """BM25 over analyzed passages. Scores are on Lucene's BM25 scale whatever the engine."""

    def add(self, passages: Sequence[StoredPassage], articles: dict[str, Article]) -> None: ...
    def add_prepared(self, docs: Iterable[KeywordDoc]) -> None:
        """Add passages the indexing pipeline has analyzed already."""
        ...

    def delete_articles(self, article_ids: Iterable[str]) -> None: ...
    def commit(self) -> None: ...
    def search(self, query: KeywordQuery, limit: int) -> KeywordResult: ...
    def count(self) -> int: ...
    def close(self) -> None: ...


@runtime_checkable
class VectorIndex(Protocol):
    """Inner-product search over L2-normalised passage embeddings, keyed by passage id."""

    dim: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def ids(self) -> np.ndarray:
        """The passage ids it holds a vector of."""
        ...

    def delete(self, ids: Iterable[int]) -> None: ...
    def search(self, query: np.ndarray, limit: int, allowed: set[int] | None = None) -> list[Hit]: ...
    def count(self) -> int: ...
    def needs_rebuild(self) -> bool: ...
    def save(self) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors; batch first, queries and passages prefixed apart."""

    name: str  # model identity recorded in the manifest
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(slots=True)
class StoreCounts:
    articles: int = 0
    passages: int = 0
    keyword: int = 0
    vectors: int = 0
    pending_vectors: int = 0
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class DocumentStore(Protocol):
    """The source of truth for article and passage text (SQLite embedded; the engine scale-out)."""

    def article_hashes(self, article_ids: Iterable[str]) -> dict[str, str]: ...
    def put_articles(self, items: Sequence[tuple[Article, str, list[StoredPassage]]]) -> None:
        """Insert or replace articles (article, content hash, its passages) in one transaction."""
        ...

    def delete_articles(self, article_ids: Iterable[str]) -> list[int]:
        """Remove articles and their passages; returns the removed passage ids."""
        ...

    def get_articles(self, article_ids: Iterable[str]) -> dict[str, Article]: ...
    def get_passages(self, passage_ids: Iterable[int]) -> dict[int, StoredPassage]: ...
    def passage_articles(self, passage_ids: Iterable[int]) -> dict[int, ArticleRef]:
        """The article (id, source, date) of each passage still stored, read without any text: what
        a query needs to group, filter, sort and count hundreds of candidates it will not show."""
        ...

    def passage_counts(self, article_ids: Iterable[str]) -> dict[str, int]:
        """How many passages each stored article has (an article's length, for keyword ranking's article
        length normalization), read without any text; articles no longer stored are absent."""
        ...

    def article_passages(self, article_id: str) -> list[StoredPassage]: ...
    def article_ids(self) -> list[str]: ...
    def passage_ids_matching(
        self, sources: Sequence[str] = (), date_from: str | None = None, date_to: str | None = None
    ) -> set[int]:
        """Passage ids of articles from any of `sources` within the dates: a semantic search's allowed set."""
        ...

    def sources(self) -> list[tuple[str, int]]: ...
    def get_embeddings(self, ids: Sequence[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, their vectors): the stored embeddings of these passages."""
        ...

    def count_embeddings(self) -> int: ...
    def count_articles(self) -> int: ...
    def count_passages(self) -> int: ...
    def close(self) -> None: ...


class Stores(Protocol):
    """What `open_stores` returns, whichever backend: the document store, keyword index, vector index and
    embedder of one index, and the ledger of its data directory.

    `ledger` is None only for an app server of the search engine, which has no data directory; every
    store opened for writing has one.
    """

    @property
    def settings(self) -> dict[str, Any]: ...
    @property
    def docs(self) -> DocumentStore: ...
    @property
    def keyword(self) -> KeywordIndex: ...
    @property
    def vectors(self) -> VectorIndex: ...
    @property
    def ledger(self) -> IndexLedger | None: ...
    @property
    def manifest(self) -> dict[str, Any]: ...
    @property
    def messages(self) -> list[str]:
        """What opening repaired or reset, for the indexer to report."""
        ...

    @property
    def embedder(self) -> Embedder: ...
    def counts(self) -> StoreCounts: ...
    def sources(self) -> list[tuple[str, int]]: ...
    def sizes(self) -> dict[str, int]:
        """Bytes on this machine's disk per store."""
        ...

    def health(self) -> dict[str, Any] | None:
        """The engine's report (cluster, version, index), or None where there is no engine to ask."""
        ...

    @property
    def engine(self) -> ElasticsearchBackend | None:
        """The search engine holding the index (scale-out), or None for the embedded stores."""
        ...

    def write_manifest(self) -> None: ...
    def refresh(self) -> bool:
        """Reopen what an indexer changed since the last look; True when something changed."""
        ...

    def close(self) -> None: ...


def require_ledger(stores: Stores) -> IndexLedger:
    """The ledger of stores opened for writing (an app server of the engine has none)."""
    if stores.ledger is None:
        raise RuntimeError("these stores have no indexing ledger: open them with writable=True")
    return stores.ledger
