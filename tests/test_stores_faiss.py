"""The FAISS vector index: exact and HNSW search, allowed sets, deletion, atomic save and reload."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.stores.faiss_index import FaissVectorIndex, sync_vectors
from indexer.stores.ledger import IndexLedger
from indexer.stores.sqlite_docstore import SQLiteDocumentStore

DIM = 16


def vectors(n: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def big_ids(n: int) -> np.ndarray:
    # Passage ids are hashes up to 2**53: make sure large ids (even 63-bit ones) survive every path.
    return (np.arange(1, n + 1, dtype=np.int64) * 7_919_000_000_000_003) % (2**63 - 1)


def exact_top(query: np.ndarray, rows: np.ndarray, ids: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-(rows @ query), kind="stable")[:k]
    return ids[order].tolist()


def test_flat_search_is_exact_and_respects_allowed(tmp_path):
    index = FaissVectorIndex(tmp_path / "v.faiss", DIM)
    rows, ids = vectors(200), big_ids(200)
    index.add(ids, rows)
    query = rows[3]
    hits = index.search(query, 5)
    assert [h.passage_id for h in hits] == exact_top(query, rows, ids, 5)
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    allowed = set(ids[100:150].tolist())
    filtered = index.search(query, 5, allowed=allowed)
    assert [h.passage_id for h in filtered] == exact_top(query, rows[100:150], ids[100:150], 5)
    assert index.search(query, 5, allowed=set()) == []


def test_delete_save_and_reload(tmp_path):
    path = tmp_path / "v.faiss"
    index = FaissVectorIndex(path, DIM)
    rows, ids = vectors(50), big_ids(50)
    index.add(ids, rows)
    index.delete(ids[:10].tolist())
    assert index.count() == 40
    index.save()
    assert not path.with_name("v.faiss.tmp").exists()
    reader = FaissVectorIndex(path, DIM)
    assert reader.count() == 40 and sorted(reader.ids().tolist()) == sorted(ids[10:].tolist())
    assert reader.reload_if_changed() is False
    index.add(big_ids(60)[50:], vectors(10, seed=1))
    index.save()
    assert reader.reload_if_changed() is True and reader.count() == 50


def test_hnsw_above_threshold_deletes_by_rebuilding(tmp_path):
    path = tmp_path / "v.faiss"
    index = FaissVectorIndex(path, DIM, approximate_above=100, hnsw_m=8)
    rows, ids = vectors(300), big_ids(300)
    index.add(ids, rows)
    index.save()  # 300 > 100: rebuilt as HNSW
    assert index.kind == "hnsw"
    hits = index.search(rows[7], 1)
    assert hits[0].passage_id == ids[7]
    index.delete([int(ids[7])])
    assert index.count() == 299
    assert all(h.passage_id != ids[7] for h in index.search(rows[7], 10))  # hidden before the rebuild
    index.save()
    reloaded = FaissVectorIndex(path, DIM, approximate_above=100, hnsw_m=8)
    assert reloaded.kind == "hnsw" and reloaded.count() == 299
    assert ids[7] not in reloaded.ids()
    allowed = set(ids[:20].tolist()) - {int(ids[7])}
    keep = [i for i in range(20) if i != 7]
    filtered = reloaded.search(rows[3], 5, allowed=allowed)
    assert [h.passage_id for h in filtered] == exact_top(rows[3], rows[keep], ids[keep], 5)


def test_sync_brings_the_index_level_with_sqlite(tmp_path):
    from indexer.models import Article
    from indexer.stores.base import StoredPassage

    docs = SQLiteDocumentStore(tmp_path / "documents.sqlite3")
    ledger = IndexLedger(docs)
    text = "واحد اثنان ثلاثة"
    passages = [StoredPassage(int(i), "a", n, text, 0, len(text)) for n, i in enumerate(big_ids(3))]
    docs.put_articles([(Article(id="a", title="t", text=text), "h", passages)])
    ledger.put_embeddings([p.id for p in passages], vectors(3))
    index = FaissVectorIndex(tmp_path / "v.faiss", DIM)
    index.add(np.array([999], dtype=np.int64), vectors(1, seed=5))  # a vector of a deleted passage
    assert sync_vectors(index, ledger) == (3, 1)
    assert sorted(index.ids().tolist()) == sorted(p.id for p in passages)
    assert sync_vectors(index, ledger) == (0, 0)
    docs.close()


def test_wrong_dimension_is_refused(tmp_path):
    index = FaissVectorIndex(tmp_path / "v.faiss", DIM)
    index.add(big_ids(2), vectors(2))
    index.save()
    with pytest.raises(ValueError, match="dimension 16"):
        FaissVectorIndex(tmp_path / "v.faiss", 384)


def test_updates_go_to_a_copy_until_adopted(tmp_path):
    path = tmp_path / "v.faiss"
    served = FaissVectorIndex(path, DIM)
    served.add(big_ids(10), vectors(10))
    copy = served.copy_for_update()
    copy.add(big_ids(20)[10:], vectors(10, seed=3))
    assert served.count() == 10 and copy.count() == 20  # searches in flight never see a half-done add
    served.adopt(copy)
    assert served.count() == 20
    writer = FaissVectorIndex(path, DIM)
    writer.add(big_ids(30), vectors(30, seed=4))
    writer.save()
    fresh = served.copy_for_update()  # another process saved: the copy is the new file
    assert fresh.count() == 30
