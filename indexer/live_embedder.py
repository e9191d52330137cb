"""The background worker of `isnad serve` that embeds passages written through the API (and any others left
without a vector), so they become semantically searchable a few seconds after the keyword index has them."""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.live_writer import ArticleWriter, WritesBusyError

log = logging.getLogger("isnad.embedding")

IDLE_POLL_SECONDS = 30.0  # without a wake-up, look for passages without vectors this often
BUSY_BACKOFF_SECONDS = 5.0  # `isnad index` holds the lock: it embeds everything itself meanwhile
FAILURE_BACKOFF_SECONDS = 30.0
PUBLISH_SECONDS = 5.0  # how often readers are told about new vectors while a backlog is embedded
LOCK_WAIT_SECONDS = 5.0  # for committing a computed batch of vectors
# Held while one serving process embeds a backlog, so a server's other workers (`server.workers`) do not
# embed the same passages at the same time; one that finds it taken looks again after BUSY_BACKOFF_SECONDS.
TURN_FILE = "embedding.lock"


@dataclass(slots=True)
class EmbeddingProgress:
    """What `GET /api/v1/stats` shows of the worker."""

    state: str = "starting"  # starting, idle, embedding, waiting (another writer or worker), failed
    embedded: int = 0  # passages embedded by this server since it started
    batches: int = 0
    last_error: str | None = None
    updated: float = 0.0  # time.time() of the last change


class BackgroundEmbedder:
    """One daemon thread: embeds batches outside the write lock and commits each batch under it."""

    def __init__(self, writer: ArticleWriter, embedder: Callable[[], Any], batch_size: int):
        self.writer = writer
        self.embedder = embedder  # called in the worker: loading a model takes a moment
        self.batch_size = max(1, batch_size)
        self.progress = EmbeddingProgress()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="isnad-embedder", daemon=True)
        # The documents file's stamp when a look found no passage without a vector: while it holds, no
        # commit has happened since, so there is nothing new to embed and the look is not repeated. On the
        # bench index that query reads every stored vector's page, 0.3-0.4 s of CPU, every IDLE_POLL_SECONDS
        # of a serving process.
        self._idle_stamp: object = None

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """New passages were stored: embed them now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        return {
            "state": self.progress.state,
            "embedded": self.progress.embedded,
            "batches": self.progress.batches,
            "pending": self.writer.pending_vectors(),
            "last_error": self.progress.last_error,
        }

    def _set(self, state: str, error: str | None = None) -> None:
        self.progress.state, self.progress.updated = state, time.time()
        if error is not None:
            self.progress.last_error = error

    def _run(self) -> None:
        try:
            self.writer.catch_up()  # what a crash left out of the keyword index, before any vector
        except WritesBusyError:
            pass  # `isnad index` is running: it catches up itself
        except Exception as error:  # a broken store must not kill the server; it is reported
            log.exception("keyword catch-up failed")
            self._set("failed", f"{type(error).__name__}: {error}")
        while not self._stop.is_set():
            pause = self._embed_backlog()
            self._wake.wait(pause)
            self._wake.clear()

    def _embed_backlog(self) -> float:
        """Embed until no passage lacks a vector; returns how long to wait before looking again."""
        try:
            stamp = self.writer.ledger.db.stamp()
            if stamp == self._idle_stamp:
                self._set("idle")
                return IDLE_POLL_SECONDS
            # Busy when another worker of this server embeds (WritesBusyError, as when `isnad index` holds
            # the write lock): it stores what this one would, and this one looks again shortly.
            with self._turn():
                self._embed_pending(stamp)
            self._set("idle")
            return IDLE_POLL_SECONDS
        except WritesBusyError:
            self._set("waiting")
            return BUSY_BACKOFF_SECONDS
        except Exception as error:  # reported in stats and the log; retried later
            log.exception("background embedding failed")
            self._set("failed", f"{type(error).__name__}: {error}")
            return FAILURE_BACKOFF_SECONDS

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """This process's turn to embed the backlog, or WritesBusyError when another has it; closing the
        file gives it back."""
        with open(self.writer.data_dir / TURN_FILE, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WritesBusyError(
                    f"another server process embeds the passages of {self.writer.data_dir}"
                ) from None
            yield

    def _embed_pending(self, stamp: object) -> None:
        """Embed and store every passage without a vector as of `stamp`, telling readers as it goes."""
        last_publish = time.monotonic()
        dirty = False
        # A cursor, so a passage whose vector cannot be stored is not retried forever.
        after: int | None = None
        while not self._stop.is_set():
            batch = self.writer.ledger.passages_to_embed(self.batch_size, after)
            if not batch:
                if after is None:  # nothing at all to embed as of `stamp`
                    self._idle_stamp = stamp
                break
            self._set("embedding")
            ids = [pid for pid, _ in batch]
            after = ids[-1]
            vectors = np.asarray(
                self.embedder().embed_passages([text for _, text in batch]), dtype=np.float32
            )
            self.writer.put_embeddings(ids, vectors, LOCK_WAIT_SECONDS)
            dirty = True
            self.progress.embedded += len(batch)
            self.progress.batches += 1
            if time.monotonic() - last_publish >= PUBLISH_SECONDS:
                self.writer.publish(locked=False)
                last_publish, dirty = time.monotonic(), False
        if dirty:
            self.writer.publish(locked=False)
