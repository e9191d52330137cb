"""The embedded deployment: SQLite + tantivy + FAISS in one data directory (see `indexer.stores.data_dir`
for its layout), opened together as one `Stores`."""

from __future__ import annotations

import threading
from typing import Any

from indexer.stores.base import Embedder, StoreCounts
from indexer.stores.data_dir import KEYWORD_DIR, VECTORS_FILE, DataDirectory
from indexer.stores.embedders import LazyEmbedder, known_dim
from indexer.stores.faiss_index import FaissVectorIndex, sync_vectors
from indexer.stores.ledger import IndexLedger
from indexer.stores.manifest import VECTORS_VERSION
from indexer.stores.sqlite_docstore import SQLiteDocumentStore
from indexer.stores.tantivy_index import TantivyKeywordIndex


class EmbeddedStores:
    """The document store, ledger, keyword index and vector index of one data directory, plus the embedder.

    Readers (the web app) keep one instance for the process lifetime and call `refresh()` now and
    then: it is a stat() unless an indexer committed, in which case readers are reopened.
    """

    def __init__(
        self, settings: dict[str, Any], *, writable: bool = False, check: bool = True, reembed: bool = False
    ) -> None:
        self.settings = settings
        self.local = DataDirectory(settings, writable=writable, check=check)
        self.data_dir = self.local.path
        self.docs: SQLiteDocumentStore = self.local.docs
        self.ledger: IndexLedger = self.local.ledger
        self.messages = self.local.messages
        self._lock = threading.RLock()
        self._embedder = LazyEmbedder(settings)
        try:
            if writable:
                self.local.prepare_for_writing(reembed)
            elif check:
                self.local.check_compatible()
            self.keyword = TantivyKeywordIndex(self.data_dir / KEYWORD_DIR)
            self.vectors = FaissVectorIndex.configured(self.data_dir / VECTORS_FILE, self._dim(), settings)
            sync_vectors(self.vectors, self.ledger)
            if writable:
                self._repair_keyword_index()
        except BaseException:
            self.local.release_write_lock()
            raise

    def _dim(self) -> int:
        known = known_dim(self.settings)
        if known is not None:
            return known
        if self.manifest.get("dim"):
            return int(self.manifest["dim"])
        return int(self.embedder.dim)

    def _repair_keyword_index(self) -> None:
        """Rebuild the keyword index from SQLite when it cannot be repaired incrementally: it lacks
        documents SQLite marks as indexed (a deleted or damaged directory), or it holds documents
        SQLite knows nothing of (a replaced document store)."""
        held = self.keyword.count()
        indexed = self.ledger.count_keyword_indexed_passages()
        settled = not self.ledger.count_keyword_pending() and not self.ledger.pending_keyword_deletes()
        if held < indexed or (settled and held != indexed):
            self.keyword.delete_all()
            self.keyword.commit()
            self.ledger.reset_keyword_state()
            self.messages.append(
                f"keyword index held {held} passages where the document store has {indexed}; "
                "rebuilding it from the document store"
            )

    # -- the Stores interface -------------------------------------------------------------------------

    @property
    def manifest(self) -> dict[str, Any]:
        return self.local.manifest

    @property
    def embedder(self) -> Embedder:
        """The configured embedder, created on first use (loading a model takes a moment)."""
        return self._embedder.get()

    def counts(self) -> StoreCounts:
        return self.local.counts(keyword=self.keyword.count(), vectors=self.vectors.count())

    def sources(self) -> list[tuple[str, int]]:
        return self.docs.sources()

    def sizes(self) -> dict[str, int]:
        return self.local.sizes(self.vectors.size_bytes())

    def health(self) -> None:
        return None  # nothing beyond this machine to ask

    @property
    def engine(self) -> None:
        return None

    def write_manifest(self) -> None:
        """Record versions, model and counts; bumps the generation readers watch."""
        self.local.write_manifest(self.counts(), self.vectors.kind, self.vectors.dim)

    def refresh(self) -> bool:
        """Reopen readers if an indexer committed since the last look; True when something changed."""
        if not self.local.changed():
            return False
        with self._lock:
            committed = self.local.committed_manifest()
            if committed is None:
                return False
            manifest, stamp = committed
            self.keyword.reload()
            if self._vectors_may_differ(manifest):
                # A private copy to sync while searches go on in this one (FAISS takes no adds during a
                # search): a whole clone, so only when the committed vectors may have changed.
                updated = self.vectors.copy_for_update()
                sync_vectors(updated, self.ledger)
                self.vectors.adopt(updated)
            self.local.adopt(manifest, stamp)
            return True

    def _vectors_may_differ(self, manifest: dict[str, Any]) -> bool:
        """False only when the server's writer vouches that no vector was stored or dropped since the
        manifest this reader synced with (the same `vectors_version`), and no FAISS file was saved."""
        token = manifest.get(VECTORS_VERSION)
        return token is None or token != self.manifest.get(VECTORS_VERSION) or self.vectors.file_changed()

    def close(self) -> None:
        with self._lock:
            self.keyword.close()
            self.vectors.close()
            self.local.close()


def open_embedded(
    settings: dict[str, Any], *, writable: bool = False, check: bool = True, reembed: bool = False
) -> EmbeddedStores:
    return EmbeddedStores(settings, writable=writable, check=check, reembed=reembed)
