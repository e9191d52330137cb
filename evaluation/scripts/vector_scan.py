#!/usr/bin/env python3
"""The dense list's first pass measured against the exact scan: recall of its top candidates and CPU a search.

Opens a cached benchmark index's vector file (read only: nothing is written into the cache), embeds the
queries `isnad bench` draws from it with the configured embedder (the int8 query graph by default, as a
served search does), and searches each with the product's `FaissVectorIndex` for `search.candidates` hits,
once with the exact fp32 scan and once per quantized first pass (`vectors.scan`) and re-scoring factor
(`vectors.rescore_factor`). For each it prints the time to derive the quantized copy at load, the CPU
milliseconds a search (one OpenMP thread, as served), the recall of the exact top-k and top-10, how many
lists equal the exact one id for id and score for score, and the largest score difference. `--hnsw` adds
FAISS's HNSW graph over the same vectors (M = `vectors.hnsw_m`; about a minute to build) at a few efSearch.

    .venv/bin/python -m evaluation.scripts.vector_scan [.cache/isnad-bench/index-<key>] [--queries 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from evaluation import indexing
from evaluation.queries import draw_queries
from evaluation.scripts.ask_evidence import newest_bench_index
from indexer.settings import load_settings
from indexer.stores.data_dir import VECTORS_FILE
from indexer.stores.embedders import make_embedder
from indexer.stores.faiss_index import HNSW_EF_CONSTRUCTION, SEARCH_THREADS, FaissVectorIndex
from indexer.stores.quantized_scan import QUANTIZERS

Lists = list[tuple[np.ndarray, np.ndarray]]  # (ids, scores) a query


def timed(
    search: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], queries: np.ndarray
) -> tuple[Lists, float]:
    """Each query's list and the CPU milliseconds a search took on average."""
    used = time.process_time()
    lists = [search(query) for query in queries]
    return lists, (time.process_time() - used) * 1000 / len(queries)


def product_search(
    index: FaissVectorIndex, limit: int
) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    def run(query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hits = index.search(query, limit)
        return np.array([h.passage_id for h in hits]), np.array([h.score for h in hits], dtype=np.float32)

    return run


def compare(name: str, lists: Lists, exact: Lists, cpu_ms: float, extra: str = "") -> str:
    recall = np.mean(
        [len(np.intersect1d(ids, truth)) / len(truth) for (ids, _), (truth, _) in zip(lists, exact)]
    )
    recall10 = np.mean(
        [
            len(np.intersect1d(ids[:10], truth[:10])) / len(truth[:10])
            for (ids, _), (truth, _) in zip(lists, exact)
        ]
    )
    same = sum(
        np.array_equal(ids, truth) and np.array_equal(scores, truth_scores)
        for (ids, scores), (truth, truth_scores) in zip(lists, exact)
    )
    gap = max(
        float(np.abs(scores[: len(t)] - ts[: len(scores)]).max()) if len(scores) else 0.0
        for (_, scores), (t, ts) in zip(lists, exact)
    )
    return f"| {name} | {extra} | {cpu_ms:.2f} | {recall:.4f} | {recall10:.4f} | {same}/{len(exact)} | {gap:.2e} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path, nargs="?", help="a cached benchmark folder (default: the newest)")
    parser.add_argument(
        "--queries", type=int, default=200, help="queries drawn as the bench draws them (200)"
    )
    parser.add_argument(
        "--factors", default="1,1.5,2,3", help="re-scoring factors to try (default 1,1.5,2,3)"
    )
    parser.add_argument(
        "--hnsw", action="store_true", help="also build HNSW over the vectors (about a minute)"
    )
    args = parser.parse_args()
    folder = args.index or newest_bench_index()
    settings = load_settings()
    limit = int(settings["search.candidates"])
    factors = [float(f) for f in args.factors.split(",")]
    articles = list(indexing.read_articles(folder / "embedded.jsonl"))
    texts = draw_queries(articles, args.queries)
    embedder = make_embedder(settings)
    queries = np.asarray(embedder.embed_queries(texts), dtype=np.float32)
    path = folder / "data" / VECTORS_FILE
    configured = {**settings, "vectors.approximate_above": 1 << 62}  # the file's own flat index, as served

    started = time.perf_counter()
    exact_index = FaissVectorIndex.configured(path, queries.shape[1], {**configured, "vectors.scan": "none"})
    exact_load = time.perf_counter() - started
    count = exact_index.count()
    print(
        f"{folder.name}: {count:,} vectors, {len(texts)} queries ({settings['embedder.backend']}, queries "
        f"{settings['embedder.query_precision'] or settings['embedder.precision']}), top {limit}, "
        f"{SEARCH_THREADS} OpenMP thread a search\n"
    )
    print(
        "| first pass | re-scored / load | CPU ms a search | recall@k | recall@10 | lists identical | max score gap |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    exact, cpu = timed(product_search(exact_index, limit), queries)
    print(compare("none (exact fp32 scan)", exact, exact, cpu, f"– / load {exact_load:.2f} s"))
    for kind in QUANTIZERS:
        for factor in factors:
            started = time.perf_counter()
            index = FaissVectorIndex.configured(
                path,
                queries.shape[1],
                {
                    **configured,
                    "vectors.scan": kind,
                    "vectors.rescore_factor": factor,
                    "vectors.scan_above": 0,
                },
            )
            loaded = time.perf_counter() - started
            lists, cpu = timed(product_search(index, limit), queries)
            print(compare(kind, lists, exact, cpu, f"{factor:g} x {limit} / load {loaded:.2f} s"))
            index.close()
    if args.hnsw:
        stored: Any = faiss.read_index(str(path))
        flat = faiss.downcast_index(stored.index)
        ids = faiss.vector_to_array(stored.id_map).astype(np.int64)
        started = time.perf_counter()
        graph = faiss.IndexHNSWFlat(flat.d, int(settings["vectors.hnsw_m"]), faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        graph.add(flat.reconstruct_n(0, flat.ntotal))
        built = time.perf_counter() - started
        faiss.omp_set_num_threads(SEARCH_THREADS)
        for ef in (200, 400, 800, 1600):
            params = faiss.SearchParametersHNSW(efSearch=ef)  # type: ignore[attr-defined]

            def run(query: np.ndarray, params: Any = params) -> tuple[np.ndarray, np.ndarray]:
                scores, found = graph.search(query.reshape(1, -1), limit, params=params)
                return ids[found[0]], scores[0]

            lists, cpu = timed(run, queries)
            print(compare(f"HNSW efSearch {ef}", lists, exact, cpu, f"– / build {built:.0f} s"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
