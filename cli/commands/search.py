"""`isnad search`: the web search from the command line, as text or as the API's JSON."""

from __future__ import annotations

import argparse
from typing import Any

from cli.commands import add_common_options
from cli.terminal import call_services, plain, print_json, source_line, use_color
from indexer.stores.registry import SEARCH_MODES, SEARCH_SORTS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search",
        help="search the indexed articles",
        description='Search like the web page: plain words, "quoted phrases", -excluded.',
    )
    parser.add_argument("query", help="the query, e.g. 'صواريخ \"كوريا الشمالية\" -أوكرانيا'")
    parser.add_argument(
        "--mode", choices=SEARCH_MODES, default=None, help="retrieval mode (default: search.mode, hybrid)"
    )
    parser.add_argument(
        "--source", action="append", default=[], metavar="NAME", help="only this source (repeat for several)"
    )
    parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="published on or after")
    parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="published on or before")
    parser.add_argument("--sort", choices=SEARCH_SORTS, default=None)
    parser.add_argument("--page", type=int, default=None)
    parser.add_argument("--size", type=int, default=None, help="results per page (at most 50)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON response")
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    params: dict[str, Any] = {
        "q": args.query,
        "mode": args.mode,
        "source": args.source,
        "from": args.date_from,
        "to": args.date_to,
        "sort": args.sort,
        "page": None if args.page is None else str(args.page),
        "size": None if args.size is None else str(args.size),
    }
    given = {k: v for k, v in params.items() if v not in (None, [])}
    result = call_services(settings, "search", lambda services: services.search(given))
    if result is None:
        return 2
    if args.json:
        print_json(result)
        return 0
    color = use_color()
    first = (result["page"] - 1) * result["size"]
    print(
        f"{result['total']} articles ({result['mode']}, {result['took_ms']} ms), "
        f"page {result['page']} of {max(result['pages'], 1)}"
    )
    for number, item in enumerate(result["results"], start=first + 1):
        print()
        print(f"{number}. {item['title']}")
        meta = source_line(item)
        print(f"   {meta + ' · ' if meta else ''}{item['article_id']} · score {item['score']:.4f}")
        print(f"   {plain(item['snippet'], color)}")
    if result["facets"]["source"]:
        print()
        print("sources: " + ", ".join(f"{f['value']} ({f['count']})" for f in result["facets"]["source"]))
    return 0
