"""File access for the readers: find input files, open them (.gz transparently) and decode them to text."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from indexer.ingest.encoding import SNIFF_BYTES, DecodeError, decode_bytes, detect_encoding

# Reader kind by extension (after an optional .gz).
KINDS = {
    ".txt": "scraped",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
}
# Files that describe a folder rather than hold articles.
_NOTES = ("README", "LICENSE", "LICENCE", "NOTICE", "CHANGELOG", "AUTHORS")
# Errors a damaged or unreadable file raises while we read it (gzip and zlib damage included).
READ_ERRORS = (OSError, EOFError, zlib.error)


def kind_of(path: Path) -> str | None:
    """The reader for `path` by its extension ("x.jsonl.gz" -> "jsonl"), or None when unsupported."""
    name = path.name.lower().removesuffix(".gz")
    return KINDS.get(Path(name).suffix)


def expand(paths: Iterable[str | Path]) -> Iterator[tuple[Path, str | None, str | None]]:
    """(file, kind, problem) for every file under `paths`, directories recursed in sorted order.

    `kind` is None for unsupported files; `problem` names why a given path cannot be read at all.
    Inside directories, hidden files (".DS_Store", editor swap files) and notes about the folder (README,
    LICENSE...) are passed over silently: they are never articles, and reporting them would only be noise.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in child.relative_to(path).parts) or _is_note(child):
                    continue
                yield child, kind_of(child), None
        elif path.is_file():
            yield path, kind_of(path), None
        else:
            yield path, None, "no such file or directory" if not path.exists() else "not a regular file"


def _is_note(path: Path) -> bool:
    return kind_of(path) is None and path.name.upper().startswith(_NOTES)


def open_binary(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def read_text(path: Path) -> str:
    """The whole file as text, decoded; raises DecodeError for binary data, OSError when unreadable."""
    with open_binary(path) as handle:
        return decode_bytes(handle.read())


def iter_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) for a line-oriented file, streamed; text is None for a line that does not decode.

    The encoding is chosen from the first 64 KiB. UTF-16/32 files are decoded whole (their newlines are not
    single bytes); everything else is decoded line by line so a huge export never sits in memory at once.
    """
    with open_binary(path) as handle:
        encoding = detect_encoding(handle.read(SNIFF_BYTES))
    if encoding.startswith(("utf-16", "utf-32")):
        yield from enumerate(read_text(path).split("\n"), start=1)
        return
    with open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                yield number, None
                continue
            yield number, text.removeprefix("\ufeff") if number == 1 else text


__all__ = ["READ_ERRORS", "DecodeError", "expand", "iter_lines", "kind_of", "open_binary", "read_text"]
