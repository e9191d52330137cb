#!/usr/bin/env python3
"""Benchmark: Arabic analysis speed (tokens/s, lines/s, articles/s) on one core over the shared news corpora.

    python -m evaluation.scripts.analysis_speed ../shared/corpus/news [--limit N] [--tokens-limit N]

Articles are read and decoded first; only analysis is timed, in CPU seconds of this process (one core; the
figure does not depend on what else the machine runs), with wall-clock time shown beside it. The indexing path (analyze_terms, cold
cache: the first article pays for every new word) is run over all articles read; analyze() with Token objects
and offsets, and analyze_exact_terms, are timed on a prefix, since they serve queries and highlighting.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from indexer.analysis import analyze, analyze_exact_terms, analyze_terms
from indexer.analysis.chain import cached_words, clear_caches


def read_articles(news_dir: Path, limit: int | None) -> list[list[str]]:
    """Each article as its lines (title, then body lines), as the indexer would feed them."""
    articles: list[list[str]] = []
    paths = sorted(news_dir.glob("*.jsonl.gz")) + sorted(news_dir.glob("*.jsonl"))
    if not paths:
        raise SystemExit(f"{news_dir}: no *.jsonl.gz or *.jsonl files")
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for raw in handle:
                record = json.loads(raw)
                body = record.get("text") or record.get("content") or ""
                articles.append([record.get("title") or "", *body.split("\n")])
                if limit is not None and len(articles) >= limit:
                    return articles
    return articles


def timed(function: Callable[[str], list], articles: list[list[str]]) -> tuple[float, float, int, int]:
    """(CPU seconds, wall seconds, tokens out, lines) for running `function` over every line."""
    tokens = lines = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for article in articles:
        for line in article:
            tokens += len(function(line))
        lines += len(article)
    return time.process_time() - cpu, time.perf_counter() - wall, tokens, lines


def report(name: str, cpu: float, wall: float, tokens: int, lines: int, articles: int) -> None:
    print(
        f"{name:24s} {tokens:>11,} tokens {lines:>8,} lines {articles:>7,} articles  "
        f"{cpu:6.2f} s CPU ({wall:.2f} s wall)  {tokens / cpu:>10,.0f} tokens/s  "
        f"{lines / cpu:>8,.0f} lines/s  {articles / cpu:>6,.0f} articles/s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "news_dir", type=Path, help="folder of *.jsonl.gz news files (e.g. ../shared/corpus/news)"
    )
    parser.add_argument("--limit", type=int, default=None, help="read at most N articles (default: all)")
    parser.add_argument(
        "--prefix",
        type=int,
        default=5000,
        help="articles for the analyze()/analyze_exact_terms timings (default 5000)",
    )
    args = parser.parse_args()
    if not args.news_dir.is_dir():
        parser.error(f"{args.news_dir}: not a directory")

    start = time.perf_counter()
    articles = read_articles(args.news_dir, args.limit)
    print(f"read {len(articles):,} articles in {time.perf_counter() - start:.1f} s (not timed below)")

    clear_caches()
    report("analyze_terms (index)", *timed(analyze_terms, articles), len(articles))
    print(f"  distinct words cached: {cached_words():,}")

    prefix = articles[: args.prefix]
    functions: tuple[tuple[str, Callable[[str], list]], ...] = (
        ("analyze_exact_terms", analyze_exact_terms),
        ("analyze (Token objects)", analyze),
    )
    for name, function in functions:
        report(name, *timed(function, prefix), len(prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
