"""Store backends by the `store.backend` setting; each opens a `Stores` facade for a configuration.

Entries are "module:function" strings resolved on use, so a backend's client library (e.g.
Elasticsearch's) is imported only when that backend is chosen. Adding a backend is one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from indexer.errors import IsnadError

STORE_BACKENDS: dict[str, str] = {
    "embedded": "indexer.stores.embedded:open_embedded",
    "elasticsearch": "indexer.stores.es.stores:open_elasticsearch",
    # The same store through opensearch-py: OpenSearch takes the same index definition and query DSL.
    "opensearch": "indexer.stores.es.stores:open_elasticsearch",
}


class UnknownBackendError(IsnadError, ValueError):
    """A backend name that no registry entry has."""


def resolve(registry: dict[str, str], name: str, setting: str) -> Callable[..., Any]:
    """The callable registered under `name`; an unknown name is an error listing the valid ones."""
    target = registry.get(name)
    if target is None:
        raise UnknownBackendError(f"unknown {setting} {name!r}; valid: {', '.join(sorted(registry))}")
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def store_opener(settings: dict[str, Any]) -> Callable[..., Any]:
    return resolve(STORE_BACKENDS, settings["store.backend"], "store.backend")
