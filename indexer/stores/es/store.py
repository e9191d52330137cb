"""The engine backend (Elasticsearch or OpenSearch): a DocumentStore and a KeywordIndex over one index
served behind an alias.

Passages are documents (`p:<passage id>`) carrying their text, place in the article, and the article's
title, source and date; articles are documents (`a:<article id>`) keeping the whole record, unindexed,
with its content hash. Vectors stay in FAISS keyed by the same passage ids, exactly as embedded.

Searches always go through the alias (`elasticsearch.index`, "isnad"). Incremental writes go to the
index the alias points at. A rebuild writes a new index (`isnad-<UTC time>`) that the alias does not
see, and `finish_rebuild` moves the alias in one atomic request: searches see the old index or the
complete new one, never a half-built one. An interrupted rebuild resumes in the index it started.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.models import Article, Hit
from indexer.stores.base import ArticleRef, KeywordQuery, KeywordResult, StoredPassage
from indexer.stores.dates import query_bounds
from indexer.stores.es import queries
from indexer.stores.es.bulk import BulkFailure, BulkWriter, Operation
from indexer.stores.es.client import START_HINT, connect, display_url
from indexer.stores.es.engine import EngineApiError, EngineClient, EngineUnreachable
from indexer.stores.es.errors import (
    ElasticsearchIndexMissing,
    ElasticsearchStoreError,
    ElasticsearchUnavailable,
)
from indexer.stores.es.mapping import bm25_scale, index_definition
from indexer.stores.es.vectors import FIELD as VECTOR_FIELD
from indexer.stores.es.vectors import EngineVectorIndex, vector_field
from indexer.stores.es.vectors import index_settings as vector_index_settings

if TYPE_CHECKING:
    from indexer.stores.tantivy_index import KeywordDoc

log = logging.getLogger(__name__)

MGET_CHUNK = 1000  # ids per multi-get request
DELETE_CHUNK = 500  # articles per delete-by-query
PAGE = 10_000  # hits per page when listing ids; Elasticsearch's default max_result_window
# Elasticsearch index names: lowercase, none of \ / * ? " < > | , # : or space, not starting with - _ +.
_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,200}$")


def check_index_name(name: str) -> str:
    if not _INDEX_NAME.match(name) or name in (".", ".."):
        raise ElasticsearchStoreError(
            f"elasticsearch.index {name!r} is not a valid Elasticsearch index name: use lowercase letters, "
            "digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _index_missing(error: EngineApiError) -> bool:
    return error.status == 404 and error.error_type == "index_not_found_exception"


class ElasticsearchBackend:
    """The connection, alias and write target shared by the document store and keyword index views."""

    def __init__(self, settings: Mapping[str, Any], *, client: EngineClient | None = None) -> None:
        self.url = settings["elasticsearch.url"]
        self.alias = check_index_name(settings["elasticsearch.index"])
        self.shards = int(settings.get("elasticsearch.shards", 1))
        self.replicas = int(settings.get("elasticsearch.replicas", 0))
        # Set by the facade before the first index is created: the passage vectors' dimension and model.
        # None leaves the vector field out (a store used for keyword search only, as in the contract tests).
        self.dim: int | None = None
        self.embedder_name: str | None = None
        # The indexer reads its own unrefreshed writes (hashes, passages); an app server, like its
        # searches, only what a refresh made visible, which multi-gets return faster.
        self.realtime_reads = True
        if client is None:
            client, self.info = connect(settings)
        else:
            self.info = {}
        self.client = client
        self.product = client.product  # "Elasticsearch" or "OpenSearch", in messages
        self.writer = BulkWriter(client, url=display_url(self.url))
        self.failures: list[BulkFailure] = []  # per-document refusals not yet collected by the caller
        self._live: str | None = None  # concrete index behind the alias, once known
        self._target: str | None = None  # the index a rebuild is writing, while one is under way
        self._written: set[int] = set()  # passages written by put_articles since the last refresh
        self._dirty = False  # writes not yet made visible to searches by a refresh
        self._closed = False
        self._lock = threading.Lock()

    # -- errors ---------------------------------------------------------------------------------------

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn client exceptions into messages that name the server, the index and the fix."""
        url, name = display_url(self.url), self.product
        try:
            yield
        except ElasticsearchStoreError:
            raise
        except EngineApiError as error:
            if _index_missing(error):
                raise ElasticsearchIndexMissing(
                    f"{name} at {url} has no index {self.alias!r} ({action}): index articles first "
                    f"with `isnad index PATH` and ISNAD_STORE={self.client.backend}"
                ) from None
            if error.status == 404:
                raise ElasticsearchStoreError(f"{name} at {url}: {action} failed: {error.message}") from None
            if error.status in (401, 403):
                raise ElasticsearchUnavailable(
                    f"{name} at {url} refused {action} (HTTP {error.status}): check "
                    "elasticsearch.api_key or elasticsearch.username/password"
                ) from None
            if error.status in (502, 503, 504):  # the node is there but cannot serve now: say so as such
                raise ElasticsearchUnavailable(
                    f"{name} at {url}: {action} failed with HTTP {error.status}: {error.message}"
                ) from None
            raise ElasticsearchStoreError(
                f"{name} at {url}: {action} failed with HTTP {error.status}: {error.message}"
            ) from None
        except EngineUnreachable as error:
            raise ElasticsearchUnavailable(
                f"cannot reach {name} at {url} ({action}: {error.message}): {START_HINT}"
            ) from None

    # -- indices and the alias --------------------------------------------------------------------------

    def aliased_indices(self) -> list[str]:
        """The concrete indices the alias points at (one, normally); empty when it does not exist."""
        with self.errors("reading the alias"):
            try:
                return sorted(self.client.get_alias(self.alias))
            except EngineApiError as error:
                if error.status == 404:
                    return []
                raise

    def live_index(self) -> str | None:
        if self._live is None:
            indices = self.aliased_indices()
            self._live = indices[0] if indices else None
        return self._live

    def new_index_name(self) -> str:
        return f"{self.alias}-{datetime.now(UTC):%Y%m%d-%H%M%S-%f}"

    def create_index(self, name: str) -> None:
        from indexer.analysis import ANALYZER_VERSION

        definition = index_definition(self.shards, self.replicas)
        meta = definition["mappings"].setdefault("_meta", {})
        # Recorded so a later run can tell an index analyzed by another analyzer version and rebuild it.
        meta["analyzer_version"] = ANALYZER_VERSION
        if self.dim is not None:
            # Passages carry their vector; readers learn model and dimension here, not from a data directory.
            definition["mappings"]["properties"][VECTOR_FIELD] = vector_field(self.client.backend, self.dim)
            definition["settings"]["index"].update(vector_index_settings(self.client.backend))
            meta.update(embedder=self.embedder_name, dim=self.dim)
        with self.errors(f"creating index {name}"):
            self.client.create_index(name, definition["settings"], definition["mappings"])

    def write_index(self) -> str:
        """Where writes go: the rebuild's index, else the live index, created on the very first write.

        The first index is put behind the alias at once: there is no older index to keep serving.
        """
        with self._lock:
            if self._target is not None:
                return self._target
            live = self.live_index()
            if live is None:
                live = self.new_index_name()
                self.create_index(live)
                with self.errors("creating the alias"):
                    self.client.update_aliases(queries.alias_switch_actions(self.alias, live, ())["actions"])
                self._live = live
            return live

    def read_index(self) -> str:
        """Where the indexer's reads go (hashes, passages): the rebuild's index while one runs."""
        return self._target or self.alias

    @property
    def rebuilding(self) -> bool:
        """Whether a rebuild is writing a hidden index (begin_rebuild until finish or abandon)."""
        return self._target is not None

    def has_index(self) -> bool:
        """Whether there is an index to read or write: a live one, or a rebuild's."""
        return self.live_index() is not None or self._target is not None

    def note_written(self, passage_ids: Iterable[int]) -> None:
        """Passages put_articles wrote, which the keyword view need not send again until the next refresh."""
        self._written.update(passage_ids)

    def unwritten(self, passages: Sequence[StoredPassage]) -> list[StoredPassage]:
        """Those of `passages` not written since the last refresh."""
        return [p for p in passages if p.id not in self._written]

    def forget_written(self) -> None:
        self._written.clear()

    def unfinished_rebuilds(self) -> list[str]:
        """Indices named like this alias's rebuilds that the alias does not point at, oldest first."""
        pattern = re.compile(rf"^{re.escape(self.alias)}-\d{{8}}-\d{{6}}-\d{{6}}$")
        with self.errors("listing indices"):
            try:
                names = self.client.get_indices(f"{self.alias}-*", expand_wildcards="open")
            except EngineApiError as error:
                if error.status == 404:
                    return []
                raise
        aliased = set(self.aliased_indices())
        return sorted(name for name in names if pattern.match(name) and name not in aliased)

    def begin_rebuild(self, resume: bool = True) -> str:
        """Send writes to a new index hidden from searches (or to the newest unfinished one, to resume)."""
        with self._lock:
            unfinished = self.unfinished_rebuilds() if resume else []
            if unfinished:
                self._target = unfinished[-1]
                log.info("resuming the rebuild in %s", self._target)
            else:
                self._target = self.new_index_name()
                self.create_index(self._target)
            self._written.clear()
            return self._target

    def finish_rebuild(self, delete_old: bool = True) -> str:
        """Make the rebuilt index visible: refresh it, then move the alias to it in one atomic request."""
        with self._lock:
            if self._target is None:
                raise ElasticsearchStoreError("finish_rebuild called without begin_rebuild")
            target = self._target
            with self.errors(f"refreshing {target}"):
                self.client.refresh(target)
            old = self.aliased_indices()
            with self.errors(f"switching alias {self.alias} to {target}"):
                self.client.update_aliases(queries.alias_switch_actions(self.alias, target, old)["actions"])
            self._target, self._live, self._dirty = None, target, False
            self._written.clear()
        if delete_old:
            for name in old:
                if name != target:
                    with self.errors(f"deleting the old index {name}"):
                        self.client.delete_index(name)
        return target

    def abandon_rebuild(self) -> None:
        """Drop the index a rebuild was writing; the alias never pointed at it."""
        with self._lock:
            target, self._target = self._target, None
            self._written.clear()
        if target is not None:
            with self.errors(f"deleting {target}"):
                self.client.delete_index(target)

    def refresh(self) -> None:
        """Make every write so far visible to searches (and to the delete-by-query that follows)."""
        if not self._dirty:
            return
        with self.errors("refreshing"):
            self.client.refresh(self._target or self.write_index())
        self._dirty = False

    # -- writing ----------------------------------------------------------------------------------------

    def bulk(self, operations: Iterable[Operation], *, missing_ok: bool = False) -> set[str]:
        """Send operations; record refused documents in `failures` and return their ids.

        With `missing_ok`, an update of a document that does not exist (404) is not a failure.
        """
        with self.errors("bulk write"):
            report = self.writer.write(operations)
        self._dirty = True
        if missing_ok:
            report.failures = [failure for failure in report.failures if failure.status != 404]
        for failure in report.failures:
            log.warning("%s refused %s", self.product, failure)
        self.failures.extend(report.failures)
        return {failure.doc_id for failure in report.failures}

    def take_failures(self) -> list[BulkFailure]:
        """Per-document failures since the last call, for the indexer to report as problems."""
        failures, self.failures = self.failures, []
        return failures

    def passage_operations(
        self,
        index: str,
        passages: Iterable[StoredPassage],
        articles: Mapping[str, Article],
        vectors: Mapping[int, list[float]] | None = None,
    ) -> list[Operation]:
        """Index operations for passage documents, each with its vector when `vectors` has one."""
        operations: list[Operation] = []
        for p in passages:
            source = queries.passage_source(p, articles[p.article_id])
            if vectors and p.id in vectors:
                source[VECTOR_FIELD] = vectors[p.id]
            operations.append(queries.index_operation(index, queries.passage_doc_id(p.id), source))
        return operations

    def delete_passages_where(self, query: dict[str, Any], action: str) -> None:
        self.refresh()  # delete-by-query only sees what a refresh has made searchable
        with self.errors(action):
            self.client.delete_by_query(self._target or self.write_index(), query)
        self._dirty = True

    # -- reading ----------------------------------------------------------------------------------------

    def mget(self, doc_ids: Sequence[str], fields: Sequence[str], index: str) -> dict[str, dict[str, Any]]:
        """Sources of the documents that exist, by _id; a missing alias or index means none."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(doc_ids)), MGET_CHUNK):
            with self.errors("reading documents"):
                docs = self.client.mget(index, list(chunk), list(fields), realtime=self.realtime_reads)
            for doc in docs:
                if doc.get("found"):
                    found[doc["_id"]] = doc["_source"]
        return found

    def search_all(
        self,
        query: dict[str, Any],
        index: str,
        fields: Sequence[str] = (),
        sort: Sequence[Any] = ({"passage_id": "asc"},),
    ) -> Iterator[dict[str, Any]]:
        """Every hit of a query with the given source fields (none: ids only), page by page with
        search_after, so there is no 10,000-hit window."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "query": query,
                "size": PAGE,
                "sort": list(sort),
                "track_total_hits": False,
                "_source": {"includes": list(fields)} if fields else False,
            }
            if after is not None:
                body["search_after"] = after
            with self.errors("searching"):
                response = self.client.search(index, body)
            hits = response["hits"]["hits"]
            yield from hits
            if len(hits) < PAGE:
                return
            after = hits[-1]["sort"]

    def count(self, doc_type: str, index: str | None = None) -> int:
        with self.errors("counting"):
            try:
                return self.client.count(index or self.alias, {"term": {"doc_type": doc_type}})
            except EngineApiError as error:
                if _index_missing(error):
                    return 0
                raise

    def health(self) -> dict[str, Any]:
        """What /api/v1/health reports for this backend; never raises, says what is wrong instead."""
        report: dict[str, Any] = {
            "backend": self.client.backend,
            "url": display_url(self.url),
            "alias": self.alias,
            "ok": False,
        }
        try:
            with self.errors("checking health"):
                cluster = self.client.cluster_health()
            report["cluster"] = cluster.get("cluster_name")
            report["status"] = cluster.get("status")
            report["version"] = self.info.get("version", {}).get("number")
            indices = self.aliased_indices()
            report["index"] = indices[0] if indices else None
            if not indices:
                report["error"] = (
                    f"no index {self.alias!r} yet: index articles with `isnad index PATH` "
                    f"and ISNAD_STORE={self.client.backend}"
                )
                return report
            report["articles"] = self.count(queries.ARTICLE)
            report["passages"] = self.count(queries.PASSAGE)
            report["ok"] = cluster.get("status") in ("green", "yellow")
            if not report["ok"]:
                report["error"] = f"cluster status is {cluster.get('status')}"
        except ElasticsearchStoreError as error:
            report["error"] = str(error)
        return report

    def close(self) -> None:
        """Close the connection once, whichever view (or facade) closes first."""
        if not self._closed:
            self._closed = True
            self.client.close()


class ElasticsearchDocumentStore:
    """Articles and passages in the engine (the DocumentStore contract), their vectors through `vectors`."""

    def __init__(self, backend: ElasticsearchBackend, vectors: EngineVectorIndex | None = None) -> None:
        self.backend = backend
        self.vectors = vectors if vectors is not None else EngineVectorIndex(backend, backend.dim or 0)

    def article_hashes(self, article_ids: Iterable[str]) -> dict[str, str]:
        ids = [queries.article_doc_id(a) for a in dict.fromkeys(article_ids)]
        index = self.backend.read_index()
        if index == self.backend.alias and self.backend.live_index() is None:
            return {}  # nothing indexed yet
        return {
            source["article_id"]: source["hash"]
            for source in self.backend.mget(ids, ("article_id", "hash"), index).values()
        }

    def put_articles(self, items: Sequence[tuple[Article, str, list[StoredPassage]]]) -> None:
        """Write passages, drop the passages a re-cut left behind, then the articles with their hashes.

        That order keeps a crash harmless: an article's hash (which lets the indexer skip it next time)
        is written only after all its passages are. An article with a refused passage is left without
        its new hash, so the next run tries it again; the refusals are in `backend.failures`.
        """
        if not items:
            return
        backend = self.backend
        index = backend.write_index()
        articles = {article.id: article for article, _, _ in items}
        passages = [p for _, _, group in items for p in group]
        refused = backend.bulk(backend.passage_operations(index, passages, articles))
        failed_articles = {p.article_id for p in passages if queries.passage_doc_id(p.id) in refused}
        written = [(a, h, group) for a, h, group in items if a.id not in failed_articles]
        for chunk in _chunks(written, DELETE_CHUNK):
            backend.delete_passages_where(
                queries.stale_passages([a.id for a, _, _ in chunk], [p.id for _, _, g in chunk for p in g]),
                "removing replaced passages",
            )
        backend.bulk(
            queries.index_operation(index, queries.article_doc_id(a.id), queries.article_source(a, h))
            for a, h, _ in written
        )
        backend.note_written(p.id for _, _, group in written for p in group)

    def delete_articles(self, article_ids: Iterable[str]) -> list[int]:
        """Remove articles and their passages; returns the removed passage ids (for FAISS)."""
        ids = list(dict.fromkeys(article_ids))
        if not ids or not self.backend.has_index():
            return []
        backend = self.backend
        index = backend.write_index()
        backend.refresh()
        removed = [
            int(hit["_id"].removeprefix("p:"))
            for chunk in _chunks(ids, DELETE_CHUNK)
            for hit in backend.search_all(queries.passages_of_articles(chunk), index)
        ]
        for chunk in _chunks(ids, DELETE_CHUNK):
            backend.delete_passages_where(queries.passages_of_articles(chunk), "deleting passages")
        backend.bulk(queries.delete_operation(index, queries.article_doc_id(a)) for a in ids)
        return removed

    def get_articles(self, article_ids: Iterable[str]) -> dict[str, Article]:
        sources = self.backend.mget(
            [queries.article_doc_id(a) for a in article_ids], ("article",), self.backend.read_index()
        )
        articles = (queries.article_from_source(source) for source in sources.values())
        return {article.id: article for article in articles}

    def get_passages(self, passage_ids: Iterable[int]) -> dict[int, StoredPassage]:
        """Passages by id; ids no longer stored are absent, as in SQLite."""
        fields = ("passage_id", "article_id", "ordinal", "text", "start", "end")
        sources = self.backend.mget(
            [queries.passage_doc_id(int(i)) for i in passage_ids], fields, self.backend.read_index()
        )
        passages = (queries.passage_from_source(source) for source in sources.values())
        return {passage.id: passage for passage in passages}

    def passage_articles(self, passage_ids: Iterable[int]) -> dict[int, ArticleRef]:
        """Each passage's article id, source and date: the ids from the passages' doc values (one search,
        no source read), then one multi-get of a few small fields of their articles (no text)."""
        index = self.backend.read_index()
        article_of: dict[int, str] = {}
        for chunk in _chunks(sorted({int(i) for i in passage_ids}), MGET_CHUNK):
            body = {
                "size": len(chunk),
                "_source": False,
                "track_total_hits": False,
                "docvalue_fields": ["passage_id", "article_id"],
                "query": {"terms": {"passage_id": chunk}},
            }
            with self.backend.errors("reading passages"):
                response = self.backend.client.search(index, body)
            for hit in response["hits"]["hits"]:
                article_of[int(hit["fields"]["passage_id"][0])] = hit["fields"]["article_id"][0]
        records = self.backend.mget(
            [queries.article_doc_id(a) for a in set(article_of.values())], queries.ARTICLE_REF_FIELDS, index
        )
        refs = {ref.id: ref for ref in map(queries.article_ref_from_source, records.values())}
        return {pid: refs[article] for pid, article in article_of.items() if article in refs}

    def passage_counts(self, article_ids: Iterable[str]) -> dict[str, int]:
        """Passages per article from a terms aggregation over the passages' article ids (no source read)."""
        index = self.backend.read_index()
        counts: dict[str, int] = {}
        for chunk in _chunks(sorted(set(article_ids)), MGET_CHUNK):
            body = {
                "size": 0,
                "track_total_hits": False,
                "query": queries.passages_of_articles(chunk),
                "aggs": {"articles": {"terms": {"field": "article_id", "size": len(chunk)}}},
            }
            with self.backend.errors("counting passages"):
                response = self.backend.client.search(index, body)
            for bucket in response["aggregations"]["articles"]["buckets"]:
                counts[str(bucket["key"])] = int(bucket["doc_count"])
        return counts

    def article_passages(self, article_id: str) -> list[StoredPassage]:
        fields = ["passage_id", "article_id", "ordinal", "text", "start", "end"]
        hits = self.backend.search_all(
            queries.passages_of_articles([article_id]),
            self.backend.read_index(),
            fields=fields,
            sort=({"ordinal": "asc"}, {"passage_id": "asc"}),
        )
        return [queries.passage_from_source(hit["_source"]) for hit in hits]

    def passage_ids_matching(
        self, sources: Sequence[str] = (), date_from: str | None = None, date_to: str | None = None
    ) -> set[int]:
        """Passage ids whose article is from any of `sources` and within the dates: FAISS's allowed set."""
        query = queries.bool_query(KeywordQuery(sources=tuple(sources), date_from=date_from, date_to=date_to))
        return {
            queries.passage_id_of(hit["_id"]) for hit in self.backend.search_all(query, self.backend.alias)
        }

    def sources(self) -> list[tuple[str, int]]:
        """Each source with its article count, largest first, as SQLite's `sources()`."""
        with self.backend.errors("counting sources"):
            response = self.backend.client.search(self.backend.alias, queries.facets_body(KeywordQuery()))
        return queries.facets_from_response(response)

    def article_ids(self) -> list[str]:
        hits = self.backend.search_all(
            {"term": {"doc_type": queries.ARTICLE}}, self.backend.read_index(), sort=({"article_id": "asc"},)
        )
        return [hit["_id"].removeprefix(queries.article_doc_id("")) for hit in hits]

    def get_embeddings(self, ids: Sequence[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids found with a vector, their vectors), read from the passages' documents."""
        return self.vectors.get(ids)

    def count_embeddings(self) -> int:
        return self.vectors.count()

    def count_articles(self) -> int:
        return self.backend.count(queries.ARTICLE, self.backend.read_index())

    def count_passages(self) -> int:
        return self.backend.count(queries.PASSAGE, self.backend.read_index())

    def health(self) -> dict[str, Any]:
        return self.backend.health()

    def close(self) -> None:
        self.backend.close()


class ElasticsearchKeywordIndex:
    """BM25 over passages in the engine (the KeywordIndex contract); scores are Lucene's BM25."""

    def __init__(self, backend: ElasticsearchBackend) -> None:
        self.backend = backend
        self.scale = bm25_scale()  # engine scores / scale = the embedded index's scores

    def add(self, passages: Sequence[StoredPassage], articles: dict[str, Article]) -> None:
        """Index passages; those put_articles already wrote with the same id are not sent again."""
        backend = self.backend
        fresh = backend.unwritten(passages)
        if fresh:
            backend.bulk(backend.passage_operations(backend.write_index(), fresh, articles))

    def add_prepared(self, docs: Iterable[KeywordDoc]) -> None:
        """Refused: the engine analyzes passages itself, from their text (`add`); the indexer's
        PipelineKeywordIndex reads that text from its ledger."""
        raise ElasticsearchStoreError(
            "the engine's keyword index takes passages with their text, not "
            "analyzer output: open the stores for writing to index"
        )

    def delete_articles(self, article_ids: Iterable[str]) -> None:
        ids = list(dict.fromkeys(article_ids))
        if not ids or not self.backend.has_index():
            return
        for chunk in _chunks(ids, DELETE_CHUNK):
            self.backend.delete_passages_where(queries.passages_of_articles(chunk), "deleting passages")

    def commit(self) -> None:
        """Make writes searchable. (A rebuild becomes visible only at `finish_rebuild`.)"""
        self.backend.refresh()
        self.backend.forget_written()

    def search(self, query: KeywordQuery, limit: int) -> KeywordResult:
        """Top passages by BM25, or newest first with sort="date" (scores still BM25).

        Raises ValueError for an unreadable date filter, as the embedded index does.
        """
        query_bounds(query.date_from, query.date_to)  # the same ValueError as the embedded index
        body = queries.search_body(query, min(max(limit, 0), PAGE))
        # With more than one shard each shard would score with its own statistics; DFS gathers them
        # first so scores equal a single-index BM25 (Elasticsearch skips DFS for one shard).
        search_type = "dfs_query_then_fetch" if self.backend.shards > 1 else None
        with self.backend.errors("searching"):
            response = self.backend.client.search(self.backend.alias, body, search_type=search_type)
        hits = [
            Hit(queries.passage_id_of(hit["_id"]), float(hit.get("_score") or 0.0) / self.scale)
            for hit in response["hits"]["hits"]
        ]
        return KeywordResult(hits, int(response["hits"]["total"]["value"]))

    def facets(self, query: KeywordQuery, size: int = 50) -> list[tuple[str, int]]:
        """Matching articles per source for the query without its source filter (an aggregation).

        Optional, beyond the KeywordIndex contract: the web app counts facets from its candidates in
        both backends; this gives exact counts over every match on large corpora.
        """
        with self.backend.errors("counting facets"):
            response = self.backend.client.search(self.backend.alias, queries.facets_body(query, size))
        return queries.facets_from_response(response)

    def count(self) -> int:
        return self.backend.count(queries.PASSAGE, self.backend.read_index())

    def reload(self) -> None:
        """Nothing to reopen: searches see every refreshed write."""

    def close(self) -> None:
        self.backend.close()
