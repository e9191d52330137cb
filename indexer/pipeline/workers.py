"""Process plumbing for the keyword phase: the analysis worker pool and the background reading process."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from indexer.ingest import read_walked
from indexer.ingest.files import Entry
from indexer.models import Article, IngestSummary, Problem

IN_FLIGHT_PER_WORKER = 8  # tasks queued per worker: keeps them busy through a tantivy commit
BACKGROUND_READ_BYTES = 4_000_000  # inputs larger than this are read (and cleaned) in their own process
READ_BATCH = 64  # articles per message from the reading process


def ignore_sigint() -> None:
    # Ctrl-C is handled by the main process, which commits what is done and stops the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def process_context() -> Any:
    """Worker processes are forked, before the stores open: forking is fast and works whatever the
    caller's __main__ is (spawn re-imports it, which fails for `python - < script`), and at that
    point no thread that could hold a lock exists yet (tantivy's writer threads start later)."""
    return multiprocessing.get_context("fork")


class Workers:
    """Order-preserving, bounded parallel map over worker processes, or inline when not started.

    The indexer starts the pool only for large inputs or a large catch-up, so small inputs (tests,
    a few files) pay no start-up cost. It is a `ProcessPoolExecutor` rather than a
    `multiprocessing.Pool`: stopping a Pool with work in flight (`terminate`, on a full disk or
    Ctrl-C) can hang for good (CPython issues 78178, 96995), and a Pool whose worker dies never
    answers `get`, where the executor raises BrokenProcessPool.
    """

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self.workers > 1 and self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=process_context(), initializer=ignore_sigint
            )
            # A fork-context executor forks all its workers at its first submit: do it now, while
            # this is the only thread (see process_context).
            self._pool.submit(int).result()

    def map(self, function: Callable[..., Any], tasks: Iterable[tuple]) -> Iterator[tuple[tuple, Any]]:
        """(task arguments, result) pairs in task order."""
        pending: deque[tuple[tuple, Future]] = deque()
        first = True
        for args in tasks:
            if self._pool is None or first:
                first = False
                yield args, function(*args)
                continue
            pending.append((args, self._pool.submit(function, *args)))
            if len(pending) >= self.workers * IN_FLIGHT_PER_WORKER:
                done_args, result = pending.popleft()
                yield done_args, result.result()
        while pending:
            done_args, result = pending.popleft()
            yield done_args, result.result()

    def close(self, *, terminate: bool = False) -> None:
        """Wait for the workers to finish; `terminate` drops the tasks not yet started first (the
        ones running end within a batch's time)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=terminate)
            self._pool = None


def _read_worker(walked: list[Entry], out: Any, parent: int) -> None:
    """Body of the reading process: articles in batches, problems as they come, then the counts.

    Exits by itself when the indexer dies (kill -9 leaves no orphan blocked on a full queue).
    """
    ignore_sigint()

    def send(message: tuple) -> None:
        while True:
            try:
                out.put(message, timeout=1.0)
                return
            except queue.Full:
                if os.getppid() != parent:
                    os._exit(1)

    summary = IngestSummary()
    try:
        batch: list[Article] = []
        for article in read_walked(walked, summary, lambda problem: send(("problem", problem))):
            batch.append(article)
            if len(batch) >= READ_BATCH:
                send(("articles", batch))
                batch = []
        if batch:
            send(("articles", batch))
        send(("done", summary))
    except Exception as error:  # noqa: BLE001 - any failure goes to the parent, which raises it
        send(("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))


class BackgroundReader:
    """iter_articles in a separate process, started at once, so reading and cleaning overlap with
    analysis and writing. Iterating yields the articles in the same order as iter_articles."""

    def __init__(self, walked: Sequence[Entry]):
        context = process_context()
        self.messages = context.Queue(maxsize=32)  # bounded: reading never runs far ahead of writing
        self.process = context.Process(
            target=_read_worker, daemon=True, args=(list(walked), self.messages, os.getpid())
        )
        self.process.start()

    def articles(self, summary: IngestSummary, problem: Callable[[Problem], None]) -> Iterator[Article]:
        return _drain(self.process, self.messages, summary, problem)

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()


def _drain(
    reader: Any, messages: Any, summary: IngestSummary, problem: Callable[[Problem], None]
) -> Iterator[Article]:
    try:
        while True:
            try:
                kind, payload = messages.get(timeout=1.0)
            except queue.Empty:
                if not reader.is_alive():
                    raise RuntimeError(
                        f"the reading process stopped unexpectedly (exit code {reader.exitcode})"
                    )
                continue
            if kind == "articles":
                yield from payload
            elif kind == "problem":
                problem(payload)
            elif kind == "done":
                summary.read += payload.read
                for reason, count in payload.skipped.items():
                    summary.skipped[reason] = summary.skipped.get(reason, 0) + count
                for reason, count in payload.noted.items():
                    summary.noted[reason] = summary.noted.get(reason, 0) + count
                return
            else:
                raise RuntimeError(f"reading failed: {payload}")
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()


def estimate_articles(walked: Sequence[Entry]) -> int:
    """About how many articles the inputs hold, for progress bars: the lines of JSON-lines files
    (one article each), one per other file (a scraped page may hold a few)."""
    from indexer.ingest import files

    total = 0
    for path, kind, missing in walked:
        if missing or kind is None:
            continue
        if kind != "jsonl":
            total += 1
            continue
        try:
            with files.open_binary(path) as handle:
                while chunk := handle.read(1 << 20):
                    total += chunk.count(b"\n")
        except files.READ_ERRORS:
            total += 1
    return total


def input_bytes(walked: Sequence[Entry]) -> int:
    """Bytes of the files the readers will open (broken links are theirs to report)."""
    total = 0
    for path, kind, missing in walked:
        if missing or kind is None:
            continue
        try:
            total += path.stat().st_size
        except OSError:  # gone since the walk: the reader reports it
            pass
    return total


def read_articles(
    walked: Sequence[Entry],
    summary: IngestSummary,
    problem: Callable[[Problem], None],
    reader: BackgroundReader | None = None,
) -> Iterator[Article]:
    """Articles from the walked files: from the background reader when one was started for them."""
    if reader is not None:
        return reader.articles(summary, problem)
    return read_walked(walked, summary, problem)


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def worker_count(requested: int) -> int:
    return requested if requested > 0 else (os.cpu_count() or 1)
