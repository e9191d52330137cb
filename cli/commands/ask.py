"""`isnad ask`: a cited answer from the indexed articles, with its numbered sources."""

from __future__ import annotations

import argparse
from typing import Any

from cli.commands import add_common_options
from cli.terminal import call_services, print_json, source_line
from indexer.stores.registry import SEARCH_MODES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ask",
        help="answer a question from the indexed articles, with citations",
        description="Answer with 1-3 sentences quoted from indexed articles, each "
        "cited; abstain when the articles do not answer it. Exit "
        "status 0 when answered, 1 when it abstains, 2 on bad input.",
    )
    parser.add_argument("question", help="the question in Arabic")
    parser.add_argument(
        "--after",
        action="append",
        default=[],
        metavar="QUESTION",
        help="an earlier question of the conversation, for a follow-up (repeatable, in order)",
    )
    parser.add_argument(
        "--mode", choices=SEARCH_MODES, default=None, help="retrieval mode (default: search.mode, hybrid)"
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON response")
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    history = [{"role": "user", "content": q} for q in args.after]
    result = call_services(settings, "ask", lambda services: services.ask(args.question, history, args.mode))
    if result is None:
        return 2
    if args.json:
        print_json(result)
        return 0
    print(result["answer"])
    if result["citations"]:
        print()
        print("المصادر:")
        for citation in result["citations"]:
            meta = source_line(citation)
            print(f"[{citation['n']}] {citation['title']}{' — ' + meta if meta else ''}")
            print(
                f"    {citation['url'] or 'article ' + citation['article_id']} (passage {citation['passage_id']})"
            )
    return 0 if result["answered"] else 1
