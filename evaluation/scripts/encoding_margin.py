#!/usr/bin/env python3
"""Benchmark: how far Arabic news in legacy code pages is from looking like UTF-8 with a few bad bytes.

    python -m evaluation.scripts.encoding_margin ../shared/corpus/news [--samples 200]

The readers keep a file as UTF-8 when it has at least UTF8_VALID_PER_INVALID valid multi-byte
characters per invalid byte (indexer/ingest/encoding.py). This encodes articles of the shared corpora
in cp1256, ISO-8859-6 and cp1252 (64 KiB samples of 1 to 200 random articles, and every headline
alone) and prints the largest ratio seen: the margin below the threshold is what makes a wrong
guess of UTF-8 unlikely.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import sys
from pathlib import Path

from indexer.ingest.encoding import SNIFF_BYTES, UTF8_VALID_PER_INVALID, utf8_damage

CORPORA = ("ant_multisource.jsonl.gz", "saudinewsnet.jsonl.gz")
ENCODINGS = ("cp1256", "iso8859_6", "cp1252")


def ratio(data: bytes) -> float:
    valid, invalid = utf8_damage(data)
    return valid / invalid if invalid else (float("inf") if valid else 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("news", type=Path, help="the folder holding the shared news corpora")
    parser.add_argument("--samples", type=int, default=200, help="random samples per size and corpus")
    args = parser.parse_args()
    rng = random.Random(1)
    worst_sample = worst_title = 0.0
    samples = 0
    for name in CORPORA:
        with gzip.open(args.news / name, "rt", encoding="utf-8") as handle:
            lines = list(itertools.islice(handle, 20_000))
        for size in (1, 3, 10, 50, 200):
            for _ in range(args.samples):
                text = "".join(rng.sample(lines, size))
                for encoding in ENCODINGS:
                    samples += 1
                    worst_sample = max(worst_sample, ratio(text.encode(encoding, "replace")[:SNIFF_BYTES]))
        for line in lines:
            title = json.loads(line).get("title") or ""
            for encoding in ENCODINGS[:2]:
                worst_title = max(worst_title, ratio(title.encode(encoding, "replace")))
    print(f"threshold: {UTF8_VALID_PER_INVALID} valid multi-byte characters per invalid byte")
    print(f"largest ratio in {samples:,} legacy-encoded samples: {worst_sample:.3f}")
    print(f"largest ratio for a headline alone (cp1256, ISO-8859-6): {worst_title:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
