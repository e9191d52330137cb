"""Where indexed articles live: `open_stores(settings)` gives the document store, keyword index,
vector index and embedder of the configured backend behind one facade (`Stores`)."""

from __future__ import annotations

from typing import Any

from indexer.stores.manifest import IndexMismatchError, NoIndexError
from indexer.stores.registry import STORE_BACKENDS, UnknownBackendError, store_opener

__all__ = ["STORE_BACKENDS", "IndexMismatchError", "NoIndexError", "UnknownBackendError", "open_stores"]


def open_stores(settings: dict[str, Any], *, writable: bool = False, check: bool = True,
                reembed: bool = False) -> Any:
    """Open the stores named by `store.backend` for `data.dir`.

    Readers (writable=False) are cheap to keep for a process's lifetime and safe to share between
    threads; unless check=False they refuse, with IndexMismatchError, an index built with another
    analyzer or model, and with NoIndexError a directory that holds no index. Writers take the data
    directory's write lock and repair what a crash or a configuration change left behind (see
    `indexer.stores.embedded.Stores`).
    """
    return store_opener(settings)(settings, writable=writable, check=check, reembed=reembed)
