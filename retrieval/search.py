"""Hybrid retrieval: keyword and dense candidates, filters, fusion, and grouping passages into articles.

The retriever receives its stores as arguments and returns ranked passages known by id with their
article's id, source and date, which is all grouping, filtering, sorting and counting need; the service
above turns them into a page of results or answer evidence and loads text only for what it shows.
Every mode applies the same query semantics: a quoted phrase must occur exactly, an excluded word must
not occur, and source and date filters hold, whether a passage came from BM25 or from FAISS.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import numpy as np

from indexer.models import Article, Hit, Token
from indexer.stores.base import ArticleRef, KeywordQuery, StoredPassage, Stores
from indexer.stores.dates import query_bounds, to_epoch
from indexer.stores.registry import SEARCH_MODES, SEARCH_SORTS
from retrieval import article_length
from retrieval.embed_batch import QueryBatcher
from retrieval.fusion import FusionParams, hybrid
from retrieval.query import ParsedQuery, keyword_query

Analyzer = Callable[[str], list[Token]]

MODES = SEARCH_MODES  # the names live in the registry, so settings and every face list the same
SORTS = SEARCH_SORTS
# Keyword mode counts every matching passage up to this many, so its totals and facets are exact for
# all but broad queries; the other modes count over their fused candidates. Each counted passage's
# article id, source and date are read from the document store (no text): at 5,000 passages read with
# their text that was two thirds of a keyword query's time on 30,000 articles (p95 152 ms, `isnad bench`).
EXACT_COUNT_LIMIT = 1000
# Dense search cannot filter inside FAISS by source or date, so it fetches this many times more
# candidates when filters or exclusions will drop some afterwards.
FILTER_OVERSAMPLE = 4


@dataclass(frozen=True, slots=True)
class Filters:
    """Narrowing that never changes scores: sources (any of) and an inclusive date range (YYYY-MM-DD)."""

    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None

    @property
    def narrows(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to)

    def admits(self, article: Article | ArticleRef, check_sources: bool = True) -> bool:
        """The same test the stores apply: dates compared as instants, a bare `to` date covers its day."""
        if check_sources and self.sources and article.source not in self.sources:
            return False
        bounds = query_bounds(self.date_from, self.date_to)
        return bounds is None or bounds[0] <= to_epoch(article.published) <= bounds[1]


PassageT = TypeVar("PassageT", int, StoredPassage)
ArticleT = TypeVar("ArticleT", ArticleRef, Article)


@dataclass(slots=True)  # not frozen, for the speed of making thousands a query (indexer.models.Hit)
class Candidate(Generic[PassageT, ArticleT]):
    """A retrieved passage with its article and its score in the mode's scale (RRF, BM25 or cosine).

    Retrieval ranks, groups and counts `Ranked` candidates (a passage id and the article's id, source
    and date); `Retriever.load` makes `Loaded` ones, with the passage text and the whole article, for
    the few a caller shows.
    """

    passage: PassageT
    article: ArticleT
    score: float


Ranked = Candidate[int, ArticleRef]
Loaded = Candidate[StoredPassage, Article]
AnyCandidate = TypeVar("AnyCandidate", Ranked, Loaded)


@dataclass(slots=True)
class Retrieval:
    """Ranked candidate passages for a query, and the analyzed query used (for highlighting)."""

    candidates: list[Ranked]
    keyword: KeywordQuery
    facet_candidates: list[Ranked]  # same query and dates, any source: what source facets count
    query_vector: np.ndarray | None = None
    # Rank of each passage in the BM25 and the dense list before fusion (answer evidence features).
    keyword_ranks: dict[int, int] = field(default_factory=dict)
    semantic_ranks: dict[int, int] = field(default_factory=dict)
    # The query vector's score with each passage of the dense list (its cosine): answers reuse it rather
    # than search the vectors again for their evidence passages.
    semantic_scores: dict[int, float] = field(default_factory=dict)
    # Hybrid mode: the articles containing the query's words (any term, every phrase); the others among
    # the candidates are semantic neighbours only. None in the other modes, which do not tell them apart.
    matched_articles: frozenset[str] | None = None


def reference(candidate: Loaded) -> dict[str, Any]:
    """What a search result and an answer's citation both say of the passage they point at."""
    article, passage = candidate.article, candidate.passage
    return {
        "article_id": article.id,
        "passage_id": passage.id,
        "title": article.title,
        "source": article.source,
        "published": article.published,
        "url": article.url,
    }


def group_by_article(candidates: Iterable[AnyCandidate]) -> list[AnyCandidate]:
    """One candidate per article, its best-ranked passage, in rank order."""
    best: dict[str, AnyCandidate] = {}
    for candidate in candidates:
        best.setdefault(candidate.article.id, candidate)
    return list(best.values())


def split_related(
    articles: Sequence[AnyCandidate], matched: frozenset[str] | None
) -> tuple[list[AnyCandidate], list[AnyCandidate]]:
    """(articles containing the query's words, semantic neighbours only), each in its given order.

    With `matched` None (keyword and semantic modes) every article counts as a result of the query.
    """
    if matched is None:
        return list(articles), []
    return (
        [a for a in articles if a.article.id in matched],
        [a for a in articles if a.article.id not in matched],
    )


def sort_by_date(candidates: Sequence[AnyCandidate]) -> list[AnyCandidate]:
    """Newest first; undated articles last; equal dates keep their relevance order."""
    return sorted(candidates, key=lambda c: c.article.published or "", reverse=True)


def source_facets(candidates: Iterable[Ranked | Loaded]) -> list[dict[str, Any]]:
    """Article counts per source, largest first, then by name."""
    counts = Counter(c.article.source for c in candidates if c.article.source)
    return [
        {"value": value, "count": count}
        for value, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def contains_phrase(tokens: Sequence[str], phrase: Sequence[str]) -> bool:
    size = len(phrase)
    return any(list(tokens[i : i + size]) == list(phrase) for i in range(len(tokens) - size + 1))


class Retriever:
    """Fetches candidates from the keyword and vector indexes and fuses them; stateless per query."""

    def __init__(
        self,
        stores: Stores,
        settings: dict[str, Any],
        analyze: Analyzer,
        analyze_exact: Analyzer,
        embed_lock: threading.Lock | None = None,
    ) -> None:
        self.stores = stores
        self.settings = settings
        self.analyze = analyze
        self.analyze_exact = analyze_exact
        self.fusion = FusionParams.from_settings(settings)
        self.length_weight = article_length.check_weight(float(settings["search.article_length_weight"]))
        # One embedding engine serves all request threads; the lock keeps its use serial, and queries
        # that arrive while it is busy are embedded together in its next call (unless the engine runs lone
        # queries side by side itself: embed_query).
        self._embed_lock = embed_lock or threading.Lock()
        self._queries = QueryBatcher(
            lambda texts: self.stores.embedder.embed_queries(list(texts)), self._embed_lock
        )

    def embed_query(self, text: str) -> np.ndarray:
        embedder = self.stores.embedder
        if getattr(embedder, "concurrent_queries", False):
            # The onnx backend runs lone queries side by side on one thread each, with no lock of its own
            # to wait for: each request's query alone beats batching them (about half the CPU a query on
            # two cores, and a query's int8 vector does not depend on its batch neighbours; README
            # "Query latency").
            vector: np.ndarray = np.asarray(embedder.embed_queries([text]), dtype=np.float32)[0]
            return vector
        return self._queries.embed(text)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        with self._embed_lock:
            return np.asarray(self.stores.embedder.embed_passages(list(texts)), dtype=np.float32)

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Candidate answer sentences, as passages, on the embedder's fast graph where it has one (the onnx
        backend's query graph, `embedder.query_precision`); otherwise as any passage."""
        embedder = self.stores.embedder
        embed = getattr(embedder, "embed_sentences", embedder.embed_passages)
        with self._embed_lock:
            return np.asarray(embed(list(texts)), dtype=np.float32)

    def passage_similarities(
        self, passages: Sequence[StoredPassage], vector: np.ndarray, known: Mapping[int, float] | None = None
    ) -> dict[int, float]:
        """Cosine of `vector` with each passage's stored vector, by passage id; `known` scores (the dense
        list's, `Retrieval.semantic_scores`, for this same vector) are taken as they are, the others looked
        up in the vector index; a passage not embedded yet (indexing still running) is embedded now."""
        found = {p.id: known[p.id] for p in passages if known and p.id in known}
        ids = {p.id for p in passages} - found.keys()
        if ids:
            found.update(
                (hit.passage_id, hit.score)
                for hit in self.stores.vectors.search(vector, len(ids), allowed=ids)
            )
        missing = [p for p in passages if p.id not in found]
        if missing:
            fresh = self.embed_passages([p.text for p in missing]) @ vector
            found.update((p.id, float(score)) for p, score in zip(missing, fresh, strict=True))
        return found

    def retrieve(
        self,
        query: ParsedQuery,
        mode: str,
        filters: Filters,
        embed_text: str | None = None,
        with_facets: bool = True,
    ) -> Retrieval:
        """Ranked candidate passages satisfying the query and filters, best first.

        `embed_text` lets a caller embed something richer than the query words (a question with its
        follow-up context). Facet candidates ignore the source filter, so a page can show how many
        articles every other source would give.
        """
        candidates_per_list = int(self.settings["search.candidates"])
        kq = keyword_query(
            query,
            self.analyze,
            self.analyze_exact,
            sources=filters.sources,
            date_from=filters.date_from,
            date_to=filters.date_to,
            title_weight=float(self.settings["search.title_weight"]),
        )
        use_keyword = mode in ("keyword", "hybrid") and bool(kq.terms or kq.phrases)
        use_semantic = mode in ("semantic", "hybrid")

        keyword_hits: list[Hit] = []
        facet_keyword_hits: list[Hit] = []
        # Keyword and hybrid modes read every matching passage (up to EXACT_COUNT_LIMIT): keyword mode
        # lists them all; hybrid fuses the best `candidates` with the dense list and lists the rest after,
        # so both can say exactly which articles contain the query's words.
        exact = mode in ("keyword", "hybrid")
        if use_keyword:
            keyword_hits = self._keyword_hits(kq, candidates_per_list, exact=exact)
            if with_facets and filters.sources:
                facet_keyword_hits = self._keyword_hits(
                    replace(kq, sources=()), candidates_per_list, exact=exact
                )
            else:
                facet_keyword_hits = keyword_hits

        vector: np.ndarray | None = None
        semantic_hits: list[Hit] = []
        facet_semantic_hits: list[Hit] = []
        if use_semantic:
            vector = self.embed_query(embed_text or query.positive_text)
            semantic_hits = self._semantic_hits(vector, kq, filters, candidates_per_list)
            facet_semantic_hits = semantic_hits
            if with_facets and filters.sources:
                facet_semantic_hits = self._semantic_hits(
                    vector, kq, replace(filters, sources=()), candidates_per_list
                )

        ids = {
            h.passage_id for h in (*keyword_hits, *facet_keyword_hits, *semantic_hits, *facet_semantic_hits)
        }
        articles = self.stores.docs.passage_articles(ids) if ids else {}
        if self.length_weight and keyword_hits:
            keyword_hits, facet_keyword_hits = self._by_article_length(
                keyword_hits, facet_keyword_hits, articles
            )
        semantic_filtered = self._filter_semantic(semantic_hits, articles, filters, candidates_per_list)
        facet_semantic_filtered = semantic_filtered
        if with_facets and filters.sources:
            facet_semantic_filtered = self._filter_semantic(
                facet_semantic_hits, articles, replace(filters, sources=()), candidates_per_list
            )

        excluded_articles = self._articles_mentioning(kq) if kq.excluded else set()

        def ranked(keyword: list[Hit], semantic: list[Hit]) -> list[Ranked]:
            if mode == "keyword":
                fused = keyword
            elif mode == "semantic":
                fused = semantic
            else:
                # The best `search.candidates` of each list fused; matching passages beyond them follow.
                fused = hybrid(keyword, semantic, self.fusion)
            out: list[Ranked] = []
            for hit in fused:
                article = articles.get(hit.passage_id)
                if article is None:  # gone since indexing: skip, don't fail
                    continue
                if article.id not in excluded_articles:
                    out.append(Candidate(hit.passage_id, article, float(hit.score)))
            return out

        candidates = ranked(keyword_hits, semantic_filtered)
        facet_candidates = candidates
        if with_facets and filters.sources:
            facet_candidates = ranked(facet_keyword_hits, facet_semantic_filtered)
        matched = None
        if mode == "hybrid":
            matched = (
                frozenset(articles[h.passage_id].id for h in facet_keyword_hits if h.passage_id in articles)
                - excluded_articles
            )
        return Retrieval(
            candidates,
            kq,
            facet_candidates,
            vector,
            {h.passage_id: rank for rank, h in enumerate(keyword_hits)},
            {h.passage_id: rank for rank, h in enumerate(semantic_filtered)},
            {h.passage_id: h.score for h in semantic_hits},
            matched_articles=matched,
        )

    def load(self, candidates: Sequence[Ranked]) -> list[Loaded]:
        """The candidates with their passage text and whole article, in the same order.

        Called for the few a caller shows (a page, answer evidence); a passage deleted since it was
        retrieved is left out rather than failing the request.
        """
        if not candidates:
            return []
        passages = self.stores.docs.get_passages(c.passage for c in candidates)
        articles = self.stores.docs.get_articles({p.article_id for p in passages.values()})
        loaded: list[Loaded] = []
        for candidate in candidates:
            passage = passages.get(candidate.passage)
            article = articles.get(passage.article_id) if passage else None
            if passage is not None and article is not None:
                loaded.append(Candidate(passage, article, candidate.score))
        return loaded

    def _by_article_length(
        self, keyword: list[Hit], facets: list[Hit], articles: dict[int, ArticleRef]
    ) -> tuple[list[Hit], list[Hit]]:
        """Both keyword lists rescored by their articles' lengths (retrieval/article_length.py)."""
        listed = keyword if facets is keyword else (*keyword, *facets)  # without a source filter, one list
        wanted = {article.id for article in map(articles.get, (h.passage_id for h in listed)) if article}
        counts = self.stores.docs.passage_counts(wanted)
        scaled = article_length.normalize(keyword, articles, counts, self.length_weight)
        if facets is keyword:
            return scaled, scaled
        return scaled, article_length.normalize(facets, articles, counts, self.length_weight)

    def _articles_mentioning(self, kq: KeywordQuery) -> set[str]:
        """Articles with an excluded term in any passage or the title: a -word removes whole articles.

        The keyword index excludes passage by passage; a result is an article, so an article whose
        other passage has the word must go too. Counted over the first EXACT_COUNT_LIMIT passages.
        """
        mentioning = KeywordQuery(terms=kq.excluded)
        hits = self.stores.keyword.search(mentioning, EXACT_COUNT_LIMIT).hits
        articles = self.stores.docs.passage_articles(h.passage_id for h in hits) if hits else {}
        return {article.id for article in articles.values()}

    def _keyword_hits(self, kq: KeywordQuery, limit: int, exact: bool) -> list[Hit]:
        # One search either way: the index scores every match to count them, so asking for up to
        # EXACT_COUNT_LIMIT at once costs less than a first search for `limit` and a second, wider one.
        return list(self.stores.keyword.search(kq, max(limit, EXACT_COUNT_LIMIT) if exact else limit).hits)

    def _semantic_hits(self, vector: np.ndarray, kq: KeywordQuery, filters: Filters, limit: int) -> list[Hit]:
        """Dense candidates restricted, where the stores allow it, to passages the filters admit.

        A quoted phrase must occur, so only passages the exact field matches may come back: the keyword
        index lists them. Source and date filters become an allowed set, the passages the document store
        lists for them; excluded words are dropped afterwards, from more candidates.
        """
        allowed: set[int] | None = None
        if kq.phrases:
            phrase_only = replace(
                kq, terms=(), sources=filters.sources, date_from=filters.date_from, date_to=filters.date_to
            )
            allowed = {h.passage_id for h in self.stores.keyword.search(phrase_only, EXACT_COUNT_LIMIT).hits}
        elif filters.narrows:
            allowed = self.stores.docs.passage_ids_matching(
                filters.sources, filters.date_from, filters.date_to
            )
        if allowed is not None and not allowed:
            return []
        oversample = FILTER_OVERSAMPLE if (kq.excluded or (allowed is None and filters.narrows)) else 1
        floor = float(self.settings["search.semantic_min_score"])
        hits = self.stores.vectors.search(vector, limit * oversample, allowed=allowed)
        return [h for h in hits if h.score >= floor]

    def _filter_semantic(
        self, hits: list[Hit], articles: dict[int, ArticleRef], filters: Filters, limit: int
    ) -> list[Hit]:
        """Dense hits whose article the filters admit (a no-op when FAISS already had an allowed set)."""
        kept: list[Hit] = []
        for hit in hits:
            article = articles.get(hit.passage_id)
            if article is None or not filters.admits(article):
                continue
            kept.append(hit)
            if len(kept) >= limit:
                break
        return kept
