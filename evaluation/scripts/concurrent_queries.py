#!/usr/bin/env python3
"""Queries from several request threads at once: throughput and latency of the retriever's query embedding
with lone queries on one thread each, side by side (embedder.query_threads 1), against batching them on all
the threads (query_threads 0, the path before). Both retrievers take turns in each round.

    .venv/bin/python -m evaluation.scripts.concurrent_queries --corpus FILE [--queries 200] [--clients 1,2,8]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from evaluation.embedding_bench import EmbeddingBenchOptions, draw_texts
from indexer.analysis import analyze, analyze_exact
from indexer.settings import load_settings
from indexer.stores.embedders import make_embedder
from retrieval.search import Retriever


def _round(retriever: Retriever, queries: list[str], clients: int) -> dict[str, float]:
    """Each of `clients` threads embeds its share of `queries` one request at a time."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(first: int) -> None:
        for query in queries[first::clients]:
            began = time.perf_counter()
            retriever.embed_query(query)
            with lock:
                latencies.append(1000 * (time.perf_counter() - began))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began, used = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - began, time.process_time() - used
    return {
        "queries_per_s": len(latencies) / wall,
        "latency_ms_p50": statistics.median(latencies),
        "cpu_ms_per_query": 1000 * cpu / len(latencies),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--clients", default="1,2,8")
    args = parser.parse_args(argv)
    options = EmbeddingBenchOptions(
        corpus=args.corpus, passages=max(16, args.queries // 2), queries=args.queries
    )
    _, queries, _ = draw_texts(options)
    retrievers: dict[int, Any] = {}
    for threads in (0, 1):
        settings = load_settings(overrides={"embedder.query_threads": threads}, environ={})
        embedder = make_embedder(settings)
        embedder.embed_queries(["تحميل المحرك"])  # load and warm both sessions outside the timing
        embedder.embed_queries(["تحميل المحرك", "تحميل"])
        retrievers[threads] = Retriever(SimpleNamespace(embedder=embedder), settings, analyze, analyze_exact)
    print(f"{len(queries)} queries of 12 words")
    print("| clients | query_threads | round | queries/s | latency p50 (ms) | CPU a query (ms) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for clients in (int(c) for c in args.clients.split(",")):
        for turn in range(2):  # both orders, so neither setting always runs first
            for threads in (0, 1) if turn == 0 else (1, 0):
                figures = _round(retrievers[threads], queries, clients)
                print(
                    f"| {clients} | {threads} | {turn + 1} | {figures['queries_per_s']:.0f} "
                    f"| {figures['latency_ms_p50']:.1f} | {figures['cpu_ms_per_query']:.1f} |"
                )


if __name__ == "__main__":
    main()
