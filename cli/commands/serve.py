"""`isnad serve`: the web pages and the JSON API on waitress, a production WSGI server."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Callable
from typing import Any

from cli.commands import add_common_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the web pages and the JSON API",
        description="Serve Isnad with waitress (server.workers processes of server.threads threads).",
    )
    parser.add_argument("--host", default=None, help="address to listen on (default: server.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: server.port, 8000)")
    parser.add_argument(
        "--threads", type=int, default=None, help="threads of each serving process (default: server.threads)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="serving processes on the one port, each with its own threads (default: server.workers, 1)",
    )
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    host = args.host or settings["server.host"]
    port = settings["server.port"] if args.port is None else args.port
    threads = args.threads or settings["server.threads"]
    count = settings["server.workers"] if args.workers is None else args.workers
    if not isinstance(count, int) or count < 1:
        print(
            f"isnad serve: server.workers must be a whole number of at least 1, got {count!r}",
            file=sys.stderr,
        )
        return 2
    from webapp import workers

    sock: socket.socket | None = None
    if count > 1:
        try:  # before anything is written: a taken port must not leave an empty index behind
            sock = workers.bound_socket(host, port)
        except OSError as error:
            print(f"isnad serve: cannot listen on {host}:{port}: {error.strerror or error}", file=sys.stderr)
            return 2
    if (refused := _start_empty_index(settings)) is not None:
        if sock is not None:
            sock.close()
        return refused
    if sock is None:
        return _serve(settings, threads, f"{threads} threads", host=host, port=port)

    def worker(listening: socket.socket, number: int, loaded: Callable[[], None]) -> int:
        shape = f"{count} worker processes × {threads} threads"
        return _serve(settings, threads, shape, loaded=loaded, quiet=number > 0, sockets=[listening])

    return workers.supervise(count, sock, worker)


def _serve(
    settings: dict[str, Any],
    threads: int,
    shape: str,
    loaded: Callable[[], None] | None = None,
    quiet: bool = False,
    **listen: Any,
) -> int:
    """Open the index, read what queries rank by, and serve until interrupted; `listen` is waitress's
    host and port, or the socket a supervisor bound."""
    from indexer.stores import IndexMismatchError, NoIndexError
    from webapp import write_api, wsgi_server
    from webapp.app import create_app
    from webapp.collector import tune_for_serving
    from webapp.services import services_of

    try:
        app = create_app(settings=settings)
    except (IndexMismatchError, NoIndexError) as error:
        print(f"isnad serve: {error}", file=sys.stderr)
        return 2
    services = services_of(app)
    try:
        services.warm_up()
        write_api.start(app)  # indexes and embeds at once what a crash left behind
        tune_for_serving(int(settings["server.gc_threshold"]))  # after startup: what it loaded is frozen
        if loaded is not None:
            loaded()
        if not quiet:
            articles = services.stores.counts().articles
            address = _address(listen)
            print(
                f"isnad: serving {articles} articles from {settings['data.dir']} on {address} "
                f"(API: /api/v1/, {shape}); Ctrl-C stops",
                flush=True,
            )
        # waitress, with its own refusals (431 for a huge URL) answered as JSON under /api/
        wsgi_server.serve(app, threads=threads, ident="isnad", **listen)
    finally:
        services.close()
    return 0


def _address(listen: dict[str, Any]) -> str:
    if "sockets" in listen:
        host, port = listen["sockets"][0].getsockname()[:2]
    else:
        host, port = listen["host"], listen["port"]
    return f"http://{host}:{port}/"


def _start_empty_index(settings: dict[str, Any]) -> int | None:
    """An existing data directory without an index gets an empty one, so a newsroom can start with the write API;
    said plainly, since a mistyped --data-dir lands here too. An index built with another analyzer or
    model is still refused (by create_app). Returns the exit status when the stores refuse to open."""
    from pathlib import Path

    from indexer.stores import IndexMismatchError, NoIndexError, open_stores
    from indexer.stores.manifest import holds_index

    data_dir = settings["data.dir"]
    if settings["store.backend"] != "embedded" or holds_index(data_dir) or not Path(data_dir).is_dir():
        return None  # a folder that does not exist is refused as before: most often a mistyped path
    try:
        stores = open_stores(settings, writable=True)  # makes the stores and takes the write lock meanwhile
    except (IndexMismatchError, NoIndexError) as error:
        print(f"isnad serve: {error}", file=sys.stderr)
        return 2
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
    return None
