"""Copy-group precision and cost on a slice of a news corpus: `python -m evaluation.scripts.copy_precision CORPUS`.

Indexes the first N articles keyword-only into a fresh data directory with the real pipeline (so copy
groups are exactly what `isnad index` makes) and judges a random sample of the detected pairs by their raw
text: a pair is a copy when difflib's matching blocks cover at least half of the words of both (one text,
lightly edited), measured on the stored bodies, not on the analyzed words the detector saw.

With `--baseline` it prints what grouping costs: after that run (left out: it warms the caches that later
runs' workers inherit), the slice is indexed `--rounds` times with `groups.enabled = false` and as many
with it on, alternated (off, on, on, off, ...), each in a fresh data directory, and the keyword phases
(wall clock) and the runs' CPU compared. It also prints the main process's grouping time and the
fingerprints' time per article beside the analysis's (timed here on a sample of the stored articles).
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import itertools
import json
import random
import re
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from indexer.pipeline import IndexReport, index_paths
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
    """(seconds analyzing, seconds fingerprinting, articles) on the first `sample` stored articles, both
    in batches of ANALYSIS_BATCH articles as the workers do them."""
    from indexer.grouping.run import fingerprint_batch
    from indexer.pipeline.analysis import ANALYSIS_BATCH
    from indexer.stores import open_stores
    from indexer.stores.base import require_ledger
    from indexer.stores.tantivy_index import prepare_docs

    stores = open_stores(settings, writable=False, check=False)
    try:
        loaded = require_ledger(stores).load_for_keyword(stores.docs.article_ids()[:sample])
    finally:
        stores.close()
    analysis = fingerprints = 0.0
    for start in range(0, len(loaded), ANALYSIS_BATCH):
        started = time.process_time()
        batch = loaded[start : start + ANALYSIS_BATCH]
        docs = [prepare_docs(article, passages) for article, _, passages in batch]
        analyzed = time.process_time()
        fingerprint_batch(docs)
        analysis += analyzed - started
        fingerprints += time.process_time() - analyzed
    return analysis, fingerprints, len(loaded)


@dataclass(slots=True)
class Timed:
    """One keyword-only run of the slice: its keyword phase (wall clock) and the CPU of the whole run."""

    grouping: bool
    keyword_seconds: float
    cpu_seconds: float
    grouping_seconds: float


def cpu_seconds() -> float:
    """CPU used so far by this process and its finished children (the analysis workers, the reader)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_run(sliced: Path, data_dir: Path, workers: int, *, grouping: bool) -> tuple[Timed, IndexReport]:
    """Index the slice keyword-only into a fresh `data_dir`, with grouping on or off (`groups.enabled`)."""
    settings = load_settings(overrides={"data.dir": str(data_dir), "groups.enabled": grouping}, environ={})
    before = cpu_seconds()
    report = index_paths([str(sliced)], settings, embed=False, progress=False, workers=workers)
    used = cpu_seconds() - before
    return Timed(grouping, report.keyword_seconds, used, report.grouping_seconds), report


def compare(runs: Sequence[Timed]) -> dict[str, object]:
    """What grouping adds, from alternating runs with and without it: the ratio of the summed keyword
    phases (wall clock: what the issue's budget is about) and of the runs' CPU (steadier on a loaded
    machine, where the wall clock also measures the other jobs)."""
    on = [r for r in runs if r.grouping]
    off = [r for r in runs if not r.grouping]
    wall_on, wall_off = sum(r.keyword_seconds for r in on), sum(r.keyword_seconds for r in off)
    cpu_on, cpu_off = sum(r.cpu_seconds for r in on), sum(r.cpu_seconds for r in off)
    return {
        "runs": [
            {
                "grouping": r.grouping,
                "keyword_seconds": round(r.keyword_seconds, 2),
                "cpu_seconds": round(r.cpu_seconds, 2),
                "grouping_seconds_in_main_process": round(r.grouping_seconds, 2),
            }
            for r in runs
        ],
        "keyword_seconds_with_grouping": round(wall_on / len(on), 2),
        "keyword_seconds_without_grouping": round(wall_off / len(off), 2),
        "grouping_added_to_keyword_phase": round(wall_on / wall_off - 1, 4),
        "cpu_seconds_with_grouping": round(cpu_on / len(on), 2),
        "cpu_seconds_without_grouping": round(cpu_off / len(off), 2),
        "grouping_added_to_cpu": round(cpu_on / cpu_off - 1, 4),
    }


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
        help="also index the slice with grouping off (groups.enabled = false) and compare the keyword phases",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --baseline: runs of each kind, alternated (on, off, off, on, ...), all of the same slice",
    )
    parser.add_argument(
        "--timing-sample", type=int, default=2000, help="articles the fingerprint cost is timed on"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    with tempfile.TemporaryDirectory(prefix="isnad-copies-") as temp:
        root = Path(temp)
        sliced = root / "slice.jsonl"
        read = write_slice(args.corpus, args.articles, sliced)
        settings = load_settings(overrides={"data.dir": str(root / "data")}, environ={})
        first, report = timed_run(sliced, root / "data", args.workers, grouping=True)
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
        copies = sum(r >= COPY_RATIO for r in ratios)
        cost: dict[str, object] = {}
        if args.baseline:
            shutil.rmtree(root / "data")
            # Progress on stderr (the runs take minutes each on a loaded machine); stdout stays one object.
            judged = f"precision {copies}/{len(chosen)}"
            print(f"{judged}; the judged run, left out: {first}", file=sys.stderr, flush=True)
            runs: list[Timed] = []
            # The first run warmed this process's caches (the analyzer's, the word hashes), which later
            # runs' workers inherit when forked: it is left out. Then off, on, on, off, off, on, ...: a
            # load that drifts during the runs weighs on both kinds alike.
            for n in range(2 * args.rounds):
                data_dir = root / f"run-{n}"
                runs.append(timed_run(sliced, data_dir, args.workers, grouping=n % 4 in (1, 2))[0])
                shutil.rmtree(data_dir)
                print(f"run {n + 1} of {2 * args.rounds}: {runs[-1]}", file=sys.stderr, flush=True)
            cost = compare(runs)
        print(
            json.dumps(
                {
                    "corpus": args.corpus.name,
                    "articles_read": read,
                    "indexed": report.indexed,
                    "keyword_seconds": round(report.keyword_seconds, 2),
                    "grouping_seconds_in_main_process": round(report.grouping_seconds, 2),
                    "fingerprint_ms_per_article": round(fingerprint_seconds / max(timed, 1) * 1000, 3),
                    "analysis_ms_per_article": round(analysis_seconds / max(timed, 1) * 1000, 3),
                    **cost,
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
