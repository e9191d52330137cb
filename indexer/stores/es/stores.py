"""The scale-out stores: the engine (Elasticsearch or OpenSearch) holds articles, passages with their
vectors, keyword and vector search; only the indexer keeps a data directory (its resumable ledger in
SQLite, where embeddings are committed before they reach the engine).

Both are assembled from parts, so the pipeline, the CLI and the web app run unchanged:

- writers (`isnad index`, `isnad delete`; `ElasticsearchStores`) keep the data directory's SQLite document
  store and ledger (`DataDirectory`) and send each committed batch to the engine through
  `PipelineKeywordIndex`: passages with their text and offsets, articles whole. An engine index that lacks
  what SQLite holds (a new server, an analyzer change, or an embedded index being moved over) is rebuilt
  from SQLite into a hidden index and switched in atomically when complete;
- readers (the web app, `EngineReaderStores`) open no data directory at all: articles, passages, vectors
  and the model they were made with all come from the engine, so any number of app servers can serve
  one index.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from indexer.models import Article
from indexer.stores.base import Embedder, KeywordQuery, KeywordResult, StoreCounts, StoredPassage
from indexer.stores.data_dir import DataDirectory, analyzer_version
from indexer.stores.embedders import LazyEmbedder, expected_name, known_dim, make_embedder
from indexer.stores.es import queries
from indexer.stores.es.bulk import BulkFailure
from indexer.stores.es.errors import ElasticsearchIndexMissing
from indexer.stores.es.store import (
    ElasticsearchBackend,
    ElasticsearchDocumentStore,
    ElasticsearchKeywordIndex,
)
from indexer.stores.es.vectors import EngineVectorIndex
from indexer.stores.ledger import IndexLedger
from indexer.stores.manifest import IndexMismatchError, read_manifest
from indexer.stores.sqlite_docstore import SQLiteDocumentStore
from indexer.stores.tantivy_index import KeywordDoc

log = logging.getLogger(__name__)

FLUSH_DOCS = 2000  # passage documents buffered before a bulk write


class Refusals:
    """Articles the engine refused a passage of: the keyword view records them, the ledger keeps them
    pending (`take`), and a rebuild may go live with only these left pending (`ever`)."""

    def __init__(self) -> None:
        self._new: set[str] = set()
        self.ever: set[str] = set()  # every article refused by this process, for finishing rebuilds

    def add(self, article_ids: Iterable[str]) -> None:
        self._new.update(article_ids)
        self.ever.update(article_ids)

    def pending(self, article_id: str) -> bool:
        """Whether the article was refused since the last `take`."""
        return article_id in self._new

    def take(self) -> set[str]:
        """Articles refused since the last call: the ledger must not mark them indexed."""
        refused, self._new = self._new, set()
        return refused


class PipelineKeywordIndex:
    """The keyword index as the indexing pipeline drives it (`add_prepared`, `delete_articles`, `commit`).

    The pipeline hands over analyzer output; the engine analyzes for itself, so the raw passages and
    articles are read back from the SQLite document store by id, with their committed embeddings.
    Replacing an article writes its new passages first and then drops the ones it no longer has, so a
    search never finds it missing. Searches and counts are the engine's keyword index's.
    """

    def __init__(self, backend: ElasticsearchBackend, docs: SQLiteDocumentStore, refusals: Refusals) -> None:
        self.backend = backend
        self.index = ElasticsearchKeywordIndex(backend)
        self.docs = docs  # the ledger's SQLite document store
        self.refusals = refusals
        self._passages: dict[str, list[int]] = {}  # article id -> passage ids added since the last flush
        self._deleted: set[str] = set()  # articles whose old passages must go
        self._buffered = 0

    def add(self, passages: Sequence[StoredPassage], articles: dict[str, Article]) -> None:
        self.index.add(passages, articles)

    def search(self, query: KeywordQuery, limit: int) -> KeywordResult:
        return self.index.search(query, limit)

    def count(self) -> int:
        return self.index.count()

    def add_prepared(self, docs: Iterable[KeywordDoc]) -> None:
        for doc in docs:
            self._passages.setdefault(doc.article_id, []).append(doc.passage_id)
            self._buffered += 1
        if self._buffered >= FLUSH_DOCS:
            self.flush()

    def delete_articles(self, article_ids: Iterable[str]) -> None:
        self._deleted.update(article_ids)

    def flush(self) -> None:
        """Write buffered articles, then remove what replaced or deleted articles left behind."""
        backend = self.backend
        added, deleted = self._passages, self._deleted
        self._passages, self._deleted, self._buffered = {}, set(), 0
        if not added and not deleted:
            return
        index = backend.write_index()
        if added:
            articles = self.docs.get_articles(added)
            hashes = self.docs.article_hashes(added)
            passages = self.docs.get_passages(pid for ids in added.values() for pid in ids)
            live = [p for p in passages.values() if p.article_id in articles]
            refused = backend.bulk(
                backend.passage_operations(index, live, articles, self._vectors([p.id for p in live]))
            )
            failed = self._report_refused(live, refused, backend.take_failures())
            # A refused article gets no article document (that holds its hash) and keeps its old passages:
            # it stays pending in the ledger, and the next run sends it again.
            backend.bulk(
                queries.index_operation(
                    index, queries.article_doc_id(a), queries.article_source(articles[a], hashes[a])
                )
                for a in added
                if a in articles and a in hashes and a not in failed
            )
        replaced = [a for a in deleted if a in added and not self.refusals.pending(a)]
        if replaced:
            backend.delete_passages_where(
                queries.stale_passages(replaced, [pid for a in replaced for pid in added[a]]),
                "removing replaced passages",
            )
        gone = sorted(deleted - set(added))
        if gone:
            backend.delete_passages_where(queries.passages_of_articles(gone), "deleting passages")
            backend.bulk(queries.delete_operation(index, queries.article_doc_id(a)) for a in gone)

    def _report_refused(
        self, passages: list[StoredPassage], refused: set[str], failures: list[BulkFailure]
    ) -> set[str]:
        """Name each refused article with the engine's reason; the others are indexed as usual."""
        if not refused:
            return set()
        article_of = {queries.passage_doc_id(p.id): p.article_id for p in passages}
        reasons: dict[str, str] = {}
        for failure in failures:
            if failure.doc_id in article_of:
                reasons.setdefault(article_of[failure.doc_id], f"HTTP {failure.status}: {failure.reason}")
        for article_id, reason in sorted(reasons.items()):
            log.warning(
                "%s refused article %s (%s); it stays pending and the next `isnad index` tries it again",
                self.backend.product,
                article_id,
                reason[:300],
            )
        self.refusals.add(reasons)
        return set(reasons)

    def _vectors(self, passage_ids: list[int]) -> dict[int, list[float]]:
        """The ledger's committed embeddings of these passages, sent with their documents."""
        if self.backend.dim is None or not passage_ids:
            return {}
        ids, vectors = self.docs.get_embeddings(passage_ids, self.backend.dim)
        return {
            int(pid): [float(x) for x in vector] for pid, vector in zip(ids.tolist(), vectors, strict=True)
        }

    def commit(self) -> None:
        self.flush()
        self.index.commit()

    def rollback(self) -> None:
        self._passages, self._deleted, self._buffered = {}, set(), 0

    def close(self) -> None:
        self.rollback()  # uncommitted work is re-derived from SQLite next run, as with tantivy


def vector_dim(settings: dict[str, Any]) -> int:
    """The configured embedder's dimension, without loading a model when it is known."""
    known = known_dim(settings)
    if known is not None:
        return known
    recorded = read_manifest(settings["data.dir"]).get("dim")
    return int(recorded) if recorded else int(make_embedder(settings).dim)


class ElasticsearchStores:
    """The indexer's stores: its data directory's SQLite document store and ledger locally, everything
    searched in the engine (see the module docstring). Always opened for writing."""

    def __init__(self, settings: dict[str, Any], *, check: bool = True, reembed: bool = False) -> None:
        self.settings = settings
        # Connect first: an unreachable server or a wrong version is reported before the data
        # directory is touched.
        self.backend = ElasticsearchBackend(settings)
        self.backend.dim = vector_dim(settings)
        self.backend.embedder_name = expected_name(settings)
        self.refusals = Refusals()
        self._embedder = LazyEmbedder(settings)
        try:
            self.local = DataDirectory(settings, writable=True, check=check, held_back=self.refusals.take)
            try:
                self.data_dir = self.local.path
                self.docs: SQLiteDocumentStore = self.local.docs
                self.ledger: IndexLedger = self.local.ledger
                self.messages = self.local.messages
                self.local.prepare_for_writing(reembed)
                self.engine_docs = ElasticsearchDocumentStore(self.backend)
                self.vectors = EngineVectorIndex(self.backend, self.backend.dim or 0)
                self.keyword = PipelineKeywordIndex(self.backend, self.docs, self.refusals)
                self._repair_keyword_index()
            except BaseException:
                self.local.release_write_lock()
                raise
        except BaseException:
            self.backend.close()
            raise

    def _repair_keyword_index(self) -> None:
        """Rebuild the engine's index from SQLite when it lacks what SQLite holds, or was analyzed
        differently. A rebuild goes to a hidden index and is switched in by `write_manifest` once no
        article is pending."""
        backend = self.backend
        unfinished = backend.unfinished_rebuilds()
        if unfinished and self._index_analyzer(unfinished[-1]) == analyzer_version():
            backend.begin_rebuild(resume=True)
            self.messages.append(f"resuming the Elasticsearch rebuild in {backend.read_index()}")
            return
        live = backend.live_index()
        meta = index_meta(backend, live) if live is not None else {}
        stale_analysis = live is not None and meta.get("analyzer_version") != analyzer_version()
        # An index from before passages carried vectors, or with another model's, cannot take these.
        stale_vectors = (
            live is not None
            and not stale_analysis
            and (meta.get("dim"), meta.get("embedder")) != (backend.dim, backend.embedder_name)
        )
        missing = self.docs.count_passages() > 0 and (live is None or self.keyword.count() == 0)
        if stale_analysis or stale_vectors or missing:
            for name in unfinished:  # partial rebuilds analyzed otherwise: start afresh
                with backend.errors(f"deleting the unfinished index {name}"):
                    backend.client.delete_index(name)
            backend.begin_rebuild(resume=False)
            self.ledger.reset_keyword_state()
            reason = (
                "was analyzed with another analyzer"
                if stale_analysis
                else "holds no vectors of the configured model"
                if stale_vectors
                else "lacks the indexed articles"
            )
            self.messages.append(
                f"Elasticsearch index {backend.alias!r} {reason}: rebuilding it from "
                f"{self.data_dir} into {backend.read_index()}"
            )

    def _index_analyzer(self, index: str) -> str | None:
        version = index_meta(self.backend, index).get("analyzer_version")
        return str(version) if version is not None else None

    def rebuild_keyword(self) -> str:
        """Start a full re-index into a new hidden index (the next `isnad index` run fills and switches it)."""
        target = self.backend.begin_rebuild(resume=False)
        self.ledger.reset_keyword_state()
        return target

    # -- the Stores interface -------------------------------------------------------------------------

    @property
    def manifest(self) -> dict[str, Any]:
        return self.local.manifest

    @property
    def embedder(self) -> Embedder:
        return self._embedder.get()

    def counts(self) -> StoreCounts:
        return self.local.counts(keyword=self.keyword.count(), vectors=self.vectors.count())

    def sources(self) -> list[tuple[str, int]]:
        return self.engine_docs.sources()

    def sizes(self) -> dict[str, int]:
        return self.local.sizes(self.vectors.size_bytes())

    def write_manifest(self) -> None:
        self.local.write_manifest(self.counts(), self.vectors.kind, self.vectors.dim)
        # A rebuild goes live once nothing is pending but what the engine refused in this run: an article
        # it refuses for good (its reasons were logged) must not keep every other article hidden.
        if self.backend.rebuilding and self._only_refused_pending():
            target = self.backend.finish_rebuild()
            self.messages.append(f"Elasticsearch alias {self.backend.alias!r} now serves {target}")

    def _only_refused_pending(self) -> bool:
        if self.ledger.count_keyword_pending() == 0:
            return True
        refused = self.refusals.ever
        return bool(refused) and not set(self.ledger.keyword_pending_ids()) - refused

    def refresh(self) -> bool:
        """Nothing to reopen: a writer is the one committing, and reads go through the alias."""
        return False

    def health(self) -> dict[str, Any]:
        return self.backend.health()

    @property
    def engine(self) -> ElasticsearchBackend:
        return self.backend

    def close(self) -> None:
        try:
            self.keyword.close()
            self.vectors.close()
            self.local.close()
        finally:
            self.backend.close()


def index_meta(backend: ElasticsearchBackend, index: str) -> dict[str, Any]:
    """The `_meta` an index was created with: analyzer version, embedder and vector dimension."""
    with backend.errors(f"reading the mapping of {index}"):
        mappings: dict[str, Any] = backend.client.get_mapping(index)
    for description in mappings.values():  # one index asked, one answer
        return dict(description.get("mappings", {}).get("_meta", {}))
    return {}


class EngineReaderStores:
    """What an app server opens: the engine's index behind the alias, and the embedder, nothing on disk.

    Several app servers can open the same alias; each sees every refreshed write.
    """

    def __init__(self, settings: dict[str, Any], *, check: bool = True) -> None:
        self.settings = settings
        self.backend = ElasticsearchBackend(settings)
        self.backend.realtime_reads = False  # an app server reads what its searches see
        self.messages: list[str] = []
        self.ledger: IndexLedger | None = None  # the runs are in the indexer's ledger, where it indexes
        self._embedder = LazyEmbedder(settings)
        try:
            live = self.backend.live_index()
            if live is None and check:
                raise ElasticsearchIndexMissing(
                    f"{self.backend.product} at {self.backend.url} has no index {self.backend.alias!r}: index "
                    f"articles first with `isnad index PATH` and ISNAD_STORE={self.backend.client.backend}"
                )
            meta = index_meta(self.backend, live) if live else {}
            if check:
                self._check(meta)
            self.backend.dim = int(meta["dim"]) if meta.get("dim") else vector_dim(settings)
            self.backend.embedder_name = meta.get("embedder") or expected_name(settings)
            self.manifest: dict[str, Any] = {
                **meta,
                "store_backend": self.backend.client.backend,
                "index": live,
                "vector_index": EngineVectorIndex.kind,
            }
            self.vectors = EngineVectorIndex(self.backend, self.backend.dim)
            self.keyword = ElasticsearchKeywordIndex(self.backend)
            self.docs = ElasticsearchDocumentStore(self.backend, self.vectors)
        except BaseException:
            self.backend.close()
            raise

    def _check(self, meta: dict[str, Any]) -> None:
        """Refuse an index analyzed or embedded otherwise than this server would query it."""
        wanted, recorded = analyzer_version(), meta.get("analyzer_version")
        if recorded is not None and str(recorded) != wanted:
            raise IndexMismatchError(
                f"index {self.backend.alias!r} was analyzed with analyzer {recorded}, this server analyzes "
                f"queries with {wanted}: run `isnad index` with this version to rebuild it"
            )
        model = meta.get("embedder")
        if model and model != expected_name(self.settings):
            raise IndexMismatchError(
                f"the vectors in index {self.backend.alias!r} were made with {model}, but the configured "
                f"embedder is {expected_name(self.settings)}: configure the same embedder"
            )

    @property
    def embedder(self) -> Embedder:
        return self._embedder.get()

    def counts(self) -> StoreCounts:
        passages = self.docs.count_passages()
        vectors = self.vectors.count()
        return StoreCounts(
            articles=self.docs.count_articles(),
            passages=passages,
            keyword=passages,
            vectors=vectors,
            pending_vectors=passages - vectors,
        )

    def sources(self) -> list[tuple[str, int]]:
        return self.docs.sources()

    def sizes(self) -> dict[str, int]:
        return {}  # nothing on this machine's disk

    def write_manifest(self) -> None:
        """Nothing to write: the index's `_meta` is the manifest, written by the indexer."""

    def refresh(self) -> bool:
        """Nothing to reopen: every search goes through the alias and sees refreshed writes."""
        return False

    def health(self) -> dict[str, Any]:
        return self.backend.health()

    @property
    def engine(self) -> ElasticsearchBackend:
        return self.backend

    def close(self) -> None:
        self.backend.close()


def open_elasticsearch(
    settings: dict[str, Any], *, writable: bool = False, check: bool = True, reembed: bool = False
) -> ElasticsearchStores | EngineReaderStores:
    """The indexer's stores when writing (a local ledger), else an app server's (the engine alone)."""
    if writable:
        return ElasticsearchStores(settings, check=check, reembed=reembed)
    return EngineReaderStores(settings, check=check)
