"""The data directory's manifest: what built the index (versions, model, dimension) and its counts.

Written atomically after every keyword commit and vector checkpoint, with a `generation` that
grows each time, so a reader can tell cheaply (file stamp, then generation) that an indexer has
committed something new. Readers refuse an index built with another analyzer or embedding model.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexer.errors import IsnadError

MANIFEST_NAME = "manifest.json"
FORMAT = 1


class IndexMismatchError(IsnadError, RuntimeError):
    """The index on disk was built with another analyzer, schema or embedding model."""


class NoIndexError(IsnadError, FileNotFoundError):
    """A reader was pointed at a directory that holds no index (a mistyped --data-dir, most often)."""


def holds_index(data_dir: str | Path) -> bool:
    """Whether `data_dir` holds an index: a manifest, or the document store a first run is filling."""
    from indexer.stores.data_dir import DOCUMENTS_FILE

    return (Path(data_dir) / MANIFEST_NAME).is_file() or (Path(data_dir) / DOCUMENTS_FILE).is_file()


def no_index_message(data_dir: str | Path) -> str:
    return (
        f"no index in {data_dir}: check --data-dir (or ISNAD_DATA_DIR, data.dir), or build one there "
        "with `isnad index PATH...`"
    )


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("isnad")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def read_manifest(data_dir: str | Path) -> dict[str, Any]:
    """The manifest, or {} when the directory has none yet."""
    path = Path(data_dir) / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as error:
        raise IndexMismatchError(
            f"{path}: unreadable manifest ({error}); re-index into a new --data-dir"
        ) from None
    if not isinstance(manifest, dict):
        raise IndexMismatchError(f"{path}: manifest is not a JSON object")
    return manifest


# A token the server's writer renews whenever the set of committed vectors changes (vectors stored by its
# background worker, passages replaced or deleted): a reader that already holds the vectors of the token it
# last saw skips re-syncing FAISS on a refresh. Any other writer drops the token, so readers sync in full.
VECTORS_VERSION = "vectors_version"


def write_manifest(data_dir: str | Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write `manifest` with the next generation, atomically; returns what was written."""
    path = Path(data_dir) / MANIFEST_NAME
    written = dict(
        manifest,
        format=FORMAT,
        generation=int(manifest.get("generation", 0)) + 1,
        isnad_version=package_version(),
        updated=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(written, handle, ensure_ascii=False, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)  # the previous manifest stays in place
        raise
    return written


def manifest_stamp(data_dir: str | Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of the manifest: a change means an indexer committed something."""
    try:
        stat = (Path(data_dir) / MANIFEST_NAME).stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


def check_compatible(
    manifest: dict[str, Any],
    data_dir: str | Path,
    *,
    analyzer_version: str,
    keyword_schema: int,
    embedder_name: str,
) -> None:
    """Refuse an index built with another analyzer, keyword schema or model, saying how to fix it."""
    if not manifest:
        return
    built_with = manifest.get("analyzer_version")
    if built_with and built_with != analyzer_version:
        raise IndexMismatchError(
            f"the index in {data_dir} was built with analyzer version {built_with}, but this Isnad analyzes "
            f"queries with {analyzer_version}; run `isnad index --data-dir {data_dir}` to rebuild the "
            "keyword index (articles are kept)"
        )
    schema = manifest.get("keyword_schema")
    if schema is not None and schema != keyword_schema:
        raise IndexMismatchError(
            f"the keyword index in {data_dir} has schema {schema}, this Isnad expects {keyword_schema}; "
            f"run `isnad index --data-dir {data_dir}` to rebuild it"
        )
    model = manifest.get("embedder")
    if model and model != embedder_name:
        raise IndexMismatchError(
            f"the vectors in {data_dir} were made with {model}, but the configured embedder is "
            f"{embedder_name}; set embedder.backend/embedder.model to match, or re-embed with "
            f"`isnad index --reembed --data-dir {data_dir}`"
        )
