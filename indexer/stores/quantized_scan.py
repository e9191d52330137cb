"""A compressed copy of a flat FAISS index's vectors for a fast first pass, re-scored exactly from fp32.

A flat search reads every stored vector: over the bench's 74,048 vectors x 384 fp32 that is 113 MB per
query, bound by memory bandwidth (about 8 ms of CPU). This copy holds the same vectors scalar-quantized
(8 bits a component: 28 MB) under the same passage ids. A search asks it for `rescore_factor` times the
candidates wanted, then scores those candidates again with the flat index's fp32 vectors and FAISS's own
inner-product kernel, so every score returned is bit for bit the one the flat index gives; only a passage
the first pass ranked below all those candidates could be missed (README "Performance" measures how often).

The copy lives in memory only: it is built from the flat index when the vector file is loaded (a fraction
of a second at the bench's size), follows the flat index's adds and deletions, and is never saved, so the
vector file on disk stays the plain flat index every version of Isnad reads.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from indexer.stores.registry import VECTOR_SCANS

# The scalar quantizers offered by `vectors.scan`: FAISS's names for them. "sq8" keeps a range per
# dimension (robust to a component that spreads wider than the others), "sq8_uniform" one range for all
# (a little faster on e5's vectors), "fp16" and "bf16" halve the bytes instead of quartering them.
QUANTIZERS: dict[str, int] = {
    "sq8": faiss.ScalarQuantizer.QT_8bit,
    "sq8_uniform": faiss.ScalarQuantizer.QT_8bit_uniform,
    "fp16": faiss.ScalarQuantizer.QT_fp16,
    "bf16": faiss.ScalarQuantizer.QT_bf16,
}
EXACT = "none"  # `vectors.scan = "none"`: every search reads the fp32 vectors themselves
assert (*QUANTIZERS, EXACT) == VECTOR_SCANS, "indexer/stores/registry.py lists the same scans"


class QuantizedScan:
    """Quantized vectors of a flat `IndexIDMap2(IndexFlatIP)`, keyed by the same ids."""

    def __init__(self, flat: Any, kind: str) -> None:
        """Train the quantizer on `flat`'s vectors and encode them all (the flat index is not changed)."""
        inner: Any = faiss.downcast_index(flat.index)
        self.kind = kind
        quantizer = faiss.IndexScalarQuantizer(inner.d, QUANTIZERS[kind], faiss.METRIC_INNER_PRODUCT)
        self._index: Any = faiss.IndexIDMap(quantizer)
        count = int(inner.ntotal)
        if count:
            # The flat index's own storage, read in place (no 4-byte copy of every vector); it is not
            # changed while this runs, as the caller holds the vector index's lock.
            vectors = faiss.rev_swig_ptr(inner.get_xb(), count * inner.d).reshape(count, inner.d)
            quantizer.train(vectors)
            self._index.add_with_ids(vectors, faiss.vector_to_array(flat.id_map).astype(np.int64))
        # With nothing stored yet, the first vectors added train it (see `add`).

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        quantizer: Any = faiss.downcast_index(self._index.index)
        if not quantizer.is_trained:
            quantizer.train(vectors)
        self._index.add_with_ids(vectors, ids)

    def delete(self, ids: np.ndarray) -> None:
        self._index.remove_ids(faiss.IDSelectorBatch(ids))

    def clone(self) -> QuantizedScan:
        copy = object.__new__(QuantizedScan)
        copy.kind = self.kind
        copy._index = faiss.clone_index(self._index)
        return copy

    def search(
        self, flat: Any, query: np.ndarray, limit: int, rescore_factor: float, params: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the best `limit` by exact inner product among the first pass's candidates.

        `flat` is the fp32 index this copy mirrors; `params` (with a selector for an allowed set, or
        none) apply to the first pass. Scores come from `fvec_inner_products_ny`, the kernel the flat
        index's own scan uses, so they equal its scores exactly.
        """
        wanted = min(max(limit, int(np.ceil(limit * rescore_factor))), self.count)
        _, found = self._index.search(query.reshape(1, -1), wanted, params=params)
        ids = found[0][found[0] >= 0]
        if not len(ids):
            return np.zeros(0, dtype=np.float32), ids
        return best(ids, inner_products(query, flat.reconstruct_batch(ids)), limit)


def inner_products(query: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`rows @ query` computed by FAISS's kernel for a flat scan, so equal to the flat index's scores bit for bit
    (numpy's matrix product sums in another order: differences of about 1e-7)."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    vector = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    scores = np.empty(len(rows), dtype=np.float32)
    if len(rows):
        faiss.fvec_inner_products_ny(  # type: ignore[attr-defined]
            faiss.swig_ptr(scores), faiss.swig_ptr(vector), faiss.swig_ptr(rows), len(vector), len(rows)
        )
    return scores


def best(ids: np.ndarray, scores: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the `limit` highest scores, best first; equal scores keep their order in `ids`."""
    order = np.argsort(-scores, kind="stable")[:limit]
    return scores[order], ids[order]
