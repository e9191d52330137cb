"""`isnad bench`: indexing speed and size, and search/ask latency and throughput of the served app."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from webapp.commands import add_common_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="measure indexing and query speed on a corpus sample, over loopback HTTP",
        description="Index N articles of a corpus (embeddings for the first K; cached under .cache/isnad-bench), "
                    "serve them with `isnad serve` on a free loopback port, measure search per mode and ask "
                    "with one client and hybrid search with C clients; print tables and write JSON.")
    parser.add_argument("--corpus", metavar="FILE.jsonl.gz", type=Path, required=True,
                        help="news articles to index (a deterministic sample of N is taken)")
    parser.add_argument("--articles", metavar="N", type=int, required=True, help="articles to index")
    parser.add_argument("--queries", metavar="M", type=int, default=200,
                        help="queries per stage, drawn from titles and first sentences (default 200)")
    parser.add_argument("--clients", metavar="C", type=int, default=8,
                        help="concurrent clients for the throughput stage (default 8)")
    parser.add_argument("--embed-articles", metavar="K", type=int, default=10000,
                        help="articles whose passages are embedded for the semantic path (default 10000)")
    parser.add_argument("--time-limit", metavar="SECONDS", type=float, default=120.0,
                        help="longest time spent on one measured stage (default 120)")
    parser.add_argument("--cache-dir", metavar="DIR", type=Path, default=None,
                        help="where cached indexes live (default .cache in the project folder)")
    parser.add_argument("--out", metavar="bench.json", type=Path, default=None, help="write the JSON report here")
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from webapp.evaluation.bench_run import BenchOptions, run_bench

    if not args.corpus.is_file():
        print(f"isnad bench: {args.corpus}: file not found", file=sys.stderr)
        return 2
    for name in ("articles", "queries", "clients"):
        if getattr(args, name) < 1:
            print(f"isnad bench: --{name} must be at least 1", file=sys.stderr)
            return 2
    if args.embed_articles < 0:
        print("isnad bench: --embed-articles must be 0 or more", file=sys.stderr)
        return 2
    options = BenchOptions(corpus=args.corpus, articles=args.articles, queries=args.queries, clients=args.clients,
                           embed_articles=min(args.embed_articles, args.articles), out=args.out,
                           time_limit=args.time_limit, command=shlex.join(["isnad", *sys.argv[1:]]))
    if args.cache_dir is not None:
        options.cache_root = args.cache_dir
    report = run_bench(options, settings)
    print(report["table"])
    if args.out:
        print(f"\nreport written to {args.out}", file=sys.stderr)
    return 0
