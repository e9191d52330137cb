"""Rows a query reads by id again and again, kept in memory until their SQLite file changes.

A keyword query reads a few hundred rows by id (each candidate passage's article, its passage count, its
copy group and story), and most of them were read by an earlier query. A `RowCache` answers those from
memory and asks SQLite only for the ids it has not seen. It is dropped whole as soon as the file's data
may have changed: its `stamp` is SQLite's `PRAGMA data_version`, which moves when another connection
(another process's indexing run or writer) commits, together with the connection's own `total_changes`,
which moves when this process writes through the same connection. A dropped cache costs exactly what a
query cost without it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")
Stamp = tuple[int, int]

# Entries kept at most; past it the cache starts again empty, so memory stays bounded on a large archive
# (a passage's entry is a shared reference to its article's, ~100 bytes).
MAX_ENTRIES = 2_000_000


def stamp_of(connection: sqlite3.Connection) -> Stamp:
    """What changes when the file's committed data may have: other connections' commits and this one's
    own writes. Call with the connection's lock held."""
    version = connection.execute("PRAGMA data_version").fetchone()[0]
    return int(version), connection.total_changes


class RowCache(Generic[Key, Value]):
    """Values by key, read through `fetch` for the keys not cached and valid while `stamp()` holds."""

    def __init__(
        self,
        stamp: Callable[[], Stamp],
        fetch: Callable[[list[Key]], Mapping[Key, Value]],
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._stamp = stamp
        self._fetch = fetch
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._seen: Stamp | None = None
        self._entries: dict[Key, Value] = {}

    def get_many(self, keys: Iterable[Key]) -> dict[Key, Value]:
        """The value of each key that has one (keys the store does not hold are absent), in key order."""
        wanted = list(keys)
        entries = self._current()
        # One lookup a key, in C: a query asks for ~1,000 keys of a cache of ~100,000, almost always all
        # cached, and each lookup is a likely cache miss, so a second pass (or a Python loop) costs.
        try:
            return dict(zip(wanted, map(entries.__getitem__, wanted)))
        except KeyError:
            pass  # some are not cached yet
        fetched = self._fetch(list(dict.fromkeys(key for key in wanted if key not in entries)))
        if len(entries) + len(fetched) > self._max_entries:
            # Start again with this read's keys only: the cached ones it asked for are kept too.
            kept = {key: entries[key] for key in wanted if key in entries}
            entries = self._replace()
            entries.update(kept)
        entries.update(fetched)
        # Read from the dict taken at the start: a drop meanwhile replaces the dict, never empties this one.
        return {key: entries[key] for key in wanted if key in entries}

    def fill(self, read_all: Callable[[int], Mapping[Key, Value]]) -> bool:
        """Replace the entries with every row, `read_all(limit)` reading at most `limit` of them; False (and
        nothing kept) when the file holds more than the cache may. For a server's start, so its first
        queries do not each read their rows: the entries are stamped with the stamp taken before the read,
        so a commit at any time after it drops them at the next read, as it drops rows read one by one."""
        stamp = self._stamp()
        entries = dict(read_all(self._max_entries + 1))
        if len(entries) > self._max_entries:
            return False
        with self._lock:
            self._seen, self._entries = stamp, entries
        return True

    def _current(self) -> dict[Key, Value]:
        stamp = self._stamp()
        with self._lock:
            if stamp != self._seen:
                self._seen = stamp
                self._entries = {}
            return self._entries

    def _replace(self) -> dict[Key, Value]:
        with self._lock:
            self._entries = {}
            return self._entries
