"""The OpenAPI document served at /api/v1/openapi.json: `openapi.json` with its enums filled from the code.

The file names a list where a schema takes one (`"x-isnad-names": "search modes"`) instead of copying its
values, so the document lists exactly the modes, sorts, roles and backends the code accepts.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from indexer.stores.registry import STORE_BACKENDS
from retrieval.search import MODES, SORTS
from webapp.services import HISTORY_ROLES

NAMES_KEY = "x-isnad-names"
NAME_LISTS: dict[str, tuple[str, ...]] = {
    "search modes": MODES,
    "sorts": SORTS,
    "history roles": HISTORY_ROLES,
    "store backends": tuple(STORE_BACKENDS),
}


def filled(node: Any) -> Any:
    """A copy of a JSON document in which each `x-isnad-names` is replaced by the `enum` of that list."""
    if isinstance(node, list):
        return [filled(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: filled(value) for key, value in node.items() if key != NAMES_KEY}
    if NAMES_KEY in node:
        out["enum"] = list(NAME_LISTS[node[NAMES_KEY]])  # an unknown list name fails the first request
    return out


@functools.cache
def document() -> str:
    """The served document's text (built once per process)."""
    source = json.loads(resources.files("webapp").joinpath("openapi.json").read_text(encoding="utf-8"))
    return json.dumps(filled(source), ensure_ascii=False, indent=2)
