"""The vector index: FAISS inner-product search over passage embeddings, keyed by passage id.

The index is derived data: every vector is also committed to the SQLite document store, so the
FAISS file is a cache that `sync` brings level with SQLite (adding missing vectors, removing
vectors of deleted passages) after a crash or while another process indexes. It is saved whole
through a temporary file and `os.replace`, so readers only ever see a complete file.

Exact search (IndexFlatIP) is the default. Above `approximate_above` passages the index is rebuilt
as HNSW (IndexHNSWFlat, inner product), which answers in sublinear time at a small recall cost.
HNSW cannot remove vectors, so any deletion on an HNSW index is applied by rebuilding it from the
remaining vectors at the next save; building HNSW is the slow step of large re-indexes.

A flat index above `scan_above` vectors is searched in two passes (quantized_scan.py): an 8-bit
copy held in memory picks `rescore_factor` times the candidates asked for, and those are scored again from
the fp32 vectors. The copy is derived by the first search (and again when a refresh loads another file) and
kept level with every add and deletion; the file on disk is the flat index either way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

from indexer.models import Hit
from indexer.settings import SettingsError
from indexer.stores.quantized_scan import EXACT, QUANTIZERS, QuantizedScan, best, inner_products

if TYPE_CHECKING:
    from indexer.stores.base import VectorIndex
    from indexer.stores.ledger import IndexLedger

HNSW_EF_SEARCH = 128  # candidates explored per HNSW query: recall near exact at our sizes
HNSW_EF_CONSTRUCTION = 80
# A filter (`allowed`) on an HNSW index is answered exactly, by scoring the allowed vectors directly,
# up to this many: a graph walk restricted to a small subset can miss most of it.
EXACT_FILTER_UP_TO = 50_000
# An allowed set this small (the passages an answer draws evidence from whose dense score is not known) is
# scored from its own vectors on every kind of index: a scan of all of them, even quantized, costs
# milliseconds for a handful of scores.
SCORE_DIRECTLY_UP_TO = 1_000
# OpenMP threads for one query's search. A single query gains nothing from a second thread: on the bench's
# 74,048 vectors (flat, top 200) one thread took 10.3 ms of CPU a search and two took 21.4 ms (for a wall
# clock no shorter), and the web server's request threads need that core. OpenMP keeps the count per
# calling thread, so it is set around each search and the caller's own count (a batch job's) is restored.
SEARCH_THREADS = 1


def _new_index(dim: int, count: int, approximate_above: int, hnsw_m: int) -> Any:
    inner: Any
    if count > approximate_above:
        inner = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        inner = faiss.IndexFlatIP(dim)
    return faiss.IndexIDMap2(inner)


def _is_hnsw(index: Any) -> bool:
    wrapper: Any = faiss.downcast_index(index)
    return isinstance(faiss.downcast_index(wrapper.index), faiss.IndexHNSW)


def _hits(scores: np.ndarray, ids: np.ndarray) -> list[Hit]:
    return [Hit(int(pid), float(score)) for pid, score in zip(ids, scores, strict=True)]


class FaissVectorIndex:
    """A FAISS IndexIDMap2 in `path`; `search` is safe from many threads while `refresh` swaps files."""

    def __init__(
        self,
        path: str | Path,
        dim: int,
        approximate_above: int = 200_000,
        hnsw_m: int = 32,
        scan: str = "int8",
        rescore_factor: float = 2.0,
        scan_above: int = 20_000,
    ):
        if scan != EXACT and scan not in QUANTIZERS:
            valid = ", ".join([*QUANTIZERS, EXACT])
            raise SettingsError(f"vectors.scan must be one of {valid}; got {scan!r}")
        if not rescore_factor >= 1:  # also refuses NaN
            raise SettingsError(f"vectors.rescore_factor must be at least 1, got {rescore_factor!r}")
        self.path = Path(path)
        self.dim = dim
        self.approximate_above = approximate_above
        self.hnsw_m = hnsw_m
        self.scan, self.rescore_factor, self.scan_above = scan, rescore_factor, scan_above
        self._lock = threading.RLock()
        self._pending_removals: set[int] = set()
        self._loaded_stamp: tuple[int, int] | None = None
        # The quantized copy of `_index` (None: not wanted, or not built yet); replaced with it, always.
        # Built by the first search, so a process that only indexes or reads counts never pays for it.
        self._quantized: QuantizedScan | None = None
        self._index = self._load()

    @classmethod
    def configured(cls, path: str | Path, dim: int, settings: dict[str, Any]) -> FaissVectorIndex:
        """An index at `path` with the `vectors.*` settings."""
        return cls(
            path,
            dim,
            settings["vectors.approximate_above"],
            settings["vectors.hnsw_m"],
            scan=settings["vectors.scan"],
            rescore_factor=settings["vectors.rescore_factor"],
            scan_above=settings["vectors.scan_above"],
        )

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _load(self) -> Any:
        stamp = self._stamp()
        index: Any
        if stamp is None:
            index = _new_index(self.dim, 0, self.approximate_above, self.hnsw_m)
        else:
            index = faiss.read_index(str(self.path))
            if index.d != self.dim:
                raise ValueError(
                    f"{self.path}: vectors have dimension {index.d}, the embedder gives {self.dim}"
                )
        self._loaded_stamp = stamp
        return index

    def _wants_scan(self, index: Any) -> bool:
        return self.scan != EXACT and index.ntotal > self.scan_above and not _is_hnsw(index)

    def _scan_of(self, index: Any) -> QuantizedScan | None:
        """A quantized copy of `index` when its kind and size call for one (0.1-0.2 s per 74,048 vectors)."""
        return QuantizedScan(index, self.scan) if self._wants_scan(index) else None

    def _current(self) -> tuple[Any, QuantizedScan | None]:
        """The served index and its quantized copy, building the copy first if the index outgrew
        `scan_above` since it was loaded (an indexing run's adds, a server's refresh)."""
        with self._lock:
            if self._quantized is None and self._wants_scan(self._index):
                self._quantized = self._scan_of(self._index)
            elif self._quantized is not None and not self._wants_scan(self._index):
                self._quantized = None  # shrunk below the threshold, or rebuilt as HNSW
            return self._index, self._quantized

    def file_changed(self) -> bool:
        """Whether another process saved the file since this index was loaded (a stat())."""
        return self._stamp() != self._loaded_stamp

    def reload_if_changed(self) -> bool:
        """Re-read the file when another process saved a newer one; True if it did."""
        if self._stamp() == self._loaded_stamp:
            return False
        index = self._load()
        quantized = self._scan_of(index)
        with self._lock:
            self._index, self._quantized = index, quantized
            self._pending_removals.clear()
        return True

    def copy_for_update(self) -> FaissVectorIndex:
        """A private copy to change while this one keeps answering searches (FAISS does not allow
        adding during a search): the newer file if another process saved one, else a clone."""
        copy = object.__new__(FaissVectorIndex)
        copy.path, copy.dim = self.path, self.dim
        copy.approximate_above, copy.hnsw_m = self.approximate_above, self.hnsw_m
        copy.scan, copy.rescore_factor, copy.scan_above = self.scan, self.rescore_factor, self.scan_above
        copy._lock = threading.RLock()
        if self._stamp() != self._loaded_stamp:
            copy._pending_removals = set()
            copy._index = copy._load()
            copy._quantized = copy._scan_of(copy._index)
        else:
            with self._lock:
                copy._index = faiss.clone_index(self._index)
                copy._quantized = self._quantized.clone() if self._quantized is not None else None
                copy._pending_removals = set(self._pending_removals)
            copy._loaded_stamp = self._loaded_stamp
        return copy

    def adopt(self, other: FaissVectorIndex) -> None:
        """Serve `other`'s index from now on (searches in flight finish on the old one)."""
        with self._lock:
            self._index, self._quantized = other._index, other._quantized
            self._pending_removals = other._pending_removals
            self._loaded_stamp = other._loaded_stamp

    @property
    def kind(self) -> str:
        return "hnsw" if _is_hnsw(self._index) else "flat"

    @property
    def first_pass(self) -> str:
        """What a search scans first: the quantized copy's kind, or "none" for the index itself."""
        _, quantized = self._current()
        return quantized.kind if quantized is not None else EXACT

    def ids(self) -> np.ndarray:
        with self._lock:
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        if self._pending_removals:
            ids = ids[~np.isin(ids, np.fromiter(self._pending_removals, dtype=np.int64))]
        return ids

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        if not len(ids):
            return
        with self._lock:
            self._index.add_with_ids(vectors, ids)
            if self._quantized is not None:
                self._quantized.add(ids, vectors)
            self._pending_removals.difference_update(ids.tolist())

    def delete(self, ids: Iterable[int]) -> None:
        removed = np.fromiter((int(i) for i in ids), dtype=np.int64)
        if not len(removed):
            return
        with self._lock:
            if _is_hnsw(self._index):
                # HNSW cannot remove in place; hide them until the rebuild at save time.
                self._pending_removals.update(removed.tolist())
            else:
                self._index.remove_ids(faiss.IDSelectorBatch(removed))
                if self._quantized is not None:
                    self._quantized.delete(removed)

    def search(self, query: np.ndarray, limit: int, allowed: set[int] | None = None) -> list[Hit]:
        """Top passages by inner product; with `allowed`, only those passage ids are considered."""
        if limit <= 0 or (allowed is not None and not allowed):
            return []
        vector = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
        index, quantized = self._current()
        with self._lock:
            hidden = set(self._pending_removals)
        if not index.ntotal:
            return []
        if allowed is not None and len(allowed) <= SCORE_DIRECTLY_UP_TO:
            return self._score_few(index, vector[0], allowed - hidden, limit)
        if allowed is not None and len(allowed) <= EXACT_FILTER_UP_TO and _is_hnsw(index):
            return self._score_subset(index, vector[0], allowed - hidden, limit)
        selector = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
        if hidden:
            # Over-fetch so that hidden (deleted, awaiting rebuild) vectors do not shorten the list.
            limit_asked = limit + len(hidden)
        else:
            limit_asked = limit
        limit_asked = min(limit_asked, index.ntotal)
        if _is_hnsw(index):
            params: Any = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, limit_asked))  # type: ignore[attr-defined]
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(SEARCH_THREADS)
        try:
            if quantized is not None:
                scores, ids = quantized.search(index, vector, limit_asked, self.rescore_factor, params)
            else:
                found_scores, found_ids = index.search(vector, limit_asked, params=params)
                scores, ids = found_scores[0], found_ids[0]
        finally:
            faiss.omp_set_num_threads(threads)
        hits = [
            Hit(int(pid), float(score))
            for pid, score in zip(ids, scores, strict=True)
            if pid >= 0 and int(pid) not in hidden
        ]
        return hits[:limit]

    @classmethod
    def _score_few(cls, index: Any, vector: np.ndarray, allowed: set[int], limit: int) -> list[Hit]:
        """Exact scores of a few allowed passages, read by id (no scan), with the flat scan's own kernel."""
        wanted = np.fromiter(allowed, dtype=np.int64, count=len(allowed))
        if not len(wanted):
            return []
        try:
            rows = index.reconstruct_batch(wanted)
        except RuntimeError:  # some are not in the index (not embedded yet): find those that are
            return cls._score_subset(index, vector, allowed, limit)
        return _hits(*best(wanted, inner_products(vector, rows), limit))

    @staticmethod
    def _score_subset(index: Any, vector: np.ndarray, allowed: set[int], limit: int) -> list[Hit]:
        present = faiss.vector_to_array(index.id_map).astype(np.int64)
        ids = present[np.isin(present, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))]
        if not len(ids):
            return []
        return _hits(*best(ids, inner_products(vector, index.reconstruct_batch(ids)), limit))

    def count(self) -> int:
        with self._lock:
            return int(self._index.ntotal) - len(self._pending_removals)

    def needs_rebuild(self) -> bool:
        """True when pending deletions or the size call for a different index before saving."""
        count = self.count()
        want_hnsw = count > self.approximate_above
        return bool(self._pending_removals) or want_hnsw != _is_hnsw(self._index)

    def rebuild(self) -> None:
        """Rebuild as flat or HNSW by size, without hidden vectors. Slow for large HNSW indexes."""
        with self._lock:
            old = self._index
            all_ids = faiss.vector_to_array(old.id_map).astype(np.int64)
            vectors = old.index.reconstruct_n(0, old.ntotal) if old.ntotal else np.zeros((0, self.dim), "f4")
            keep = ~np.isin(all_ids, np.fromiter(self._pending_removals, dtype=np.int64))
            fresh = _new_index(self.dim, int(keep.sum()), self.approximate_above, self.hnsw_m)
            if keep.any():
                fresh.add_with_ids(np.ascontiguousarray(vectors[keep]), all_ids[keep])
            self._index, self._quantized = fresh, None  # the next search derives a copy if one is wanted
            self._pending_removals.clear()

    def save(self) -> None:
        """Write the index atomically (temporary file, fsync, rename)."""
        if self.needs_rebuild():
            self.rebuild()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            with self._lock:
                faiss.write_index(self._index, str(temporary))
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)  # a half-written copy (a full disk) would only take space
            raise
        self._loaded_stamp = self._stamp()

    def size_bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def close(self) -> None:
        with self._lock:
            self._index = _new_index(self.dim, 0, self.approximate_above, self.hnsw_m)
            self._quantized = None


def sync_vectors(vectors: VectorIndex, ledger: IndexLedger, batch: int = 4096) -> tuple[int, int]:
    """Bring a vector index (FAISS's, or the engine's) level with the embeddings committed in the ledger.

    Adds vectors committed after the FAISS file was last saved and drops vectors of passages that
    no longer exist. Returns (added, removed).
    """
    in_store = ledger.embedding_ids()
    in_index = vectors.ids()
    extra = np.setdiff1d(in_index, in_store, assume_unique=True)
    missing = np.setdiff1d(in_store, in_index, assume_unique=True)
    vectors.delete(extra.tolist())
    for start in range(0, len(missing), batch):
        ids, found = ledger.get_embeddings(missing[start : start + batch].tolist(), vectors.dim)
        vectors.add(ids, found)
    return len(missing), len(extra)
