"""`isnad index PATH...`: read files into the stores (keyword index first, then embeddings); resumable."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tqdm import tqdm

from cli.commands import add_common_options
from indexer.models import IngestSummary, Problem


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "index",
        help="index article files (.txt pages, .jsonl/.json, .html; .gz too) or directories",
        description="Read articles, store them with their passages, build the keyword index, then embed the "
        "passages. Indexing the same files again adds nothing; changed articles are replaced. "
        "Interrupt at any time (Ctrl-C) and run the same command again to continue. Without "
        "PATH, only pending work is finished (e.g. embeddings skipped with --no-embed).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to read")
    parser.add_argument(
        "--no-embed",
        action="store_true",
        help="skip embeddings (keyword search only); a later run without it adds them",
    )
    parser.add_argument(
        "--reembed", action="store_true", help="drop all vectors and embed again with the configured embedder"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="read and split only; write nothing and print what would be indexed",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="machine-readable output (with --dry-run: one JSON object per article)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.add_argument(
        "--workers", type=int, default=0, metavar="N", help="analysis processes (default: one per core)"
    )
    add_common_options(parser)
    parser.set_defaults(run=run)


def _print_problem(problem: Problem) -> None:
    tqdm.write(f"isnad index: {problem}", file=sys.stderr)


def _skipped_text(skipped: dict[str, int]) -> str:
    if not skipped:
        return "0"
    return (
        f"{sum(skipped.values())} ("
        + ", ".join(f"{reason}: {n}" for reason, n in sorted(skipped.items()))
        + ")"
    )


def _noted_text(noted: dict[str, int]) -> str:
    """ ", noted N (reason: n, ...)" for input that was used with a note, or nothing."""
    return f", noted {_skipped_text(noted)}" if noted else ""


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    if args.dry_run:
        return _dry_run(args, settings)
    from indexer.pipeline import IndexReport, index_paths
    from indexer.stores.data_dir import StoreBusyError
    from indexer.stores.diskfull import DiskFullError
    from indexer.stores.embedders import EmbedderError
    from indexer.stores.manifest import IndexMismatchError, holds_index, no_index_message

    if not args.paths:
        if settings["store.backend"] == "embedded" and not holds_index(settings["data.dir"]):
            # Nothing to finish: creating an empty index here would only hide a mistyped --data-dir.
            print(f"isnad index: no PATH given and {no_index_message(settings['data.dir'])}", file=sys.stderr)
            return 2
        if not args.quiet and not args.json:
            print("isnad index: no PATH given; finishing pending work only", file=sys.stderr)

    report = IndexReport()
    try:
        index_paths(
            args.paths,
            settings,
            embed=not args.no_embed,
            reembed=args.reembed,
            progress=not (args.quiet or args.json),
            on_problem=_print_problem,
            workers=args.workers,
            report=report,
        )
    except (StoreBusyError, IndexMismatchError, EmbedderError) as error:
        print(f"isnad index: {error}", file=sys.stderr)
        return 2
    except DiskFullError as error:
        print(f"isnad index: {error}", file=sys.stderr)
        if report.read or report.keyword_caught_up or report.embedded:  # it got going: say how far
            _print_summary(args, settings, report, stopped=True)
        return 1
    except KeyboardInterrupt:
        _print_summary(args, settings, report)  # what was done is committed: say so, then stop
        raise
    _print_summary(args, settings, report)
    if report.problems and not (report.indexed or report.unchanged):
        return 1
    return 0


def _print_summary(
    args: argparse.Namespace, settings: dict[str, Any], report: Any, *, stopped: bool = False
) -> None:
    for message in report.messages:
        print(f"isnad index: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    vectors = f"embedded {report.embedded} passages, {report.pending_vectors} still without vectors" + (
        " (run `isnad index` without --no-embed to add them)"
        if report.pending_vectors and not (report.interrupted or stopped)
        else ""
    )
    print(
        ("interrupted after: " if report.interrupted else "stopped after: " if stopped else "")
        + f"read {report.read}, indexed {report.indexed} ({report.replaced} replaced, {report.passages} "
        f"passages), unchanged {report.unchanged}, skipped {_skipped_text(report.skipped)}"
        f"{_noted_text(report.noted)}; {vectors}; "
        f"data in {settings['data.dir']}"
    )
    if report.keyword_caught_up:
        print(f"caught up {report.keyword_caught_up} articles left unindexed by an earlier run")


def _dry_run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from indexer.pipeline import dry_run

    if not args.paths:
        print("isnad index: --dry-run needs at least one PATH", file=sys.stderr)
        return 2
    summary = IngestSummary()
    problems: list[Problem] = []

    def on_problem(problem: Problem) -> None:
        problems.append(problem)
        _print_problem(problem)

    articles = passages = 0
    for item in dry_run(args.paths, settings, summary, on_problem):
        articles += 1
        passages += item.passages
        if args.json:
            print(
                json.dumps(
                    {
                        "id": item.id,
                        "title": item.title,
                        "source": item.source,
                        "published": item.published,
                        "passages": item.passages,
                        "first_passage": item.first_passage,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            when = (item.published or "undated")[:10]
            print(f"{item.id}  {when}  {item.source or '-'}  {item.passages} passages  {item.title[:70]}")
    line = (
        f"dry run: read {summary.read}, would index {articles} articles ({passages} passages), "
        f"skipped {_skipped_text(summary.skipped)}{_noted_text(summary.noted)}; nothing written"
    )
    print(line, file=sys.stderr if args.json else sys.stdout)
    return 1 if problems and not articles else 0
