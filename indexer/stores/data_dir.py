"""One data directory's own part, whichever backend searches it: the write lock, the SQLite document store
and indexing ledger (one connection), and the manifest that versions it.

Layout of the data directory:
    documents.sqlite3   articles, passages, embeddings, bookkeeping (the source of truth)
    keyword/            tantivy index of passages (embedded deployment)
    vectors.faiss       FAISS index, a cache of the embeddings table saved atomically (embedded deployment)
    manifest.json       versions, model and counts; its generation grows with every commit
    index.lock          held by the one process allowed to write
    embedding.lock      held by the serving process embedding a backlog (one of `server.workers`)
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO, Any

from indexer.errors import IsnadError
from indexer.stores.base import StoreCounts
from indexer.stores.embedders import expected_name
from indexer.stores.ledger import HeldBack, IndexLedger
from indexer.stores.manifest import (
    VECTORS_VERSION,
    IndexMismatchError,
    NoIndexError,
    check_compatible,
    holds_index,
    manifest_stamp,
    no_index_message,
    read_manifest,
    write_manifest,
)
from indexer.stores.sqlite_db import SQLiteDatabase
from indexer.stores.sqlite_docstore import SQLiteDocumentStore
from indexer.stores.tantivy_index import SCHEMA_VERSION, TantivyKeywordIndex

DOCUMENTS_FILE = "documents.sqlite3"
KEYWORD_DIR = "keyword"
VECTORS_FILE = "vectors.faiss"
LOCK_FILE = "index.lock"
SERVER_BATCH_WAIT_SECONDS = 3.0  # see DataDirectory._take_write_lock


class StoreBusyError(IsnadError, RuntimeError):
    """Another process is writing to the same data directory."""


def analyzer_version() -> str:
    from indexer.analysis import ANALYZER_VERSION

    return str(ANALYZER_VERSION)


def dir_size(path: Path) -> int:
    """Bytes under `path` (a file or a folder; 0 when absent)."""
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


class DataDirectory:
    """The local part of an index: opened by the embedded stores, and by the engine's indexer as its ledger.

    Readers (writable=False) refuse, unless check=False, a directory that holds no index. Writers take
    the directory's write lock, released by `close()`.
    """

    def __init__(
        self, settings: dict[str, Any], *, writable: bool, check: bool, held_back: HeldBack | None = None
    ) -> None:
        self.settings = settings
        self.path = Path(settings["data.dir"])
        self.writable = writable
        if check and not writable and not holds_index(self.path):
            # A reader must not create an empty index where a mistyped path points: it would answer
            # every search with nothing, and look healthy doing it.
            raise NoIndexError(no_index_message(self.path))
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_handle = self._take_write_lock() if writable else None
        self.messages: list[str] = []  # what opening repaired or reset, for the indexer to report
        try:
            self.db = SQLiteDatabase(self.path / DOCUMENTS_FILE)
            self.docs = SQLiteDocumentStore(self.db)
            self.ledger = IndexLedger(self.docs, held_back)
            self.manifest: dict[str, Any] = read_manifest(self.path)
            self._stamp = manifest_stamp(self.path)
        except BaseException:
            self.release_write_lock()
            raise

    def _take_write_lock(self) -> IO[str]:
        handle = open(self.path / LOCK_FILE, "a+")  # noqa: SIM115 - held open: closing releases the lock
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
        raise StoreBusyError(
            f"another `isnad index`, `isnad delete` or `isnad watch` is writing to "
            f"{self.path}; wait for it to finish"
        ) from None

    def release_write_lock(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()  # closing releases the flock
            self._lock_handle = None

    def check_compatible(self) -> None:
        """Refuse (IndexMismatchError) an index built with another analyzer, schema or model."""
        check_compatible(
            self.manifest,
            self.path,
            analyzer_version=analyzer_version(),
            keyword_schema=SCHEMA_VERSION,
            embedder_name=expected_name(self.settings),
        )

    def prepare_for_writing(self, reembed: bool) -> None:
        """Reset what the configuration invalidates: the keyword index after an analyzer or schema
        change (rebuilt from SQLite), the vectors when re-embedding with another model."""
        built_with = self.manifest.get("analyzer_version")
        schema = self.manifest.get("keyword_schema")
        current = analyzer_version()
        if (built_with and built_with != current) or (schema is not None and schema != SCHEMA_VERSION):
            TantivyKeywordIndex.wipe(self.path / KEYWORD_DIR)
            self.ledger.reset_keyword_state()
            self.messages.append(
                f"keyword index rebuilt: analyzer {built_with} -> {current}, "
                f"schema {schema} -> {SCHEMA_VERSION}"
            )
        model = self.manifest.get("embedder")
        wanted = expected_name(self.settings)
        if reembed or (model and model != wanted):
            if not reembed and self.docs.count_embeddings():
                raise IndexMismatchError(
                    f"the vectors in {self.path} were made with {model}, but the configured embedder is "
                    f"{wanted}; pass --reembed to replace them, or configure the same embedder"
                )
            self.ledger.clear_embeddings()
            (self.path / VECTORS_FILE).unlink(missing_ok=True)
            if reembed:
                self.messages.append(f"embeddings cleared for re-embedding with {wanted}")
            self.manifest.pop("embedder", None)
            self.manifest.pop("dim", None)

    def counts(self, keyword: int, vectors: int) -> StoreCounts:
        """The ledger's counts beside the keyword and vector indexes' own."""
        passages = self.docs.count_passages()
        return StoreCounts(
            articles=self.docs.count_articles(),
            passages=passages,
            keyword=keyword,
            vectors=vectors,
            pending_vectors=passages - self.docs.count_embeddings(),
            extra={"pending_keyword_articles": self.ledger.count_keyword_pending()},
        )

    def sizes(self, vector_bytes: int) -> dict[str, int]:
        """Bytes on disk per store (SQLite counts its write-ahead log too)."""
        sqlite_bytes = sum(
            dir_size(self.path / name)
            for name in (DOCUMENTS_FILE, DOCUMENTS_FILE + "-wal", DOCUMENTS_FILE + "-shm")
            if (self.path / name).exists()
        )
        return {
            "documents": sqlite_bytes,
            "keyword": dir_size(self.path / KEYWORD_DIR),
            "vectors": vector_bytes,
        }

    def write_manifest(self, counts: StoreCounts, vector_index: str, dim: int) -> None:
        """Record versions, model and counts; bumps the generation readers watch."""
        manifest = dict(self.manifest)
        manifest.pop(VECTORS_VERSION, None)  # vectors may have changed: readers sync them in full
        manifest.update(
            analyzer_version=analyzer_version(),
            keyword_schema=SCHEMA_VERSION,
            store_backend="embedded",
            vector_index=vector_index,
            counts={
                "articles": counts.articles,
                "passages": counts.passages,
                "keyword": counts.keyword,
                "vectors": counts.vectors,
                "pending_vectors": counts.pending_vectors,
            },
        )
        if self.docs.count_embeddings():
            manifest.update(embedder=expected_name(self.settings), dim=dim)
        self.manifest = write_manifest(self.path, manifest)
        self._stamp = manifest_stamp(self.path)

    def changed(self) -> bool:
        """Whether the manifest file changed since the last look (a stat())."""
        return manifest_stamp(self.path) != self._stamp

    def committed_manifest(self) -> tuple[dict[str, Any], Any] | None:
        """(manifest, its stamp) when an indexer committed since the last look, else None. The caller
        reopens what it reads, then calls `adopt`."""
        stamp = manifest_stamp(self.path)
        if stamp == self._stamp:
            return None
        manifest = read_manifest(self.path)
        if manifest.get("generation") == self.manifest.get("generation"):
            self._stamp = stamp
            return None
        return manifest, stamp

    def adopt(self, manifest: dict[str, Any], stamp: Any) -> None:
        self.manifest, self._stamp = manifest, stamp

    def close(self) -> None:
        self.db.close()
        self.release_write_lock()
