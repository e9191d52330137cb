"""Following RSS / Atom feeds (`isnad watch`): fetch, parse, remember per feed, store through the pipeline."""

from indexer.feeds.poll import Event, FeedOutcome, Watcher, WatchOptions

__all__ = ["Event", "FeedOutcome", "WatchOptions", "Watcher"]
