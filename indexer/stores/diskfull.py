"""A full disk, recognised in whatever SQLite, tantivy, FAISS or the OS raise, and told once, plainly."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from indexer.errors import IsnadError

_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
# How the libraries word it when they hand us only a message: tantivy ("No space left on device (os error
# 28)"), FAISS ("... (No space left on device)"), SQLite ("database or disk is full").
_MESSAGES = ("no space left on device", "os error 28", "database or disk is full", "disk quota exceeded")
# What a build needs beyond the finished index: SQLite's write-ahead log holds recent batches again until
# it is checkpointed (every 16,000 pages, see sqlite_docstore), and tantivy keeps old segments until a
# merge ends. `python -m evaluation.scripts.disk_peak CORPUS --articles N` measured on ant_multisource, without vectors:
# 3,000 articles, 16.8 MiB index, 57.5 MiB at the peak (log 41.3 MiB); 12,000 articles, 72.6 MiB index,
# 133.7 MiB at the peak (log 63.6 MiB). So: the index, plus up to 2.5x it for a small one, at most
# about 64 MiB more for a large one.
EXTRA_PER_INDEX_BYTE = 2.5
EXTRA_AT_MOST = 64 << 20
# Final index per byte of input: 1.68 and 1.64 in those runs (JSON lines, 2.4 passages per article).
# Each passage's vector adds 3 KiB (384 floats, in SQLite and in the FAISS file): about 2.2 MiB per MiB
# of such input, so about 4 in all.
INDEX_PER_INPUT_BYTE = 1.7
WITH_VECTORS_PER_INPUT_BYTE = 4


def build_needs(input_bytes: int, *, vectors: bool) -> int:
    """About how many bytes building an index of `input_bytes` of articles takes at its peak."""
    final = input_bytes * (WITH_VECTORS_PER_INPUT_BYTE if vectors else INDEX_PER_INPUT_BYTE)
    return int(final + min(EXTRA_PER_INDEX_BYTE * final, EXTRA_AT_MOST))


class DiskFullError(IsnadError, OSError):
    """The disk holding the data directory filled up during a write; what was committed is kept."""


# Below this much free space, an I/O error is the full disk's doing: SQLite reports a shared-memory file it
# cannot grow as "disk I/O error", not as a full disk.
_NEARLY_FULL_BYTES = 1 << 20


def is_disk_full(error: BaseException, data_dir: Path | None = None) -> bool:
    """Whether `error`, or an error it was raised from, says the disk (or the user's quota) is full; with
    `data_dir`, also an I/O error while the disk holding it has next to no free space left."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _ERRNOS:
            return True
        code = getattr(current, "sqlite_errorcode", None) if isinstance(current, sqlite3.Error) else None
        if code == sqlite3.SQLITE_FULL:
            return True
        if any(words in str(current).lower() for words in _MESSAGES):
            return True
        io_error = (code is not None and code & 0xFF == sqlite3.SQLITE_IOERR) or (
            isinstance(current, OSError) and current.errno == errno.EIO
        )
        if io_error and data_dir is not None and _free_bytes(data_dir) < _NEARLY_FULL_BYTES:
            return True
        current = current.__cause__ or current.__context__
    return False


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 1 << 62  # cannot tell: do not blame the disk


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def _held(data_dir: Path) -> int:
    total = 0
    for path in data_dir.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:
            pass
    return total


def disk_full_message(data_dir: Path, writing: str, input_bytes: int, *, vectors: bool) -> str:
    """What filled, where, how much room there is, and how much an index build of this input needs."""
    try:
        usage = shutil.disk_usage(data_dir)
        room = f"{_mib(usage.free)} free of {_mib(usage.total)}"
    except OSError:
        room = "free space unknown"
    held = _held(data_dir)
    need = (
        f"; for these {_mib(input_bytes)} of input allow about {_mib(build_needs(input_bytes, vectors=vectors))}"
        if input_bytes
        else ""
    )
    return (
        f"no space left on device while writing {writing} in {data_dir} ({room}; the data directory holds "
        f"{_mib(held)}). Building an index takes the finished index's size and, while it runs, room for "
        "SQLite's write-ahead log, which holds recent batches again until they are checkpointed: up to "
        f"{EXTRA_PER_INDEX_BYTE:g}x the final size more for a small index, about {EXTRA_AT_MOST >> 20} MiB "
        f"more for a large one{need}. "
        "Free some space or choose another --data-dir, then run the same command again: everything "
        "committed so far is kept."
    )


# Room kept back during a run so that, when the disk fills, the run log can still record how it ended:
# after a failed write SQLite needs room for that one UPDATE's pages in its write-ahead log and index.
RESERVE_BYTES = 96 << 10
RESERVE_FILE = "space-reserve"
_CHUNK = 4096


def write_refused_message(data_dir: Path, writing: str) -> str:
    """What a write of the API (or a feed batch) met on a full disk, and what the client should do."""
    try:
        usage = shutil.disk_usage(data_dir)
        room = f"{_mib(usage.free)} free of {_mib(usage.total)}"
    except OSError:
        room = "free space unknown"
    return (
        f"no space left on device while writing {writing} in {data_dir} ({room}); this batch is not "
        "acknowledged: free some space, then send it again (what was stored before is kept, and an "
        "article already stored is found unchanged). Deleting articles still works."
    )


class SpaceReserve:
    """A small file holding back disk space for the end of a run, given up just before it is needed.

    `name` tells apart the holders that may share a data directory: `isnad index` (the default), the
    server's writer and `isnad watch`, so one giving up its reserve does not take another's."""

    def __init__(self, data_dir: Path, name: str = RESERVE_FILE, size: int = RESERVE_BYTES) -> None:
        self.path = data_dir / name
        self.size = size

    def held(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def hold(self) -> None:
        """Take up to `size` bytes now; on a nearly full disk, whatever is left (the run that follows
        fails soon, and then this is exactly the room it needs to say so)."""
        try:
            with open(self.path, "wb") as reserve:
                for _ in range(-(-self.size // _CHUNK)):
                    reserve.write(bytes(_CHUNK))
                    reserve.flush()
                os.fsync(reserve.fileno())
        except OSError:
            pass  # a partial reserve is kept: it is what there was

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
