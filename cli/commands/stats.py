"""`isnad stats`: counts per store, sizes on disk, model and analyzer of an index."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.commands import add_common_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="counts per store, sizes, model and analyzer",
        description="Show what the index holds: articles and passages in the "
        "document store, passages in the keyword and vector indexes, "
        "what is still pending, sizes on disk, and what built it.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_common_options(parser)
    parser.set_defaults(run=run)


def collect(settings: dict[str, Any]) -> dict[str, Any]:
    """The figures `isnad stats` prints, as a dict (also used by benchmarks)."""
    from indexer.stores import open_stores

    stores = open_stores(settings, check=False)
    try:
        counts = stores.counts()
        manifest = stores.manifest
        return {
            "data_dir": str(settings["data.dir"]),
            "store_backend": settings["store.backend"],
            "counts": {
                "articles": counts.articles,
                "passages": counts.passages,
                "keyword": counts.keyword,
                "vectors": counts.vectors,
                "pending_vectors": counts.pending_vectors,
                **counts.extra,
            },
            "consistent": counts.keyword == counts.passages
            and counts.vectors + counts.pending_vectors == counts.passages,
            "sizes_bytes": stores.sizes(),
            "analyzer_version": manifest.get("analyzer_version"),
            "embedder": manifest.get("embedder"),
            "dim": manifest.get("dim"),
            "vector_index": manifest.get("vector_index"),
            "generation": manifest.get("generation"),
            "updated": manifest.get("updated"),
            "isnad_version": manifest.get("isnad_version"),
            "sources": [{"source": s, "articles": n} for s, n in stores.sources()],
            "last_runs": stores.ledger.last_runs(3) if stores.ledger is not None else [],
        }
    finally:
        stores.close()


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{n} B"


def _run_text(run: dict[str, Any]) -> str:
    """The latest indexing run in a few words: its status, when, and what to do if it did not finish."""
    status, started = run["status"], run["started"]
    if status == "running":
        return f"running since {started} (process {run.get('pid') or '?'})"
    if status == "interrupted":
        return f"interrupted (started {started}); run `isnad index` again to finish"
    if status == "failed":
        return f"failed (started {started}); see its message, then run `isnad index` again"
    summary = json.loads(run["summary"] or "{}")
    return (
        f"{status} {run['finished'] or started}: read {summary.get('read', 0)}, "
        f"indexed {summary.get('indexed', 0)}, embedded {summary.get('embedded', 0)}"
    )


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from indexer.stores.manifest import holds_index, no_index_message

    if settings["store.backend"] == "embedded" and not holds_index(settings["data.dir"]):
        print(f"isnad stats: {no_index_message(settings['data.dir'])}", file=sys.stderr)
        return 1
    stats = collect(settings)
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
        return 0
    counts, sizes = stats["counts"], stats["sizes_bytes"]
    lines = [
        f"data directory   {stats['data_dir']} ({stats['store_backend']})",
        (
            f"documents        {counts['articles']} articles, {counts['passages']} passages"
            f"  [{_size(sizes['documents'])}]"
        ),
        f"keyword index    {counts['keyword']} passages"
        + (
            f", {counts['pending_keyword_articles']} articles pending"
            if counts.get("pending_keyword_articles")
            else ""
        )
        + f"  [{_size(sizes['keyword'])}]",
        (
            f"vector index     {counts['vectors']} passages ({stats['vector_index'] or 'flat'}),"
            f" {counts['pending_vectors']} without vectors  [{_size(sizes['vectors'])}]"
        ),
        f"analyzer         {stats['analyzer_version'] or '-'}",
        f"embedder         {stats['embedder'] or '-'}"
        + (f" ({stats['dim']} dimensions)" if stats["dim"] else ""),
        f"updated          {stats['updated'] or 'never'} (generation {stats['generation'] or 0})",
        "sources          " + (", ".join(f"{s['source']} {s['articles']}" for s in stats["sources"]) or "-"),
        f"last run         {_run_text(stats['last_runs'][0]) if stats['last_runs'] else 'none'}",
    ]
    print("\n".join(lines))
    running = bool(stats["last_runs"]) and stats["last_runs"][0]["status"] == "running"
    if not stats["consistent"] and not running:  # during a run they differ by what it has not yet committed
        print(
            "isnad stats: the stores disagree (an interrupted run?); run `isnad index` to finish",
            file=sys.stderr,
        )
    return 0
