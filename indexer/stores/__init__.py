"""Where indexed articles live: `open_stores(settings)` gives the document store, keyword index,
vector index, embedder and indexing ledger of the configured backend behind one interface
(`indexer.stores.base.Stores`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from indexer.stores.manifest import IndexMismatchError, NoIndexError
from indexer.stores.registry import STORE_BACKENDS, UnknownBackendError, store_opener

if TYPE_CHECKING:  # numpy and the protocols load only where stores are opened
    from indexer.stores.base import Stores

__all__ = ["STORE_BACKENDS", "IndexMismatchError", "NoIndexError", "UnknownBackendError", "open_stores"]


def open_stores(
    settings: dict[str, Any], *, writable: bool = False, check: bool = True, reembed: bool = False
) -> Stores:
    """Open the stores named by `store.backend` for `data.dir`.

    Readers (writable=False) are cheap to keep for a process's lifetime and safe to share between
    threads; unless check=False they refuse, with IndexMismatchError, an index built with another
    analyzer or model, and with NoIndexError a directory that holds no index. Writers take the data
    directory's write lock and repair what a crash or a configuration change left behind (see
    `indexer.stores.embedded.EmbeddedStores`).
    """
    stores: Stores = store_opener(settings)(settings, writable=writable, check=check, reembed=reembed)
    return stores
