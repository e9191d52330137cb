"""The query side's view of groups, whichever backend: each article's copy group and story, and the
members of a group. Embedded reads `groups.sqlite` read-only; scale-out reads the engine."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from indexer.grouping.store import GroupRow, GroupStore
from indexer.stores.base import Stores


def grouping_enabled(settings: dict[str, Any]) -> bool:
    """The `groups.enabled` setting: whether runs make copy groups and stories, and readers show them."""
    return bool(settings.get("groups.enabled", True))


class Groups(Protocol):
    def rows(self, article_ids: Iterable[str]) -> dict[str, GroupRow]: ...
    def members(self, column: str, values: Iterable[str]) -> dict[str, list[GroupRow]]: ...


class LocalGroups:
    """groups.sqlite of a data directory, opened when it first exists (an index may predate it)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self._store: GroupStore | None = None
        self._lock = threading.Lock()

    def _opened(self) -> GroupStore | None:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = GroupStore.open_reader(self.data_dir)
        return self._store

    def rows(self, article_ids: Iterable[str]) -> dict[str, GroupRow]:
        store = self._opened()
        return store.rows(article_ids) if store else {}

    def members(self, column: str, values: Iterable[str]) -> dict[str, list[GroupRow]]:
        store = self._opened()
        return store.members(column, values) if store else {}

    def preload_rows(self) -> bool:
        store = self._opened()
        return store.preload_rows() if store else False

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


class NoGroups:
    """Grouping turned off (`groups.enabled` false): every article is on its own, no story exists."""

    def rows(self, article_ids: Iterable[str]) -> dict[str, GroupRow]:
        return {}

    def members(self, column: str, values: Iterable[str]) -> dict[str, list[GroupRow]]:
        return {}


def open_groups(stores: Stores, settings: dict[str, Any]) -> Groups:
    """The groups of opened stores: the engine's for an app server without a data directory, none when
    grouping is off (a ledger left from before would be missing what was indexed since)."""
    if not grouping_enabled(settings):
        return NoGroups()
    if stores.engine is not None:  # scale-out, reader or indexer: the engine is the truth
        from indexer.grouping.engine import EngineGroups

        return EngineGroups(stores.engine)
    return LocalGroups(settings["data.dir"])
