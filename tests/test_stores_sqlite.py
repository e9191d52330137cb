"""The SQLite document store and the indexing ledger beside it: articles and passages in and out,
replacement, deletion, bookkeeping."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from paragraphs import passages_of

from indexer.models import Article
from indexer.stores.base import ArticleRef, StoredPassage
from indexer.stores.ledger import IndexLedger
from indexer.stores.sqlite_docstore import PASSAGE_ARTICLES_SELECT, SQLiteDocumentStore


def article(article_id: str, text: str, **fields) -> Article:
    return Article(id=article_id, title=fields.pop("title", f"عنوان {article_id}"), text=text, **fields)


@pytest.fixture
def store(tmp_path):
    docs = SQLiteDocumentStore(tmp_path / "documents.sqlite3")
    yield docs
    docs.close()


@pytest.fixture
def ledger(store):
    return IndexLedger(store)  # the same connection


def test_put_and_get_round_trip(store):
    first = article(
        "a1",
        "الفقرة الأولى عن الاقتصاد.\n\nالفقرة الثانية عن السياسة.",
        source="BBC",
        published="2018-02-18T21:35:43+04:00",
        url="http://x/1",
        author="كاتب",
        category="اقتصاد",
    )
    store.put_articles([(first, "h1", passages_of(first))])
    assert store.get_articles(["a1", "missing"]) == {"a1": first}
    stored = store.article_passages("a1")
    assert [p.text for p in stored] == ["الفقرة الأولى عن الاقتصاد.", "الفقرة الثانية عن السياسة."]
    assert all(first.text[p.start : p.end] == p.text for p in stored)
    assert store.get_passages([stored[1].id, 123]) == {stored[1].id: stored[1]}
    assert store.article_hashes(["a1", "b"]) == {"a1": "h1"}
    assert (store.count_articles(), store.count_passages()) == (1, 2)
    assert store.sources() == [("BBC", 1)]


def test_passage_articles_read_through_the_listing_index(store):
    items = [
        article("a1", "أولى.\n\nثانية.", source="BBC", published="2018-02-18 10:00:00"),
        article("a2", "ثالثة."),
    ]
    store.put_articles([(item, f"h{i}", passages_of(item)) for i, item in enumerate(items)])
    first, second = passages_of(items[0])
    (third,) = passages_of(items[1])
    found = store.passage_articles([first.id, second.id, third.id, 99])
    assert found == {
        first.id: ArticleRef("a1", "BBC", "2018-02-18 10:00:00"),
        second.id: ArticleRef("a1", "BBC", "2018-02-18 10:00:00"),
        third.id: ArticleRef("a2"),
    }
    assert found[first.id] is found[second.id]  # one ref per article, however many of its passages
    # Only the covering index is read, never the article rows with their bodies.
    plan = store.db.query(f"EXPLAIN QUERY PLAN {PASSAGE_ARTICLES_SELECT} WHERE p.id IN (?, ?)", (1, 2))
    assert "USING COVERING INDEX articles_listing" in " ".join(str(row[-1]) for row in plan)


def test_passage_text_not_a_slice_of_the_body_is_kept(store):
    item = article("a1", "نص المقال")
    odd = StoredPassage(7, "a1", 0, "نص آخر", 0, 3)
    store.put_articles([(item, "h", [odd])])
    assert store.get_passages([7])[7].text == "نص آخر"


def test_replacing_an_article_replaces_passages_and_keeps_surviving_embeddings(store, ledger):
    old = article("a1", "فقرة ثابتة.\n\nفقرة ستتغير.")
    old_passages = passages_of(old)
    store.put_articles([(old, "h1", old_passages)])
    ledger.put_embeddings([p.id for p in old_passages], np.ones((2, 4), dtype=np.float32))
    new = article("a1", "فقرة ثابتة.\n\nفقرة جديدة تماما.")
    new_passages = passages_of(new)
    store.put_articles([(new, "h2", new_passages)])
    assert [p.text for p in store.article_passages("a1")] == ["فقرة ثابتة.", "فقرة جديدة تماما."]
    assert store.count_passages() == 2
    # The unchanged first paragraph keeps its id and its vector; the changed one needs embedding.
    assert set(ledger.embedding_ids().tolist()) == {new_passages[0].id}
    assert [pid for pid, _ in ledger.passages_to_embed(10)] == [new_passages[1].id]
    assert ledger.keyword_pending_ids() == ["a1"]


def test_delete_removes_everything_and_queues_keyword_deletion(store, ledger):
    items = [article(f"a{i}", f"نص رقم {i}.\n\nتتمة {i}.") for i in range(3)]
    store.put_articles([(item, f"h{i}", passages_of(item)) for i, item in enumerate(items)])
    ids = [p.id for p in passages_of(items[1])]
    ledger.put_embeddings(ids, np.zeros((2, 4), dtype=np.float32))
    removed = store.delete_articles(["a1", "nope"])
    assert sorted(removed) == sorted(ids)
    assert store.count_articles() == 2 and store.count_passages() == 4
    assert store.count_embeddings() == 0
    assert ledger.pending_keyword_deletes() == ["a1"]
    ledger.clear_keyword_deletes(["a1"])
    assert ledger.pending_keyword_deletes() == []


def test_keyword_state_follows_the_hash(store, ledger):
    item = article("a1", "نص.")
    store.put_articles([(item, "h1", passages_of(item))])
    ledger.mark_keyword_done([("a1", "old-hash")])  # a stale mark must not count
    assert ledger.count_keyword_pending() == 1
    ledger.mark_keyword_done([("a1", "h1")])
    assert ledger.count_keyword_pending() == 0
    ledger.reset_keyword_state()
    assert ledger.keyword_pending_ids() == ["a1"]


def test_embeddings_round_trip_and_pagination(store, ledger):
    item = article("a1", "\n\n".join(f"فقرة {i}." for i in range(5)))
    passages = passages_of(item)
    store.put_articles([(item, "h", passages)])
    first = ledger.passages_to_embed(2)
    assert len(first) == 2 and first == sorted(first)
    rest = ledger.passages_to_embed(10, after=first[-1][0])
    assert len(rest) == 3
    vectors = np.arange(20, dtype=np.float32).reshape(5, 4)
    ids = [p.id for p in passages]
    ledger.put_embeddings(ids, vectors)
    found_ids, found = store.get_embeddings(ids[::-1], 4)
    by_id = dict(zip(found_ids.tolist(), found.tolist(), strict=True))
    assert by_id == {pid: vectors[i].tolist() for i, pid in enumerate(ids)}
    assert store.count_embeddings() == 5 and ledger.passages_to_embed(10) == []


def test_passage_ids_matching_filters_by_source_and_inclusive_dates(store):
    rows = [
        ("a", "BBC", "2018-02-01T10:00:00+00:00"),
        ("b", "CNN", "2018-02-02T23:30:00+00:00"),
        ("c", "BBC", "2018-02-03T00:00:00+00:00"),
        ("d", "BBC", None),
    ]
    ids = {}
    for article_id, source, published in rows:
        item = article(article_id, f"نص {article_id}.", source=source, published=published)
        passages = passages_of(item)
        ids[article_id] = passages[0].id
        store.put_articles([(item, "h", passages)])
    assert store.passage_ids_matching(sources=["BBC"]) == {ids["a"], ids["c"], ids["d"]}
    assert store.passage_ids_matching(date_from="2018-02-02", date_to="2018-02-02") == {ids["b"]}
    assert store.passage_ids_matching(sources=["BBC"], date_to="2018-02-03") == {ids["a"], ids["c"]}
    with pytest.raises(ValueError, match="not an ISO 8601"):
        store.passage_ids_matching(date_from="yesterday")


def test_reads_from_many_threads(store):
    item = article("a1", "نص.\n\nنص آخر.")
    store.put_articles([(item, "h", passages_of(item))])
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(200):
                assert len(store.article_passages("a1")) == 2
        except AssertionError as error:  # collected for the main thread
            errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
