"""The scale-out `Stores` facade: the engine (Elasticsearch or OpenSearch) serves articles, passages and
keyword search; the data
directory keeps what stays local in every deployment (FAISS vectors, their embeddings, and the
indexer's resumable bookkeeping in SQLite).

It reuses the embedded facade (`indexer.stores.embedded.Stores`) and changes only what lives in
Elasticsearch, so the pipeline, the CLI and the web app run unchanged:

- writers (`isnad index`, `isnad delete`) keep SQLite as the indexer's ledger and send each committed
  batch to Elasticsearch: passages with their text and offsets, articles whole. An Elasticsearch index
  that lacks what SQLite holds (a new server, an analyzer change, or an embedded index being moved
  over) is rebuilt from SQLite into a hidden index and switched in atomically when complete;
- readers (the web app) read articles and passages from Elasticsearch and vectors from FAISS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from indexer.stores.embedded import Stores
from indexer.stores.es import queries
from indexer.stores.es.errors import ElasticsearchStoreError
from indexer.stores.es.store import (
    ElasticsearchBackend,
    ElasticsearchDocumentStore,
    ElasticsearchKeywordIndex,
)
from indexer.stores.tantivy_index import KeywordDoc

log = logging.getLogger(__name__)

FLUSH_DOCS = 2000  # passage documents buffered before a bulk write


def analyzer_version() -> str:
    from indexer.analysis import ANALYZER_VERSION

    return str(ANALYZER_VERSION)


class PipelineKeywordIndex(ElasticsearchKeywordIndex):
    """The keyword index as the indexing pipeline drives it (`add_prepared`, `delete_articles`, `commit`).

    The pipeline hands over analyzer output; Elasticsearch analyzes for itself, so the raw passages and
    articles are read back from the SQLite ledger by id. Replacing an article writes its new passages
    first and then drops the ones it no longer has, so a search never finds it missing.
    """

    def __init__(self, backend: ElasticsearchBackend, ledger: Any) -> None:
        super().__init__(backend)
        self.ledger = ledger  # the SQLite document store
        self._passages: dict[str, list[int]] = {}  # article id -> passage ids added since the last flush
        self._deleted: set[str] = set()  # articles whose old passages must go
        self._buffered = 0

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
            articles = self.ledger.get_articles(added)
            hashes = self.ledger.article_hashes(added)
            passages = self.ledger.get_passages(pid for ids in added.values() for pid in ids)
            live = [p for p in passages.values() if p.article_id in articles]
            backend.bulk(backend.passage_operations(index, live, articles))
            backend.bulk(queries.index_operation(index, queries.article_doc_id(a), queries.article_source(
                articles[a], hashes[a])) for a in added if a in articles and a in hashes)
        replaced = [a for a in deleted if a in added]
        if replaced:
            backend.delete_passages_where(
                queries.stale_passages(replaced, [pid for a in replaced for pid in added[a]]),
                "removing replaced passages")
        gone = sorted(deleted - set(added))
        if gone:
            backend.delete_passages_where(queries.passages_of_articles(gone), "deleting passages")
            backend.bulk(queries.delete_operation(index, queries.article_doc_id(a)) for a in gone)

    def commit(self) -> None:
        self.flush()
        super().commit()

    def rollback(self) -> None:
        self._passages, self._deleted, self._buffered = {}, set(), 0

    def close(self) -> None:
        self.rollback()  # uncommitted work is re-derived from SQLite next run, as with tantivy


class ReaderDocuments(ElasticsearchDocumentStore):
    """Reads from Elasticsearch; embeddings and bookkeeping, which stay local, from the SQLite ledger."""

    def __init__(self, backend: ElasticsearchBackend, ledger: Any) -> None:
        super().__init__(backend)
        self.ledger = ledger

    def __getattr__(self, name: str) -> Any:
        if name == "ledger":  # not set yet: never recurse
            raise AttributeError(name)
        return getattr(self.ledger, name)

    def close(self) -> None:
        self.ledger.close()


class ElasticsearchStores(Stores):
    """`Stores` with Elasticsearch for articles, passages and keyword search (see the module docstring)."""

    def __init__(self, settings: dict[str, Any], *, writable: bool = False, check: bool = True,
                 reembed: bool = False) -> None:
        # Connect first: an unreachable server or a wrong version is reported before the data
        # directory is touched.
        self.backend = ElasticsearchBackend(settings)
        self._switched = False
        try:
            super().__init__(settings, writable=writable, check=check, reembed=reembed)
            self._use_elasticsearch()
        except BaseException:
            self.backend.close()
            raise

    def _use_elasticsearch(self) -> None:
        if self._switched:
            return
        self.keyword.close()  # the tantivy index the embedded facade opened is not used
        self.ledger = self.docs
        # The embedded facade types these as its own classes; these duck-type the same calls.
        if self.writable:
            self.keyword = PipelineKeywordIndex(self.backend, self.ledger)  # type: ignore[assignment]
        else:
            self.keyword = ElasticsearchKeywordIndex(self.backend)  # type: ignore[assignment]
            self.docs = ReaderDocuments(self.backend, self.ledger)  # type: ignore[assignment]
        self._switched = True

    def _repair_keyword_index(self) -> None:
        """Rebuild Elasticsearch from SQLite when it lacks what SQLite holds, or was analyzed differently.

        Called by the embedded facade when opening for writing; a rebuild goes to a hidden index and
        is switched in by `write_manifest` once no article is pending.
        """
        self._use_elasticsearch()
        backend = self.backend
        unfinished = backend.unfinished_rebuilds()
        if unfinished and self._index_analyzer(unfinished[-1]) == analyzer_version():
            backend.begin_rebuild(resume=True)
            self.messages.append(f"resuming the Elasticsearch rebuild in {backend.read_index()}")
            return
        live = backend.live_index()
        stale_analysis = live is not None and self._index_analyzer(live) != analyzer_version()
        missing = self.ledger.count_passages() > 0 and (live is None or self.keyword.count() == 0)
        if stale_analysis or missing:
            for name in unfinished:  # partial rebuilds analyzed otherwise: start afresh
                with backend.errors(f"deleting the unfinished index {name}"):
                    backend.client.delete_index(name)
            backend.begin_rebuild(resume=False)
            self.ledger.reset_keyword_state()
            reason = "was analyzed with another analyzer" if stale_analysis else "lacks the indexed articles"
            self.messages.append(f"Elasticsearch index {backend.alias!r} {reason}: rebuilding it from "
                                 f"{self.data_dir} into {backend.read_index()}")

    def _index_analyzer(self, index: str) -> str | None:
        with self.backend.errors(f"reading the mapping of {index}"):
            mappings: dict[str, Any] = self.backend.client.get_mapping(index)
        for description in mappings.values():  # one index asked, one answer
            version = description.get("mappings", {}).get("_meta", {}).get("analyzer_version")
            return str(version) if version is not None else None
        return None

    def rebuild_keyword(self) -> str:
        """Start a full re-index into a new hidden index (the next `isnad index` run fills and switches it)."""
        if not self.writable:
            raise ElasticsearchStoreError("rebuilding needs the stores opened for writing")
        target = self.backend.begin_rebuild(resume=False)
        self.ledger.reset_keyword_state()
        return target

    def write_manifest(self) -> None:
        super().write_manifest()
        if self.writable and self.backend._target is not None and self.ledger.count_keyword_pending() == 0:
            target = self.backend.finish_rebuild()
            self.messages.append(f"Elasticsearch alias {self.backend.alias!r} now serves {target}")

    def sources(self) -> list[tuple[str, int]]:
        return ElasticsearchDocumentStore(self.backend).sources()

    def health(self) -> dict[str, Any]:
        return self.backend.health()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.backend.close()


def open_elasticsearch(settings: dict[str, Any], *, writable: bool = False, check: bool = True,
                       reembed: bool = False) -> ElasticsearchStores:
    return ElasticsearchStores(settings, writable=writable, check=check, reembed=reembed)
