"""`isnad delete ID...`: remove articles (and their passages and vectors) from every store."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.commands import add_common_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "delete",
        help="remove articles by id from every store",
        description="Remove articles by id from the document store, the keyword "
        "index and the vector index. Ids are those `isnad index "
        "--dry-run` and search results show.",
    )
    parser.add_argument("ids", nargs="+", metavar="ID", help="article ids")
    parser.add_argument("--json", action="store_true", help="print {deleted: [...], missing: [...]}")
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from indexer.pipeline import delete_articles
    from indexer.stores.data_dir import StoreBusyError
    from indexer.stores.manifest import IndexMismatchError, holds_index, no_index_message

    if settings["store.backend"] == "embedded" and not holds_index(settings["data.dir"]):
        print(f"isnad delete: {no_index_message(settings['data.dir'])}", file=sys.stderr)
        return 2
    try:
        deleted, missing = delete_articles(settings, args.ids)
    except (StoreBusyError, IndexMismatchError) as error:
        print(f"isnad delete: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"deleted": deleted, "missing": missing}, ensure_ascii=False))
    else:
        print(f"deleted {len(deleted)} article(s)" + (": " + " ".join(deleted) if deleted else ""))
    for article_id in missing:
        print(f"isnad delete: {article_id}: no such article in {settings['data.dir']}", file=sys.stderr)
    return 1 if missing else 0
