"""Copy-group precision and cost on a slice of a news corpus: `python -m evaluation.scripts.copy_precision CORPUS`.

Indexes the first N articles keyword-only into a fresh data directory with the real pipeline (so copy
groups are exactly what `isnad index` makes), then prints the keyword phase's time beside what grouping
costs in it: the copy assignment in the main process (timed by the pipeline) and the fingerprints the
analysis workers compute (timed here on a sample of the stored articles, against the analysis itself,
and spread over the workers as the pipeline does). It judges a random sample of the detected pairs by their raw text: a pair is a
copy when difflib's matching blocks cover at least half of the words of both (one text, lightly edited),
measured on the stored bodies, not on the analyzed words the detector saw.
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import itertools
import json
import os
import random
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from indexer.pipeline import index_paths
from indexer.settings import load_settings
from indexer.stores.data_dir import DOCUMENTS_FILE

COPY_RATIO = 0.5  # difflib ratio on word lists: 2 × matched words / (words of a + words of b)
_WORD = re.compile(r"\w+")


def write_slice(corpus: Path, count: int, out: Path) -> int:
    opener = gzip.open if corpus.suffix == ".gz" else open
    written = 0
    with opener(corpus, "rt", encoding="utf-8") as lines, out.open("w", encoding="utf-8") as handle:
        for line in itertools.islice(lines, count):
            handle.write(line if line.endswith("\n") else line + "\n")
            written += 1
    return written


def detected_pairs(data_dir: Path) -> list[tuple[str, str, float]]:
    """Every pair inside each copy group, with the similarity the detector recorded for the later one."""
    with sqlite3.connect(data_dir / "groups.sqlite") as db:
        rows = db.execute("SELECT copy_group, article_id FROM groups ORDER BY copy_group, rowid").fetchall()
    groups: dict[str, list[str]] = {}
    for group, article in rows:
        groups.setdefault(group, []).append(article)
    return [
        (a, b, 0.0)
        for members in groups.values()
        if len(members) > 1
        for a, b in itertools.combinations(members, 2)
    ]


def judge(text_a: str, text_b: str) -> float:
    words_a, words_b = _WORD.findall(text_a), _WORD.findall(text_b)
    if not words_a or not words_b:
        return 0.0
    return difflib.SequenceMatcher(None, words_a, words_b, autojunk=False).ratio()


def fingerprint_cost(settings: dict, sample: int) -> tuple[float, float, int]:
    """(seconds analyzing, seconds fingerprinting, articles) on the first `sample` stored articles."""
    from indexer.grouping.run import fingerprint_docs
    from indexer.stores import open_stores
    from indexer.stores.base import require_ledger
    from indexer.stores.tantivy_index import prepare_docs

    stores = open_stores(settings, writable=False, check=False)
    try:
        loaded = require_ledger(stores).load_for_keyword(stores.docs.article_ids()[:sample])
    finally:
        stores.close()
    analysis = fingerprints = 0.0
    for article, _, passages in loaded:
        started = time.perf_counter()
        docs = prepare_docs(article, passages)
        analyzed = time.perf_counter()
        fingerprint_docs(docs)
        analysis += analyzed - started
        fingerprints += time.perf_counter() - analyzed
    return analysis, fingerprints, len(loaded)


class _NoGrouping:
    """Stands in for indexer.grouping.run.Grouping in the baseline run: the same pipeline, no groups."""

    def __init__(self, settings: dict) -> None:
        self.assigned_stories = 0
        self.store = self

    def count(self) -> int:
        return 1 << 62  # never backfill

    def add(self, items: object, replaced: object) -> None:
        pass

    def flush(self) -> None:
        pass

    def finish(self, stores: object, *, with_stories: bool) -> None:
        pass

    def close(self) -> None:
        pass


def baseline_keyword_seconds(sliced: Path, root: Path, workers: int) -> float:
    """The keyword phase of the same slice with grouping taken out (fingerprints and copy assignment), in
    a fresh data directory: what the grouping's share is measured against when the cores are saturated
    and timing grouping inside the run would also count the other threads' time."""
    from unittest.mock import patch

    from indexer.pipeline import analysis, run

    # Patched where the pipeline looks the names up (analysis runs here for small inputs; spawned workers
    # import their own copy and still fingerprint, off the main process that the keyword phase waits on).
    settings = load_settings(overrides={"data.dir": str(root / "baseline")}, environ={})
    with (
        patch.object(run, "Grouping", _NoGrouping),
        patch.object(analysis, "fingerprint_docs", lambda docs: None),
    ):
        return index_paths(
            [str(sliced)], settings, embed=False, progress=False, workers=workers
        ).keyword_seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="a JSON-lines news file (.jsonl or .jsonl.gz)")
    parser.add_argument("--articles", type=int, default=10_000, help="articles read from the start")
    parser.add_argument("--sample", type=int, default=100, help="detected pairs judged")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--workers", type=int, default=0, help="analysis processes (default: one per core)")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also index the slice without grouping and compare the keyword phases",
    )
    parser.add_argument(
        "--timing-sample", type=int, default=2000, help="articles the fingerprint cost is timed on"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="isnad-copies-") as temp:
        root = Path(temp)
        sliced = root / "slice.jsonl"
        read = write_slice(args.corpus, args.articles, sliced)
        settings = load_settings(overrides={"data.dir": str(root / "data")}, environ={})
        report = index_paths([str(sliced)], settings, embed=False, progress=False, workers=args.workers)
        pairs = detected_pairs(root / "data")
        with sqlite3.connect(root / "data" / "groups.sqlite") as db:
            grouped = db.execute(
                "SELECT count(*) FROM (SELECT copy_group FROM groups GROUP BY copy_group HAVING count(*) > 1)"
            ).fetchone()[0]
            in_groups = db.execute(
                "SELECT count(*) FROM groups WHERE copy_group IN (SELECT copy_group FROM "
                "groups GROUP BY copy_group HAVING count(*) > 1)"
            ).fetchone()[0]
        chosen = random.Random(args.seed).sample(pairs, min(args.sample, len(pairs)))
        with sqlite3.connect(root / "data" / DOCUMENTS_FILE) as db:
            bodies = dict(db.execute("SELECT id, body FROM articles"))
        ratios = [judge(bodies[a], bodies[b]) for a, b, _ in chosen]
        analysis_seconds, fingerprint_seconds, timed = fingerprint_cost(settings, args.timing_sample)
        workers = args.workers or (os.cpu_count() or 1)
        # Per article, scaled to the run: the workers share the fingerprints as they share the analysis.
        per_article = fingerprint_seconds / max(timed, 1)
        worker_share = per_article * report.indexed / workers
        copies = sum(r >= COPY_RATIO for r in ratios)
        baseline = baseline_keyword_seconds(sliced, root, args.workers) if args.baseline else None
        print(
            json.dumps(
                {
                    "corpus": args.corpus.name,
                    "articles_read": read,
                    "indexed": report.indexed,
                    "keyword_seconds": round(report.keyword_seconds, 2),
                    "grouping_seconds_in_keyword_phase": round(report.grouping_seconds, 2),
                    "fingerprint_ms_per_article": round(per_article * 1000, 3),
                    "analysis_ms_per_article": round(analysis_seconds / max(timed, 1) * 1000, 3),
                    "fingerprint_seconds_over_workers": round(worker_share, 2),
                    "grouping_share_of_keyword_phase": round(
                        (report.grouping_seconds + worker_share) / max(report.keyword_seconds, 1e-9), 4
                    ),
                    "baseline_keyword_seconds_without_grouping": round(baseline, 2)
                    if baseline is not None
                    else None,
                    "grouping_added_to_keyword_phase": (
                        round(report.keyword_seconds / baseline - 1, 4) if baseline else None
                    ),
                    "copy_groups": grouped,
                    "articles_in_copy_groups": in_groups,
                    "detected_pairs": len(pairs),
                    "judged": len(chosen),
                    "judged_copies": copies,
                    "precision": round(copies / len(chosen), 3) if chosen else None,
                    "median_ratio": round(sorted(ratios)[len(ratios) // 2], 3) if ratios else None,
                    "lowest_ratios": [round(r, 3) for r in sorted(ratios)[:5]],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
