"""A compressed copy of a flat FAISS index's vectors for a fast first pass, re-scored exactly from fp32.

A flat search reads every stored vector: over the bench's 74,048 vectors x 384 fp32 that is 113 MB per
query, bound by memory bandwidth (about 8 ms of CPU). This copy holds the same vectors quantized
(8 bits a component, by default searched with integer arithmetic: 28 MB) under the same passage ids. A search asks it for `rescore_factor` times the
candidates wanted, then scores those candidates again with the flat index's fp32 vectors and FAISS's own
inner-product kernel, so every score returned is bit for bit the one the flat index gives; only a passage
the first pass ranked below all those candidates could be missed (README "Performance" measures how often).

The copy lives in memory only: it is built from the flat index by the first search (a fraction
of a second at the bench's size), follows the flat index's adds and deletions, and is never saved, so the
vector file on disk stays the plain flat index every version of Isnad reads.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from indexer.stores.registry import VECTOR_SCANS

# The scalar quantizers offered by `vectors.scan`: FAISS's names for them. "int8" and "sq8" both keep a
# range per dimension (robust to a component that spreads wider than the others): "sq8" is FAISS's own
# 8-bit quantizer, which decodes every code to a float for each query; "int8" stores the same codes
# shifted to signed bytes and scales the query into each dimension's range and to 8 bits too, so FAISS
# scans with integer dot products (AVX2), about twice as fast (see `Int8Ranges`). "sq8_uniform" has one
# range for all dimensions; "fp16" and "bf16" halve the bytes instead of quartering them.
QUANTIZERS: dict[str, int] = {
    "int8": faiss.ScalarQuantizer.QT_8bit_direct_signed,
    "sq8": faiss.ScalarQuantizer.QT_8bit,
    "sq8_uniform": faiss.ScalarQuantizer.QT_8bit_uniform,
    "fp16": faiss.ScalarQuantizer.QT_fp16,
    "bf16": faiss.ScalarQuantizer.QT_bf16,
}
ADD_BLOCK = 16_384  # vectors encoded at a time
EXACT = "none"  # `vectors.scan = "none"`: every search reads the fp32 vectors themselves
assert (*QUANTIZERS, EXACT) == VECTOR_SCANS, "indexer/stores/registry.py lists the same scans"


class Int8Ranges:
    """Each dimension's range, mapping a vector to signed-byte codes and a query to 8-bit weights.

    A component x of dimension i is stored as c = round(255 (x - low_i) / span_i) - 128. Then for a query q,
    q . x = sum_i q_i low_i + sum_i (q_i span_i / 255) (c_i + 128): the first sum and the 128 term are the
    same for every vector, so ranking by sum_i w_i c_i with w_i = q_i span_i ranks as q . x does (up to the
    codes' rounding). w is scaled to +-127 and rounded as well, as FAISS's byte kernel reads the query as
    bytes; both roundings are undone by the exact re-scoring. Values outside the trained range (vectors
    added later) are clipped to it: they are ranked a little worse by the first pass, never scored wrongly.
    """

    def __init__(self, vectors: np.ndarray) -> None:
        self.low = vectors.min(axis=0).astype(np.float32)
        span = vectors.max(axis=0).astype(np.float32) - self.low
        self.span = np.where(span > 0, span, np.float32(1.0))  # a constant dimension: any span will do

    def codes(self, vectors: np.ndarray) -> np.ndarray:
        scaled = np.floor((vectors - self.low) * (255.0 / self.span) + 0.5)
        codes: np.ndarray = (np.clip(scaled, 0.0, 255.0) - 128.0).astype(np.float32)
        return codes

    def weights(self, query: np.ndarray) -> np.ndarray:
        weights = query.reshape(-1) * self.span
        largest = float(np.abs(weights).max())
        return np.round(weights * (127.0 / largest if largest > 0 else 1.0)).astype(np.float32)


class QuantizedScan:
    """Quantized vectors of a flat `IndexIDMap2(IndexFlatIP)`, keyed by the same ids."""

    def __init__(self, flat: Any, kind: str) -> None:
        """Train the quantizer on `flat`'s vectors and encode them all (the flat index is not changed)."""
        inner: Any = faiss.downcast_index(flat.index)
        self.kind = kind
        self._ranges: Int8Ranges | None = None  # the "int8" kind's, once it has seen vectors
        quantizer = faiss.IndexScalarQuantizer(inner.d, QUANTIZERS[kind], faiss.METRIC_INNER_PRODUCT)
        self._index: Any = faiss.IndexIDMap(quantizer)
        count = int(inner.ntotal)
        if count:
            # The flat index's own storage, read in place (no 4-byte copy of every vector); it is not
            # changed while this runs, as the caller holds the vector index's lock.
            vectors = faiss.rev_swig_ptr(inner.get_xb(), count * inner.d).reshape(count, inner.d)
            self.add(faiss.vector_to_array(flat.id_map).astype(np.int64), vectors)
        # With nothing stored yet, the first vectors added train it (see `add`).

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        quantizer: Any = faiss.downcast_index(self._index.index)
        if self.kind == "int8" and self._ranges is None:
            self._ranges = Int8Ranges(vectors)
        if not quantizer.is_trained:
            quantizer.train(vectors if self._ranges is None else self._ranges.codes(vectors[:1]))
        # In blocks: the codes pass through float32 copies, which for a whole large index would briefly
        # take as much memory as the fp32 vectors themselves.
        for start in range(0, len(ids), ADD_BLOCK):
            block = vectors[start : start + ADD_BLOCK]
            codes = self._ranges.codes(block) if self._ranges is not None else block
            self._index.add_with_ids(codes, ids[start : start + ADD_BLOCK])

    def delete(self, ids: np.ndarray) -> None:
        self._index.remove_ids(faiss.IDSelectorBatch(ids))

    def clone(self) -> QuantizedScan:
        copy = object.__new__(QuantizedScan)
        copy.kind, copy._ranges = self.kind, self._ranges  # the ranges are never changed once made
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
        probe = self._ranges.weights(query) if self._ranges is not None else query
        _, found = self._index.search(probe.reshape(1, -1), wanted, params=params)
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
