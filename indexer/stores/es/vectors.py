"""Passage vectors in the engine: each passage document carries its embedding, and semantic search is the
engine's kNN (HNSW) over them, so an app server needs no FAISS file of its own.

The field is engine-specific (OpenSearch's `knn_vector` on its Lucene engine, Elasticsearch's
`dense_vector` with int8-quantized HNSW); the rest of the index definition is shared. Scores are turned
back into cosine similarities, the scale the embedded FAISS index returns, so thresholds and fusion work
unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from indexer.models import Hit
from indexer.stores.es import queries
from indexer.stores.es.engine import EngineApiError

FIELD = "embedding"
# A filter of allowed passage ids goes to the engine as a terms query; past this many ids (the engines'
# default index.max_terms_count is 65,536) the kNN is oversampled and the ids are applied to its answer.
MAX_FILTER_IDS = 60_000
OVERSAMPLE = 10
MAX_K = 10_000  # the engines' default index.max_result_window
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100


def vector_field(engine: str, dim: int) -> dict[str, Any]:
    """The mapping of the passage `embedding` field for `engine` ("opensearch" or "elasticsearch")."""
    if engine == "opensearch":
        return {
            "type": "knn_vector",
            "dimension": dim,
            "method": {
                "name": "hnsw",
                "engine": "lucene",
                "space_type": "cosinesimil",
                "parameters": {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
            },
        }
    return {
        "type": "dense_vector",
        "dims": dim,
        "index": True,
        "similarity": "cosine",
        "index_options": {"type": "int8_hnsw", "m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
    }


def index_settings(engine: str) -> dict[str, Any]:
    """Index settings a vector field needs: OpenSearch builds kNN structures only where `index.knn` is on."""
    return {"knn": True} if engine == "opensearch" else {}


def knn_query(
    engine: str, vector: list[float], k: int, filter_query: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A search body for the k nearest passages to `vector` among those `filter_query` admits."""
    if engine == "opensearch":
        clause: dict[str, Any] = {"vector": vector, "k": k}
        if filter_query is not None:
            clause["filter"] = dict(filter_query)
        return {"size": k, "_source": False, "query": {"knn": {FIELD: clause}}}
    knn: dict[str, Any] = {"field": FIELD, "query_vector": vector, "k": k, "num_candidates": max(k, 100)}
    if filter_query is not None:
        knn["filter"] = dict(filter_query)
    return {"size": k, "_source": False, "knn": knn}


def cosine(score: float) -> float:
    """Both engines score cosine similarity as (1 + cos) / 2; FAISS and the rest of Isnad use cos."""
    return 2.0 * score - 1.0


class EngineVectorIndex:
    """The vector-index calls the pipeline and the retriever make (FAISS's), answered by the engine."""

    kind = "engine-hnsw"

    def __init__(self, backend: Any, dim: int) -> None:
        self.backend = backend  # the ElasticsearchBackend holding the passages
        self.dim = dim

    def ids(self) -> np.ndarray:
        """Passage ids whose document carries a vector (in the index being written, during a rebuild)."""
        if not self.backend.has_index():
            return np.zeros(0, dtype=np.int64)  # no index yet
        hits = self.backend.search_all({"exists": {"field": FIELD}}, self.backend.read_index())
        return np.array(sorted(queries.passage_id_of(hit["_id"]) for hit in hits), dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Put each vector on its passage's document (a partial update; the text is not sent again).

        A passage whose document is not in the engine yet is skipped: the keyword side writes it later
        with its vector read from the ledger.
        """
        if not len(ids):
            return
        index = self.backend.write_index()
        operations = [
            [
                {"update": {"_index": index, "_id": queries.passage_doc_id(int(pid))}},
                {"doc": {FIELD: [float(x) for x in vector]}},
            ]
            for pid, vector in zip(np.asarray(ids).tolist(), np.asarray(vectors), strict=True)
        ]
        self.backend.bulk(operations, missing_ok=True)

    def delete(self, ids: Iterable[int]) -> None:
        """Nothing to do: a passage's vector goes with its document when its article is deleted."""

    def search(self, query: np.ndarray, limit: int, allowed: set[int] | None = None) -> list[Hit]:
        """The `limit` passages nearest to `query` (cosine), among `allowed` when given."""
        if limit <= 0 or (allowed is not None and not allowed):
            return []
        vector = [float(x) for x in np.asarray(query, dtype=np.float32).reshape(-1)]
        filter_query: dict[str, Any] | None = {"term": {"doc_type": queries.PASSAGE}}
        k, after = limit, None
        if allowed is not None:
            if len(allowed) <= MAX_FILTER_IDS:
                filter_query = {"terms": {"passage_id": sorted(int(i) for i in allowed)}}
                k = min(limit, len(allowed))
            else:
                k, after = min(limit * OVERSAMPLE, MAX_K), allowed
        body = knn_query(self.backend.client.backend, vector, k, filter_query)
        with self.backend.errors("searching vectors"):
            response = self.backend.client.search(self.backend.alias, body)
        hits = [
            Hit(queries.passage_id_of(hit["_id"]), cosine(float(hit["_score"])))
            for hit in response["hits"]["hits"]
        ]
        if after is not None:
            hits = [hit for hit in hits if hit.passage_id in after]
        return hits[:limit]

    def count(self) -> int:
        with self.backend.errors("counting vectors"):
            try:
                return int(self.backend.client.count(self.backend.read_index(), {"exists": {"field": FIELD}}))
            except EngineApiError as error:
                if error.status == 404 and error.error_type == "index_not_found_exception":
                    return 0  # nothing indexed yet
                raise

    def get(self, ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids found with a vector, their vectors): the stored embeddings, for answers and the ledger's role."""
        sources = self.backend.mget(
            [queries.passage_doc_id(int(i)) for i in ids], ("passage_id", FIELD), self.backend.read_index()
        )
        found = [(int(s["passage_id"]), s[FIELD]) for s in sources.values() if s.get(FIELD)]
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        return (
            np.array([pid for pid, _ in found], dtype=np.int64),
            np.array([vector for _, vector in found], dtype=np.float32),
        )

    # FAISS's file management has no counterpart: the engine persists and refreshes by itself.
    def needs_rebuild(self) -> bool:
        return False

    def rebuild(self) -> None:
        """Nothing to rebuild: the engine maintains its HNSW graphs as documents change."""

    def save(self) -> None:
        self.backend.refresh()

    def reload_if_changed(self) -> bool:
        return False

    def copy_for_update(self) -> EngineVectorIndex:
        return self

    def adopt(self, other: EngineVectorIndex) -> None:
        """Nothing to adopt: searches always see the engine's refreshed state."""

    def size_bytes(self) -> int:
        return 0  # on the engine's disk, not this machine's

    def close(self) -> None:
        """The backend owns the connection and closes it."""
