"""`isnad watch FEED_URL...`: follow RSS / Atom feeds, indexing each new or changed item's page."""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import UTC, datetime
from typing import Any

from cli.commands import add_common_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="follow RSS / Atom feeds and index their new articles",
        description="Poll RSS 2.0 and Atom feeds (conditional GET), fetch the page of each new or changed "
        "item, read it like an .html file and index it like `isnad index` (keyword index at once, "
        "then embeddings). What each feed has given is kept in <data dir>/feeds/, so stopping "
        "(Ctrl-C) and running again loses and duplicates nothing. A failing feed is tried again "
        "after a growing pause (feeds.backoff_initial, doubled per failure) while the others go on.",
    )
    parser.add_argument(
        "urls",
        nargs="*",
        metavar="FEED_URL",
        help="http(s) address of an RSS or Atom feed (default: feeds.urls from the config)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="poll every feed once and exit (for cron and tests); exit code 1 if a feed or item failed",
    )
    parser.add_argument(
        "--force", action="store_true", help="also poll feeds that are backing off after failures"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between two polls of a feed (default: feeds.interval)",
    )
    parser.add_argument(
        "--no-embed",
        action="store_true",
        help="keyword index only; a later `isnad index` or watch without it adds the vectors",
    )
    add_common_options(parser)
    parser.set_defaults(run=run)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _line(event: Any) -> str:
    """One log line: time, what happened, the item (title and link) and the feed it came from."""
    title = f"«{event.title}» " if event.title else ""
    if event.kind in ("new", "changed", "unchanged"):
        text = f"{event.kind} item {title}{event.item} (feed {event.feed}): {event.detail}"
    elif event.kind == "item-failed":
        text = f"failed item {title}{event.item} (feed {event.feed}): {event.detail}"
    elif event.kind == "item-given-up":
        text = f"gave up on item {title}{event.item} (feed {event.feed}): {event.detail}"
    elif event.kind == "feed-failed":
        text = f"failed feed {event.feed}: {event.detail}"
    elif event.kind == "backing-off":
        text = f"skipped feed {event.feed}: backing off {event.detail}"
    elif event.feed:
        text = f"feed {event.feed}: {event.detail}"
    else:
        text = event.detail
    return f"isnad watch: {_stamp()} {text}"


def _terminate(signum: int, frame: Any) -> None:
    # `kill PID` (SIGTERM, as from systemd or docker stop) stops like Ctrl-C: what is stored is recorded.
    raise KeyboardInterrupt


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from indexer.feeds import Watcher, WatchOptions
    from indexer.feeds.fetch import check_url
    from indexer.feeds.state import take_watch_lock
    from indexer.stores.diskfull import DiskFullError
    from indexer.stores.embedders import EmbedderError
    from indexer.stores.manifest import IndexMismatchError

    urls = list(args.urls or settings["feeds.urls"])
    if not urls:
        print(
            "isnad watch: no feeds: give FEED_URL..., or list them in feeds.urls of a --config file "
            "(or ISNAD_FEEDS_URLS)",
            file=sys.stderr,
        )
        return 2
    bad = [(url, problem) for url in urls if (problem := check_url(url))]
    for url, problem in bad:
        print(f"isnad watch: {url}: {problem}", file=sys.stderr)
    if bad:
        return 2
    if args.interval is not None and args.interval <= 0:
        print("isnad watch: --interval must be more than 0 seconds", file=sys.stderr)
        return 2
    changes: dict[str, Any] = {"embed": not args.no_embed, "force": args.force}
    if args.interval is not None:
        changes["interval"] = args.interval
    options = WatchOptions.from_settings(settings, **changes)
    failures = [0]

    def log(event: Any) -> None:
        if event.kind in ("item-failed", "item-given-up", "feed-failed", "store-busy"):
            failures[0] += 1
        print(_line(event), file=sys.stderr, flush=True)

    watcher = Watcher(settings, urls, options, log)
    signal.signal(signal.SIGTERM, _terminate)
    lock = take_watch_lock(settings["data.dir"])  # WatchBusyError is an IsnadError: printed by cli.main
    try:
        if args.once:
            outcomes = watcher.poll_round()
            counts = {
                name: sum(o.counts.get(name, 0) for o in outcomes.values())
                for name in ("new", "changed", "unchanged", "failed")
            }
            states = [o.status for o in outcomes.values()]
            print(
                f"polled {len(urls)} feed{'s' * (len(urls) != 1)} ({states.count('ok')} read, "
                f"{states.count('not-modified')} not modified, {states.count('failed')} failed, "
                f"{states.count('backing-off')} backing off): {counts['new']} new, {counts['changed']} "
                f"changed, {counts['unchanged']} unchanged, {counts['failed']} failed items; "
                f"data in {settings['data.dir']}"
            )
            return 1 if failures[0] else 0
        print(
            f"isnad watch: following {len(urls)} feed{'s' * (len(urls) != 1)} into {settings['data.dir']}, "
            f"each polled every {options.interval:g} s; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        watcher.run_forever()
        return 0
    except (IndexMismatchError, EmbedderError, DiskFullError) as error:
        print(f"isnad watch: {error}", file=sys.stderr)
        return 1 if isinstance(error, DiskFullError) else 2
    except KeyboardInterrupt:
        print(
            "isnad watch: stopped; every article stored so far is recorded in the feeds' state, and the "
            "same command continues from there",
            file=sys.stderr,
            flush=True,
        )
        return 130
    finally:
        lock.close()
