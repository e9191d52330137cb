"""File access for the readers: find input files, open them (.gz transparently) and decode them to text."""

from __future__ import annotations

import errno
import gzip
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from indexer.ingest.encoding import (
    CERTAIN_ENCODINGS,
    SNIFF_BYTES,
    Decoded,
    DecodeError,
    decode,
    decode_utf8_repairing,
    detect_encoding,
)

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

# One file found by `expand`: its path, its kind (None: unsupported) and why it cannot be read (None: it can).
Entry = tuple[Path, str | None, str | None]


def kind_of(path: Path) -> str | None:
    """The reader for `path` by its extension ("x.jsonl.gz" -> "jsonl"), or None when unsupported."""
    name = path.name.lower().removesuffix(".gz")
    return KINDS.get(Path(name).suffix)


def expand(paths: Iterable[str | Path]) -> Iterator[Entry]:
    """(file, kind, problem) for every file under `paths`, directories recursed in sorted order.

    `kind` is None for unsupported files; `problem` names why a given path cannot be read at all.
    Inside directories, hidden files (".DS_Store", editor swap files) and notes about the folder (README,
    LICENSE...) are passed over silently: they are never articles, and reporting them would only be noise.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            # rglob does not descend into symlinked folders, so a link back up the tree cannot loop it.
            for child in sorted(path.rglob("*")):
                if any(part.startswith(".") for part in child.relative_to(path).parts) or _is_note(child):
                    continue
                if not _utf8_name(child):
                    # Ids, origins and messages are text: a name in another encoding cannot be carried.
                    yield child, None, "its name is not UTF-8; rename the file"
                elif child.is_file():
                    yield child, kind_of(child), None
                elif child.is_symlink() and not child.is_dir():
                    # A link that leads nowhere is a file the user meant to give us: say so, read the rest.
                    yield child, None, _broken_link(child)
        elif path.is_file():
            yield path, kind_of(path), None
        elif path.is_symlink():
            yield path, None, _broken_link(path)
        else:
            yield path, None, "no such file or directory" if not path.exists() else "not a regular file"


def _utf8_name(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _broken_link(path: Path) -> str:
    """Why the symbolic link `path` leads to no file: its target is missing, or links loop."""
    try:
        path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop"
        if error.errno == errno.ENOENT:
            try:
                return f"broken symbolic link to {os.readlink(path)}"
            except OSError:
                return "no such file or directory"
        return error.strerror or type(error).__name__
    return "not a regular file"


def _is_note(path: Path) -> bool:
    return kind_of(path) is None and path.name.upper().startswith(_NOTES)


def open_binary(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def read_decoded(path: Path) -> Decoded:
    """The whole file decoded, with the encoding used and any invalid UTF-8 replaced (see `decode`);
    raises DecodeError for binary data, OSError when unreadable."""
    with open_binary(path) as handle:
        return decode(handle.read())


def read_text(path: Path) -> str:
    """The whole file as text, decoded; raises DecodeError for binary data, OSError when unreadable."""
    return read_decoded(path).text


class Lines:
    """(line number, text) for a line-oriented file, streamed; text is None for a line that does not decode.

    The encoding is chosen from the first 64 KiB. UTF-16/32 files are decoded whole (their newlines are not
    single bytes); everything else is decoded line by line so a huge export never sits in memory at once.
    A UTF-8 line with invalid bytes is kept with U+FFFD in their place and listed in `repaired` as
    (line number, bytes replaced), for the reader to report.
    """

    def __init__(self, path: Path):
        self.path = path
        with open_binary(path) as handle:
            self.encoding = detect_encoding(handle.read(SNIFF_BYTES))
        self.repaired: list[tuple[int, int]] = []

    @property
    def guessed(self) -> bool:
        return self.encoding not in CERTAIN_ENCODINGS

    def __iter__(self) -> Iterator[tuple[int, str | None]]:
        if self.encoding.startswith(("utf-16", "utf-32")):
            yield from enumerate(read_text(self.path).split("\n"), start=1)
            return
        with open_binary(self.path) as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode(self.encoding)
                except UnicodeDecodeError:
                    if self.encoding != "utf-8":
                        yield number, None
                        continue
                    text, _, replaced = decode_utf8_repairing(raw)
                    self.repaired.append((number, replaced))
                yield number, text.removeprefix("\ufeff") if number == 1 else text


def iter_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) for a line-oriented file (see `Lines`)."""
    return iter(Lines(path))


__all__ = [
    "READ_ERRORS",
    "DecodeError",
    "Decoded",
    "Lines",
    "expand",
    "iter_lines",
    "kind_of",
    "open_binary",
    "read_decoded",
    "read_text",
]
