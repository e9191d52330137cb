"""The operations both faces offer — search, ask, article, stats, analyze — over validated input.

The JSON API and the HTML pages call these same methods, so they accept the same input (the models of
`webapp.inputs`) and fail with the same `ApiError`s. Heavy objects (stores, embedder) are built once per
app and shared by requests.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from flask import Flask, current_app

from indexer.analysis import ANALYZER_VERSION, analyze, analyze_exact
from indexer.grouping.fingerprint import LEAD_PASSAGES
from indexer.grouping.lookup import grouping_enabled, open_groups
from indexer.grouping.stories import article_vector
from indexer.stores.base import Stores
from retrieval import answers, compose, follow_up, highlight, stories
from retrieval.query import ParsedQuery, parse_query
from retrieval.search import (
    Filters,
    Retriever,
    group_by_article,
    reference,
    sort_by_date,
    source_facets,
    split_related,
)
from webapp.errors import BadRequest, NotFound
from webapp.inputs import HISTORY_ROLES, MAX_TURN_CHARS, AnalyzeQuery, AskBody, SearchQuery, parse

RELATED_LIMIT = 6  # related articles listed
RELATED_CANDIDATES = 60  # nearest passages read to find them (several per article, its own among them)
COUNTED = {"story": "stories", "copy": "copy groups", "none": "articles"}  # what `total` counts per collapse
REFRESH_INTERVAL = 0.5  # seconds between checks for a finished re-index (each check is a stat())


@dataclass(frozen=True, slots=True)
class SearchRequest:
    text: str
    query: ParsedQuery
    mode: str
    filters: Filters
    sort: str
    page: int
    size: int
    collapse: str = "story"


def search_request(given: SearchQuery, settings: Mapping[str, Any]) -> SearchRequest:
    """A validated search with the settings' defaults filled in and its query parsed."""
    query = parse_query(given.q)
    if query.is_empty:
        raise BadRequest("empty_query", "the query only excludes words; add a word or phrase to search for")
    return SearchRequest(
        given.q,
        query,
        given.mode or str(settings["search.mode"]),
        Filters(tuple(given.source), given.date_from, given.date_to),
        given.sort,
        given.page,
        given.size or int(settings["search.page_size"]),
        given.collapse,
    )


class Services:
    """Search, ask and read over one set of open stores; safe to share between request threads."""

    def __init__(self, settings: dict[str, Any], stores: Stores) -> None:
        self.settings = settings
        self.stores = stores
        self.retriever = Retriever(stores, settings, analyze, analyze_exact)
        self.groups = open_groups(stores, settings)
        self._refresh_lock = threading.Lock()
        self._last_refresh = time.monotonic()
        self._sources: frozenset[str] = frozenset()
        self._sources_read = -math.inf  # monotonic time the indexed sources were last read
        # Parts added by other modules (the write API's background embedding): a section of stats each,
        # and what to stop before the stores close.
        self.reporters: dict[str, Callable[[], dict[str, Any]]] = {}
        self.closers: list[Callable[[], None]] = []

    @classmethod
    def open(cls, settings: dict[str, Any]) -> Services:
        from indexer.stores import open_stores  # the heavy import (FAISS, tantivy, the model) happens here

        return cls(settings, open_stores(settings))

    def refresh(self, force: bool = False) -> None:
        """Pick up a finished re-index; checked at most every REFRESH_INTERVAL seconds."""
        now = time.monotonic()
        if not force and now - self._last_refresh < REFRESH_INTERVAL:
            return
        if self._refresh_lock.acquire(blocking=False):
            try:
                self._last_refresh = now
                self.stores.refresh()
            finally:
                self._refresh_lock.release()

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()
        self.stores.close()

    def require_sources(self, sources: Sequence[str]) -> None:
        """Refuse a source filter naming no indexed source (a typo, `source=false`): it could only ever
        match nothing. The sources are read again when one is not known, at most every REFRESH_INTERVAL,
        so a source indexed meanwhile is found and a stream of unknown ones costs one read per interval."""
        unknown = [s for s in sources if s not in self._sources]
        if unknown and time.monotonic() - self._sources_read >= REFRESH_INTERVAL:
            self._sources_read = time.monotonic()
            self._sources = frozenset(source for source, _ in _pairs(self.stores.sources()))
            unknown = [s for s in sources if s not in self._sources]
        if unknown:
            raise BadRequest(
                "unknown_source",
                f"no indexed article has the source {unknown[0]!r}; GET /api/v1/stats lists the sources",
            )

    def warm_up(self) -> None:
        """Load the embedding model and prepare the vector index's first pass now (one query), and read the
        rows every query ranks and groups by (each passage's article, source and date, each article's
        passage count and group) into the stores' row caches, so the first visitors wait for none of it."""
        self.stores.vectors.search(self.retriever.embed_query("تهيئة"), 1)
        # Embedded stores only: a scale-out engine's documents and groups are read per query as before.
        for store in (self.stores.docs, self.groups):
            preload = getattr(store, "preload_rows", None)
            if preload is not None:
                preload()

    # -- search --------------------------------------------------------------------------------------

    def search(self, params: Mapping[str, Any] | SearchQuery) -> dict[str, Any]:
        """A page of articles for a query (parameters as from a query string, or already validated);
        see the API's /search for the shape of the result."""
        started = time.perf_counter()
        given = params if isinstance(params, SearchQuery) else parse(SearchQuery, params, self.settings)
        request = search_request(given, self.settings)
        self.refresh()
        self.require_sources(request.filters.sources)
        retrieval = self.retriever.retrieve(request.query, request.mode, request.filters)
        articles = group_by_article(retrieval.candidates)
        unfiltered = retrieval.facet_candidates is retrieval.candidates  # no source filter: the same articles
        facets = source_facets(articles if unfiltered else group_by_article(retrieval.facet_candidates))
        # Hybrid mode: articles containing the query's words first, semantic neighbours after them.
        matches, related = split_related(articles, retrieval.matched_articles)
        if request.sort == "date":
            matches, related = sort_by_date(matches), sort_by_date(related)
        # One result per story (or copy group): its best-ranked article stands for the others.
        rows = (
            self.groups.rows(c.article.id for c in (*matches, *related)) if request.collapse != "none" else {}
        )
        collapsed_matches = stories.collapse(matches, _article_id, rows, request.collapse)
        collapsed_related = stories.collapse(related, _article_id, rows, request.collapse)
        entries = collapsed_matches + collapsed_related
        first = (request.page - 1) * request.size
        shown = entries[first : first + request.size]
        page = {c.passage.id: c for c in self.retriever.load([e.lead for e in shown])}
        groups = self._group_fields([e for e in shown if e.lead.passage in page], rows, request.collapse)
        matched = retrieval.matched_articles
        terms = retrieval.keyword.terms
        phrases = retrieval.keyword.phrases
        results = []
        for entry in shown:
            candidate = page.get(entry.lead.passage)
            if candidate is None:  # deleted since it was retrieved
                continue
            article, passage = candidate.article, candidate.passage
            results.append(
                {
                    **reference(candidate),
                    "score": _round(candidate.score),
                    "related": matched is not None and article.id not in matched,
                    "snippet": str(highlight.snippet(passage.text, terms, phrases, analyze, analyze_exact)),
                    "title_html": str(
                        highlight.render(
                            article.title,
                            highlight.match_spans(article.title, terms, phrases, analyze, analyze_exact),
                        )
                    ),
                    **groups.get(article.id, {"story": None, "copies": None, "also": []}),
                    "collapsed": [c.article.id for c in entry.others],
                }
            )
        return {
            "query": request.text,
            "mode": request.mode,
            "collapse": request.collapse,
            "total": len(collapsed_matches),
            "total_articles": len(matches),
            "related_total": len(collapsed_related),
            "counts": {"total": COUNTED[request.collapse], "facets": "articles"},
            "page": request.page,
            "size": request.size,
            "pages": math.ceil(len(entries) / request.size),
            "took_ms": _elapsed_ms(started),
            "results": results,
            "facets": {"source": facets, "date": stories.timeline([c.article.published for c in matches])},
        }

    def _group_fields(
        self, entries: Sequence[Any], rows: Mapping[str, Any], how: str
    ) -> dict[str, dict[str, Any]]:
        """Per shown article: its story `{id, size, sources}`, its copy group, and the other articles of
        what it stands for (its story, or its copy group), oldest first, each saying whether it matched."""
        leads = [e.lead.article.id for e in entries]
        known = {aid: rows[aid] for aid in leads if aid in rows} or self.groups.rows(leads)
        by_story = self.groups.members("story", {r.story for r in known.values() if r.story})
        by_copy = self.groups.members("copy_group", {r.copy_group for r in known.values()})
        collapsed = {e.lead.article.id: {c.article.id for c in e.others} for e in entries}
        listed: dict[str, list[Any]] = {}
        for aid, row in known.items():
            members = (
                by_story.get(row.story or "", [])
                if how == "story" and row.story
                else by_copy.get(row.copy_group, [])
            )
            listed[aid] = [m for m in members if m.article_id != aid]
        titles = self.stores.docs.get_articles({m.article_id for ms in listed.values() for m in ms})
        shared = {
            aid: Counter([known[aid].copy_group, *(m.copy_group for m in ms)]) for aid, ms in listed.items()
        }
        fields: dict[str, dict[str, Any]] = {}
        for aid, row in known.items():
            copies = by_copy.get(row.copy_group, [])
            fields[aid] = {
                "story": stories.story_summary(row.story, by_story.get(row.story or "", [])),
                "copies": {
                    "id": row.copy_group,
                    "size": len(copies),
                    "sources": list(dict.fromkeys(m.source for m in copies if m.source)),
                },
                "also": [
                    {
                        **_member_entry(m, titles[m.article_id]),
                        # the same copy as the result itself or as another article listed: syndicated text
                        "copy": shared[aid][m.copy_group] > 1,
                        "matched": m.article_id in collapsed[aid],
                    }
                    for m in listed[aid]
                    if m.article_id in titles
                ],
            }
        return fields

    # -- ask -----------------------------------------------------------------------------------------

    def ask(self, question: Any, history: Any = None, mode: Any = None) -> dict[str, Any]:
        """A short answer of cited sentences, or the abstention; see the API's /ask. None for history or
        mode means none given."""
        body: dict[str, Any] = {"question": question}
        if history is not None:
            body["history"] = history
        if mode is not None:
            body["mode"] = mode
        return self.answer(parse(AskBody, body, self.settings))

    def answer(self, body: AskBody) -> dict[str, Any]:
        """`ask` for a validated body."""
        started = time.perf_counter()
        max_chars = int(self.settings["search.max_query_chars"])
        text = body.question
        history = [turn.model_dump() for turn in body.history or []]
        # A follow-up borrows earlier turns for retrieval: bounded like a query, so long turns cost nothing extra.
        turns = follow_up.bounded_history(history, text, analyze, compose.question_terms(analyze), max_chars)
        chosen_mode = body.mode or str(self.settings["search.mode"])
        self.refresh()
        result = answers.answer(self.retriever, text, turns, chosen_mode, self.settings, self.groups)
        return {
            "question": text,
            "answer": result.text,
            "answered": result.answered,
            "evidence": _round(result.evidence),
            "answer_model": result.model,
            "mode": chosen_mode,
            "took_ms": _elapsed_ms(started),
            "citations": result.citations,
        }

    # -- reading -------------------------------------------------------------------------------------

    def article(self, article_id: str) -> dict[str, Any] | None:
        """An article with its passages (offsets into its text), or None when no such article exists."""
        self.refresh()
        found = self.stores.docs.get_articles([article_id]).get(article_id)
        if found is None:
            return None
        passages = self.stores.docs.article_passages(article_id)
        return {
            "id": found.id,
            "title": found.title,
            "source": found.source,
            "published": found.published,
            "url": found.url,
            "author": found.author,
            "category": found.category,
            "text": found.text,
            "passages": [
                {"id": p.id, "ordinal": p.ordinal, "text": p.text, "start": p.start, "end": p.end}
                for p in passages
            ],
        }

    def story(self, story_id: str) -> dict[str, Any]:
        """A story's articles by date, each with its copy group; NotFound for an unknown id."""
        self.refresh()
        members = self.groups.members("story", [story_id]).get(story_id, [])
        articles = self.stores.docs.get_articles(m.article_id for m in members)
        members = [m for m in members if m.article_id in articles]  # deleted meanwhile: left out
        if not members:
            off = "" if grouping_enabled(self.settings) else "; grouping is off (groups.enabled = false)"
            raise NotFound("story_not_found", f"no story with id {story_id!r}{off}")
        return {
            **(stories.story_summary(story_id, members) or {}),
            "first_published": members[0].published,
            "last_published": members[-1].published,
            "articles": [_member_entry(m, articles[m.article_id]) for m in members],
        }

    def related(self, article_id: str, limit: int = RELATED_LIMIT) -> dict[str, Any]:
        """The closest other articles by passage vectors, its own copy group left out, nearby dates first,
        each saying why (same story, similarity, days apart)."""
        self.refresh()
        found = self.stores.docs.get_articles([article_id]).get(article_id)
        if found is None:
            raise NotFound("article_not_found", f"no article with id {article_id!r}")
        passages = self.stores.docs.article_passages(article_id)
        vector = self._article_vector([p.id for p in passages[:LEAD_PASSAGES]])
        if vector is None:
            return {"article_id": article_id, "related": [], "note": "the article has no vectors yet"}
        hits = self.stores.vectors.search(vector, RELATED_CANDIDATES)
        refs = self.stores.docs.passage_articles(h.passage_id for h in hits)
        best: dict[str, float] = {}
        for hit in hits:  # an article's best passage stands for it
            ref = refs.get(hit.passage_id)
            if ref is not None and ref.id != article_id:
                best[ref.id] = max(best.get(ref.id, -1.0), float(hit.score))
        rows = self.groups.rows([article_id, *best])
        own = rows.get(article_id)
        if own is not None:
            best = {a: v for a, v in best.items() if a not in rows or rows[a].copy_group != own.copy_group}
        articles = self.stores.docs.get_articles(best)
        ranked = []
        for other, similarity in best.items():
            if other not in articles:
                continue
            days = stories.days_apart(found.published, articles[other].published)
            same_story = bool(own and own.story and other in rows and rows[other].story == own.story)
            ranked.append((stories.related_score(similarity, days), other, similarity, days, same_story))
        ranked.sort(key=lambda item: (-item[0], item[1]))
        return {
            "article_id": article_id,
            "related": [
                {
                    "article_id": other,
                    "title": articles[other].title,
                    "source": articles[other].source,
                    "published": articles[other].published,
                    "url": articles[other].url,
                    "score": _round(score),
                    "similarity": _round(similarity),
                    "days_apart": days,
                    "same_story": same_story,
                    "why": stories.why_related(similarity, same_story, days),
                }
                for score, other, similarity, days, same_story in ranked[:limit]
            ],
        }

    def _article_vector(self, passage_ids: Sequence[int]) -> Any:
        """The normalised mean of the passages' stored vectors (as stories use), None when none is stored."""
        dim = int(getattr(self.stores.vectors, "dim", 0) or 0)
        if not passage_ids or not dim:
            return None
        ids, vectors = self.stores.docs.get_embeddings(list(passage_ids), dim)
        return article_vector(list(passage_ids), {int(i): v for i, v in zip(list(ids), vectors, strict=True)})

    def require_article(self, article_id: str) -> dict[str, Any]:
        found = self.article(article_id)
        if found is None:
            raise NotFound("article_not_found", f"no article with id {article_id!r}")
        return found

    def stats(self) -> dict[str, Any]:
        """Counts per store, sources with their article counts, and the index manifest."""
        self.refresh()
        counts = self.stores.counts()
        data = asdict(counts)
        sources = self.stores.sources()
        return {
            "counts": data,
            "sources": [{"value": s, "count": n} for s, n in _pairs(sources)],
            "manifest": _plain(self.stores.manifest),
            "settings": {
                name: self.settings[name]
                for name in (
                    "store.backend",
                    "embedder.backend",
                    "search.mode",
                    "search.fusion",
                    "search.rrf_k",
                    "search.keyword_weight",
                    "search.semantic_weight",
                    "search.candidates",
                    "answer.abstain_below",
                )
            },
            **{name: report() for name, report in self.reporters.items()},
        }

    def health(self) -> dict[str, Any]:
        """Whether the stores answer; a scale-out backend adds its own report (cluster, version, index)."""
        self.refresh()
        report: dict[str, Any] = {"status": "ok", "backend": self.settings["store.backend"]}
        store_health = self.stores.health()
        if store_health is not None:
            report["store"] = store_health
            if not report["store"].get("ok", False):
                report["status"] = "unavailable"
                return report
        report["articles"] = self.stores.docs.count_articles()
        return report

    def analyze(self, text: Any) -> dict[str, Any]:
        """What the analyzer makes of a text: the indexed terms and the exact (phrase) terms, with offsets."""
        text = parse(AnalyzeQuery, {} if text is None else {"text": text}).text

        def tokens(items: Sequence[Any]) -> list[dict[str, Any]]:
            return [{"term": t.term, "start": t.start, "end": t.end, "position": t.position} for t in items]

        return {
            "text": text,
            "analyzer": ANALYZER_VERSION,
            "tokens": tokens(analyze(text)),
            "exact": tokens(analyze_exact(text)),
        }


def _member_entry(member: Any, article: Any) -> dict[str, Any]:
    """A story or copy-group member as results and stories list it: the grouping row with its article's
    title and address."""
    return {
        "article_id": member.article_id,
        "title": article.title,
        "source": member.source,
        "published": member.published,
        "url": article.url,
        "copy_group": member.copy_group,
    }


def _article_id(candidate: Any) -> str:
    return str(candidate.article.id)


def _pairs(sources: Any) -> list[tuple[str, int]]:
    if isinstance(sources, Mapping):
        return [(str(k), int(v)) for k, v in sources.items()]
    return [(str(s), int(n)) for s, n in sources]


def _plain(value: Any) -> Any:
    """A manifest as JSON-ready data, whatever object the store keeps it in."""
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def _round(value: float) -> float:
    return round(float(value), 6)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


# Named here before webapp.inputs held them; scripts and tests import them from the services.
__all__ = ["HISTORY_ROLES", "MAX_TURN_CHARS", "Services", "bind", "get_services", "services_of"]

EXTENSION = "isnad"  # the key create_app files an app's services under in app.extensions


def bind(app: Flask, services: Services) -> None:
    """Make `services` the ones `app` serves with (create_app does this once)."""
    app.extensions[EXTENSION] = services


def services_of(app: Flask) -> Services:
    """The services an app built by create_app serves with: for the command line and harnesses that drive
    the app, and close it when done (`services_of(app).close()`)."""
    services: Services = app.extensions[EXTENSION]
    return services


def get_services() -> Services:
    """The current app's services (built once by create_app)."""
    return services_of(current_app)
