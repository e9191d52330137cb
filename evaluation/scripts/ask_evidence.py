#!/usr/bin/env python3
"""Where ask's time goes in a partly embedded benchmark index: questions whose evidence passages all have
stored vectors against those that retrieved a passage without one (embedded at question time).

Replays, in process, the questions `isnad bench` asks (drawn from the embedded articles of its cached
index) through the answer pipeline, and prints latency percentiles for each group.

    .venv/bin/python -m evaluation.scripts.ask_evidence [.cache/isnad-bench/index-<key>] [--questions 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[2]

from evaluation import indexing
from evaluation.loadgen import percentile
from evaluation.queries import draw_queries
from indexer.settings import load_settings
from indexer.stores import open_stores
from retrieval import answers
from webapp.services import Services

WARMUP = 10


def newest_bench_index() -> Path:
    built = sorted(
        (PROJECT / ".cache" / "isnad-bench").glob("index-*/complete.json"), key=lambda p: p.stat().st_mtime
    )
    if not built:
        raise SystemExit("no benchmark index under .cache/isnad-bench: run `make bench` first")
    return built[-1].parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path, nargs="?", help="a cached benchmark folder (default: the newest)")
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()
    folder = args.index or newest_bench_index()
    questions = draw_queries(list(indexing.read_articles(folder / "embedded.jsonl")), args.questions)
    settings = {**load_settings(), "data.dir": str(folder / "data")}
    services = Services(settings, open_stores(settings))
    retriever = services.retriever
    embedded_now: list[int] = []
    embed_passages = retriever.embed_passages

    def counted(texts: Sequence[str]) -> np.ndarray:  # passages embedded at question time
        embedded_now.append(len(texts))
        return embed_passages(texts)

    retriever.embed_passages = counted  # type: ignore[method-assign]
    groups: dict[str, list[float]] = {"all evidence has vectors": [], "some evidence embedded now": []}
    fresh_passages = 0
    try:
        for question in questions[:WARMUP]:
            answers.answer(retriever, question, [], "hybrid", settings)
        for question in questions:
            embedded_now.clear()
            started = time.perf_counter()
            answers.answer(retriever, question, [], "hybrid", settings)
            elapsed = (time.perf_counter() - started) * 1000
            groups["some evidence embedded now" if embedded_now else "all evidence has vectors"].append(
                elapsed
            )
            fresh_passages += sum(embedded_now)
    finally:
        services.close()
    print(f"{folder.name}: {len(questions)} questions from the embedded articles, hybrid, in process")
    for name, times in groups.items():
        if times:
            print(
                f"  {name}: {len(times)} questions, p50 {percentile(times, 50):.1f} ms, "
                f"p95 {percentile(times, 95):.1f} ms"
            )
    mixed = len(groups["some evidence embedded now"])
    if mixed:
        print(f"  passages embedded at question time: {fresh_passages / mixed:.1f} per such question")
    return 0


if __name__ == "__main__":
    sys.exit(main())
