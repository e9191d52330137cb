#!/usr/bin/env python3
"""Benchmark: articles read per second through iter_articles (decode, parse, clean, dedupe), per news corpus.

    python -m evaluation.scripts.ingest_speed [../shared/corpus/news] [--passages]

Each *.jsonl.gz file is read whole, once, in this process; the figure includes gzip, JSON parsing, field
mapping, date normalisation, boilerplate stripping and duplicate detection. With --passages the passage
split is timed too (it runs later in indexing, per article). Wall-clock and CPU-time rates are both printed:
on a busy machine the CPU-time rate is the one that says what one free core would do.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from indexer.ingest import iter_articles
from indexer.models import IngestSummary, Problem
from indexer.passages import split_passages

DEFAULT_DIR = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "news"


def measure(path: Path, passages: bool) -> dict[str, float | int | dict[str, int]]:
    summary = IngestSummary()
    problems: list[Problem] = []
    yielded = pieces = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for article in iter_articles([path], summary, problems.append):
        yielded += 1
        if passages:
            pieces += len(split_passages(article))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "read": summary.read,
        "yielded": yielded,
        "skipped": dict(summary.skipped),
        "problems": len(problems),
        "passages": pieces,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "per_second": summary.read / seconds,
        "per_cpu_second": summary.read / cpu if cpu else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("news_dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--passages", action="store_true", help="also split every article into passages")
    args = parser.parse_args()
    files = sorted(args.news_dir.glob("*.jsonl.gz"))
    if not files:
        print(f"no *.jsonl.gz files in {args.news_dir}", file=sys.stderr)
        return 1
    for path in files:
        r = measure(path, args.passages)
        extra = f", {r['passages']} passages" if args.passages else ""
        print(
            f"{path.name}: {r['read']} articles read in {r['seconds']:.1f} s = {r['per_second']:,.0f} articles/s "
            f"wall, {r['per_cpu_second']:,.0f} per CPU-second "
            f"({r['yielded']} kept, skipped {r['skipped']}, {r['problems']} problems{extra})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
