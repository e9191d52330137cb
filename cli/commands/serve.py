"""`isnad serve`: the web pages and the JSON API on waitress, a production WSGI server."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.commands import add_common_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the web pages and the JSON API",
        description="Serve Isnad with waitress (server.threads worker threads).",
    )
    parser.add_argument("--host", default=None, help="address to listen on (default: server.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: server.port, 8000)")
    parser.add_argument("--threads", type=int, default=None, help="worker threads (default: server.threads)")
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from indexer.stores import IndexMismatchError, NoIndexError
    from webapp import wsgi_server
    from webapp.app import create_app
    from webapp.services import services_of

    host = args.host or settings["server.host"]
    port = settings["server.port"] if args.port is None else args.port
    threads = args.threads or settings["server.threads"]
    try:
        _start_empty_index(settings)
        app = create_app(settings=settings)
    except (IndexMismatchError, NoIndexError) as error:
        print(f"isnad serve: {error}", file=sys.stderr)
        return 2
    services = services_of(app)
    services.warm_up()
    from webapp import write_api

    write_api.start(app)  # indexes and embeds at once what a crash left behind
    from webapp.collector import tune_for_serving

    tune_for_serving(int(settings["server.gc_threshold"]))  # after startup: what it loaded is frozen
    counts = services.stores.counts()
    print(
        f"isnad: serving {counts.articles} articles from {settings['data.dir']} "
        f"on http://{host}:{port}/ (API: /api/v1/, {threads} threads); Ctrl-C stops",
        flush=True,
    )
    try:
        # waitress, with its own refusals (431 for a huge URL) answered as JSON under /api/
        wsgi_server.serve(app, host=host, port=port, threads=threads, ident="isnad")
    finally:
        services.close()
    return 0


def _start_empty_index(settings: dict[str, Any]) -> None:
    """An existing data directory without an index gets an empty one, so a newsroom can start with the write API;
    said plainly, since a mistyped --data-dir lands here too. An index built with another analyzer or
    model is still refused (by create_app)."""
    from pathlib import Path

    from indexer.stores import open_stores
    from indexer.stores.manifest import holds_index

    data_dir = settings["data.dir"]
    if settings["store.backend"] != "embedded" or holds_index(data_dir) or not Path(data_dir).is_dir():
        return  # a folder that does not exist is refused as before: most often a mistyped path
    stores = open_stores(settings, writable=True)  # makes the stores and takes the write lock meanwhile
    try:
        stores.write_manifest()
    finally:
        stores.close()
    print(
        f"isnad serve: no index in {data_dir}: started an empty one there; add articles with "
        "POST /api/v1/articles (a write key: `isnad keys create --scope write`) or `isnad index PATH...` "
        "(if this is not the directory you meant, stop and check --data-dir)",
        file=sys.stderr,
        flush=True,
    )
