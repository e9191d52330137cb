#!/usr/bin/env python3
"""Benchmark: the disk space an index build takes at its peak and at the end, against the input's size.

    python -m evaluation.scripts.disk_peak ../shared/corpus/news/ant_multisource.jsonl.gz --articles 3000 [--embed]

Writes the first ARTICLES lines of the corpus to a temporary JSON-lines file, runs the real
`isnad index` on it into a fresh data directory (`--no-embed` unless --embed), and samples the
directory's size every 50 ms: the peak is what free space a build needs (SQLite's write-ahead log
holds each batch again until it is checkpointed), the final size what the index keeps. The ratios
are the figures `indexer/stores/diskfull.py` quotes in its full-disk message.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ISNAD = Path(sys.executable).with_name("isnad")


def directory_bytes(path: Path) -> tuple[int, int]:
    """(all bytes, bytes of SQLite write-ahead logs) under `path`."""
    total = wal = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                size = os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:  # a segment merged away or a log checkpointed while we looked
                continue
            total += size
            wal += size if name.endswith("-wal") else 0
    return total, wal


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a .jsonl or .jsonl.gz corpus")
    parser.add_argument("--articles", type=int, default=3000, help="lines of the corpus to index")
    parser.add_argument("--embed", action="store_true", help="also embed the passages (slow)")
    args = parser.parse_args()
    opener = gzip.open if args.corpus.name.endswith(".gz") else open
    with tempfile.TemporaryDirectory() as scratch:
        news, data = Path(scratch) / "news.jsonl", Path(scratch) / "data"
        with opener(args.corpus, "rt", encoding="utf-8") as lines, news.open("w", encoding="utf-8") as out:
            out.writelines(itertools.islice(lines, args.articles))
        command = [str(ISNAD), "index", str(news), "--quiet", "--data-dir", str(data)]
        process = subprocess.Popen(
            command + ([] if args.embed else ["--no-embed"]), stdout=subprocess.DEVNULL
        )
        peak = peak_wal = 0
        while process.poll() is None:
            total, wal = directory_bytes(data)
            peak, peak_wal = max(peak, total), max(peak_wal, wal)
            time.sleep(0.05)
        if process.returncode:
            print(f"isnad index failed with status {process.returncode}", file=sys.stderr)
            return 1
        final, _ = directory_bytes(data)
        size = news.stat().st_size
    mib = 2**20
    print(
        f"input {size / mib:.1f} MiB ({args.articles} lines), {'with' if args.embed else 'without'} vectors"
    )
    print(f"final index {final / mib:.1f} MiB = {final / size:.2f}x the input")
    print(
        f"peak while building {peak / mib:.1f} MiB (write-ahead log up to {peak_wal / mib:.1f} MiB) "
        f"= {peak / final:.2f}x the final size"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
