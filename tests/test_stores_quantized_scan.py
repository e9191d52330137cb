"""The quantized first pass of a flat FAISS search, on real e5 vectors of real news passages: the lists equal the
exact scan's id for id and score for score, and stay so through deletions, updates, copies and reloads."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from indexer.models import Article
from indexer.passages import split_passages
from indexer.settings import SettingsError, load_settings
from indexer.stores import faiss_index
from indexer.stores.faiss_index import FaissVectorIndex
from indexer.stores.onnx_embedder import OnnxE5Embedder
from indexer.stores.quantized_scan import EXACT, QUANTIZERS, Int8Ranges

ARTICLES = 60  # about 150 passages: a first pass of 2 x 20 candidates really chooses among them


@pytest.fixture(scope="module")
def real(shared_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, passage vectors, query vectors): ANT articles' passages and their titles, embedded by the model
    (its int8 graph, to keep the fixture quick: the vectors' distribution is the model's either way)."""
    source = shared_dir / "corpus" / "news" / "ant_multisource.jsonl.gz"
    if not source.is_file():
        pytest.skip(f"news corpus not found at {source}")
    passages, titles = [], []
    with gzip.open(source, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if number >= ARTICLES:
                break
            record = json.loads(line)
            article = Article(f"ant-{number}", record["title"], record["text"], None, None)
            passages += [p.text for p in split_passages(article) if p.text not in passages]
            titles.append(record["title"])  # copies of a text would tie, and ties may come in either order
    embedder = OnnxE5Embedder(threads=2, precision="int8")
    ids = (np.arange(1, len(passages) + 1, dtype=np.int64) * 7_919_000_000_000_003) % (2**63 - 1)
    return ids, embedder.embed_passages(passages), embedder.embed_queries(titles)


def pair(
    tmp_path: Path, kind: str, ids: np.ndarray, rows: np.ndarray
) -> tuple[FaissVectorIndex, FaissVectorIndex]:
    """The same vectors in an exact index and in one searched through `kind`'s quantized copy."""
    exact = FaissVectorIndex(tmp_path / "exact.faiss", rows.shape[1], scan=EXACT)
    quantized = FaissVectorIndex(tmp_path / f"{kind}.faiss", rows.shape[1], scan=kind, scan_above=0)
    for index in (exact, quantized):
        index.add(ids, rows)
    return exact, quantized


def lists(index: FaissVectorIndex, queries: np.ndarray, limit: int, allowed: set[int] | None = None) -> list:
    return [[(h.passage_id, h.score) for h in index.search(q, limit, allowed=allowed)] for q in queries]


@pytest.mark.parametrize("kind", list(QUANTIZERS))
def test_each_first_pass_gives_the_exact_lists(tmp_path: Path, real, kind: str, monkeypatch) -> None:
    ids, rows, queries = real
    exact, quantized = pair(tmp_path, kind, ids, rows)
    assert (exact.first_pass, quantized.first_pass) == (EXACT, kind)
    for limit in (10, 20):
        assert lists(quantized, queries, limit) == lists(exact, queries, limit)
    # An allowed set: a small one is scored by id, a larger one goes through each index's scan with a
    # selector (the threshold lowered to make this one "larger"); all four ways give the same lists.
    allowed = set(ids[::3].tolist())
    direct = lists(quantized, queries, 10, allowed)
    assert direct == lists(exact, queries, 10, allowed)
    assert {pid for hits in direct for pid, _ in hits} <= allowed
    monkeypatch.setattr(faiss_index, "SCORE_DIRECTLY_UP_TO", 10)
    assert lists(quantized, queries, 10, allowed) == lists(exact, queries, 10, allowed) == direct


def test_an_allowed_passage_without_a_vector_is_left_out(tmp_path: Path, real) -> None:
    ids, rows, queries = real
    exact, quantized = pair(tmp_path, "int8", ids[1:], rows[1:])
    allowed = set(ids[:6].tolist())  # ids[0]: a passage not embedded yet
    found = lists(quantized, queries[:3], 10, allowed)
    assert found == lists(exact, queries[:3], 10, allowed)
    assert all(len(hits) == 5 and int(ids[0]) not in dict(hits) for hits in found)


def test_the_first_pass_alone_is_not_exact_so_the_rescoring_is_what_makes_it(tmp_path: Path, real) -> None:
    """Guards the test above: with no room to re-score (factor 1) 8-bit codes alone do move lists."""
    ids, rows, queries = real
    exact = FaissVectorIndex(tmp_path / "exact.faiss", rows.shape[1], scan=EXACT)
    exact.add(ids, rows)
    codes = faiss.IndexScalarQuantizer(rows.shape[1], QUANTIZERS["sq8"], faiss.METRIC_INNER_PRODUCT)
    codes.train(rows)
    codes.add(rows)
    scores, _ = codes.search(queries, 20)
    truth = np.array([[score for _, score in found] for found in lists(exact, queries, 20)], dtype=np.float32)
    assert not np.array_equal(scores, truth)


def test_the_int8_scan_ranks_by_the_integer_dot_product_of_codes_and_query_weights(real) -> None:
    """FAISS's byte kernel reads the signed codes and the scaled query as the arithmetic in Int8Ranges says."""
    _, rows, queries = real
    ranges = Int8Ranges(rows)
    codes = ranges.codes(rows)
    assert codes.min() >= -128 and codes.max() <= 127 and np.array_equal(codes, np.round(codes))
    scan = faiss.IndexScalarQuantizer(rows.shape[1], QUANTIZERS["int8"], faiss.METRIC_INNER_PRODUCT)
    scan.train(codes)
    scan.add(codes)
    for query in queries[:10]:
        weights = ranges.weights(query)
        assert np.abs(weights).max() == 127
        found, order = scan.search(weights[None, :], 10)
        expected = codes @ weights  # integers below 2**24: exact in float32 whatever the order of the sums
        assert np.array_equal(found[0], np.sort(expected)[::-1][:10])
        assert np.array_equal(expected[order[0]], found[0])


def test_a_vector_outside_the_trained_ranges_is_clipped_yet_scored_exactly(tmp_path: Path, real) -> None:
    ids, rows, queries = real
    exact, quantized = pair(tmp_path, "int8", ids[:-1], rows[:-1])
    outside = -rows[-1]  # added after the ranges were learnt: most components fall outside them
    for index in (exact, quantized):
        index.add(ids[-1:], outside[None, :])
    probes = np.vstack([outside, queries[:5]])
    assert lists(quantized, probes, 10) == lists(exact, probes, 10)
    assert lists(quantized, probes, 1)[0][0][0] == int(ids[-1])


def test_deletions_updates_copies_and_reloads_keep_the_copy_level(tmp_path: Path, real) -> None:
    ids, rows, queries = real
    exact, quantized = pair(tmp_path, "int8", ids, rows)
    # Delete every fifth passage, then update another: its old vector out, a new one in.
    gone = ids[::5].tolist()
    changed, new_vector = int(ids[1]), rows[1] + queries[0]
    new_vector /= np.linalg.norm(new_vector)
    for index in (exact, quantized):
        index.delete(gone)
        index.delete([changed])
        index.add(np.array([changed]), new_vector[None, :])
    assert quantized.count() == exact.count() == len(ids) - len(gone)
    found = lists(quantized, queries, 20)
    assert found == lists(exact, queries, 20)
    assert not {pid for hits in found for pid, _ in hits} & set(gone)
    updated = {pid: score for pid, score in lists(quantized, new_vector[None, :], 5)[0]}
    assert updated[changed] == pytest.approx(1.0, abs=1e-5)  # the passage now has its new vector
    # A served index's refresh: changes go to a copy, then the copy is adopted.
    copy = quantized.copy_for_update()
    copy.delete([int(ids[3])])
    assert quantized.count() == exact.count()  # the served one is untouched until it adopts
    quantized.adopt(copy)
    exact.delete([int(ids[3])])
    assert lists(quantized, queries, 20) == lists(exact, queries, 20)
    # Saved and read back: the file is the plain flat index, and the copy is derived again at load.
    quantized.save()
    read: Any = faiss.read_index(str(quantized.path))  # kept: it owns what the downcasts point into
    stored: Any = faiss.downcast_index(read)
    assert isinstance(stored, faiss.IndexIDMap2)
    assert isinstance(faiss.downcast_index(stored.index), faiss.IndexFlatIP)
    reloaded = FaissVectorIndex(quantized.path, rows.shape[1], scan="int8", scan_above=0)
    assert reloaded.first_pass == "int8"
    assert lists(reloaded, queries, 20) == lists(exact, queries, 20)


def test_the_copy_appears_once_the_index_outgrows_the_threshold_and_not_before(tmp_path: Path, real) -> None:
    ids, rows, queries = real
    index = FaissVectorIndex(tmp_path / "v.faiss", rows.shape[1], scan="int8", scan_above=100)
    exact = FaissVectorIndex(tmp_path / "e.faiss", rows.shape[1], scan=EXACT)
    index.add(ids[:100], rows[:100])
    assert index.first_pass == EXACT  # 100 vectors: the fp32 scan is cheap
    index.add(ids[100:], rows[100:])
    exact.add(ids, rows)
    assert index.first_pass == "int8"
    assert lists(index, queries, 20) == lists(exact, queries, 20)
    index.delete(ids[50:].tolist())
    assert index.first_pass == EXACT


def test_bad_scan_settings_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"vectors.scan must be one of int8, sq8, .*none"):
        load_settings(overrides={"vectors.scan": "pq"}, environ={})
    with pytest.raises(SettingsError, match="vectors.scan must be one of"):
        FaissVectorIndex(tmp_path / "v.faiss", 8, scan="pq")
    with pytest.raises(SettingsError, match="vectors.rescore_factor must be at least 1, got 0.5"):
        FaissVectorIndex(tmp_path / "v.faiss", 8, rescore_factor=0.5)
