"""Process plumbing for the keyword phase: the analysis worker pool and the background reading process."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from indexer.errors import IsnadError
from indexer.ingest import read_walked
from indexer.ingest.files import Entry
from indexer.models import Article, IngestSummary, Problem

IN_FLIGHT_PER_WORKER = 8  # tasks queued per worker: keeps them busy through a tantivy commit
BACKGROUND_READ_BYTES = 4_000_000  # inputs larger than this are read (and cleaned) in their own process
READ_BATCH = 64  # articles per message from the reading process
READER_NAME = "isnad-reader"  # the reading process, among the indexer's children
LOST_ADVICE = (
    "most often it was killed, by hand or by the kernel for want of memory (see `dmesg`); what was "
    "committed is kept: run the same command again to continue"
)


class WorkerLostError(IsnadError):
    """A process of the indexer (an analysis worker or the reader) ended without finishing its work."""


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
    a few files) pay no start-up cost.

    Each worker has its own pipe, and this process alone sends and receives on them, so no hidden
    thread can be left blocked on a pipe: stopping with work in flight (a full disk, Ctrl-C) or a
    worker killed from outside ends at once with the processes killed. The standard library's pools
    hang in those cases: `multiprocessing.Pool.terminate` with tasks in flight (CPython issues 78178,
    96995) and `ProcessPoolExecutor` when a worker is killed while a large task is being fed to it.
    """

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._processes: list[Any] = []
        self._pipes: list[Connection] = []

    def start(self) -> None:
        if self.workers < 2 or self._processes:
            return
        context = process_context()
        for number in range(1, self.workers + 1):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_analysis_worker,
                args=(theirs, [*self._pipes, ours]),
                name=f"isnad-analysis-{number}",
                daemon=True,
            )
            process.start()
            theirs.close()
            self._processes.append(process)
            self._pipes.append(ours)

    def map(self, function: Callable[..., Any], tasks: Iterable[tuple]) -> Iterator[tuple[tuple, Any]]:
        """(task arguments, result) pairs in task order. Tasks go to the workers in turn, so each
        worker's results come back in the order of the whole."""
        if not self._processes:
            for args in tasks:
                yield args, function(*args)
            return
        pending: deque[tuple[tuple, int]] = deque()
        turn = 0
        for args in tasks:
            self._send(turn, (function, args))
            pending.append((args, turn))
            turn = (turn + 1) % len(self._processes)
            if len(pending) >= len(self._processes) * IN_FLIGHT_PER_WORKER:
                done_args, worker = pending.popleft()
                yield done_args, self._receive(worker)
        while pending:
            done_args, worker = pending.popleft()
            yield done_args, self._receive(worker)

    def _send(self, worker: int, message: tuple | None) -> None:
        try:
            self._pipes[worker].send(message)
        except OSError:  # a broken pipe: the worker is gone
            raise self._lost(worker) from None

    def _receive(self, worker: int) -> Any:
        pipe, process = self._pipes[worker], self._processes[worker]
        # Waiting on the process too: a worker that dies never answers.
        wait([pipe, process.sentinel])
        if not pipe.poll():
            raise self._lost(worker)
        try:
            kind, payload = pipe.recv()
        except (EOFError, OSError):
            raise self._lost(worker) from None
        if kind == "error":
            raise RuntimeError(f"analysis failed in {process.name}: {payload}")
        return payload

    def _lost(self, worker: int) -> WorkerLostError:
        process = self._processes[worker]
        process.join(timeout=1)
        return WorkerLostError(
            f"an analysis worker process ({process.name}) stopped unexpectedly "
            f"(exit code {process.exitcode}): {LOST_ADVICE}"
        )

    def close(self, *, terminate: bool = False) -> None:
        """Let the workers finish what they hold and exit; `terminate` kills them instead."""
        if not terminate:
            for pipe in self._pipes:
                try:
                    pipe.send(None)
                except OSError:  # that worker is gone already
                    pass
        for process in self._processes:
            if terminate:
                process.kill()
            process.join()
        for pipe in self._pipes:
            pipe.close()
        self._processes, self._pipes = [], []


def _analysis_worker(pipe: Connection, inherited: list[Connection]) -> None:
    """Body of an analysis worker: tasks (a function and its arguments) until None, each answered in
    order. A thread takes the tasks off the pipe as they come, so the indexer never waits to hand one
    over while this worker is busy, nor this worker to answer while the indexer is handing over."""
    ignore_sigint()
    for other in inherited:  # the indexer's ends, this pipe's and earlier ones': EOF once the indexer dies
        other.close()
    tasks: queue.SimpleQueue = queue.SimpleQueue()

    def take() -> None:
        try:
            while (message := pipe.recv()) is not None:
                tasks.put(message)
        except (EOFError, OSError):  # the indexer is gone
            pass
        tasks.put(None)

    threading.Thread(target=take, daemon=True).start()
    while (task := tasks.get()) is not None:
        function, args = task
        try:
            answer = ("result", function(*args))
        except Exception as error:  # noqa: BLE001 - any failure goes to the indexer, which raises it
            answer = ("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        try:
            pipe.send(answer)
        except OSError:  # the indexer is gone
            return


def _read_worker(walked: list[Entry], out: Connection, indexers_end: Connection) -> None:
    """Body of the reading process: articles in batches, problems as they come, then the counts.

    Sending blocks while the indexer is behind (the pipe's buffer bounds how far reading runs
    ahead), and fails once the indexer is gone, so kill -9 leaves no orphan.
    """
    ignore_sigint()
    indexers_end.close()  # held only by the indexer, its end reads EOF if this process dies mid-message

    def send(message: tuple) -> None:
        try:
            out.send(message)
        except OSError:  # a broken pipe: the indexer is gone
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
    analysis and writing. Iterating yields the articles in the same order as iter_articles.

    A pipe rather than a multiprocessing.Queue: a reader killed while its queue's thread was
    writing leaves `Queue.get` waiting for the rest of the message for good; a pipe whose writer
    died reads EOF."""

    def __init__(self, walked: Sequence[Entry]):
        context = process_context()
        self.messages, theirs = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_read_worker,
            name=READER_NAME,
            daemon=True,
            args=(list(walked), theirs, self.messages),
        )
        self.process.start()
        theirs.close()

    def articles(self, summary: IngestSummary, problem: Callable[[Problem], None]) -> Iterator[Article]:
        return _drain(self.process, self.messages, summary, problem)

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
        self.messages.close()


def _drain(
    reader: Any, messages: Connection, summary: IngestSummary, problem: Callable[[Problem], None]
) -> Iterator[Article]:
    try:
        while True:
            wait([messages, reader.sentinel])
            try:
                kind, payload = messages.recv()
            except (EOFError, OSError):  # it ended, or died mid-message
                reader.join(timeout=1)
                raise WorkerLostError(
                    f"the reading process stopped unexpectedly (exit code {reader.exitcode}): {LOST_ADVICE}"
                ) from None
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
