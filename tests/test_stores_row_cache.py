"""Rows a search reads by id are kept in memory (indexer/stores/row_cache.py) and never outlive a change to
their SQLite file: the reader sees another connection's commit, and its own writes, on the next read."""

from __future__ import annotations

from dataclasses import replace

import pytest
from paragraphs import passages_of

from indexer.grouping.fingerprint import band_keys, signature
from indexer.grouping.store import GroupStore
from indexer.models import Article
from indexer.stores.base import ArticleRef
from indexer.stores.row_cache import RowCache
from indexer.stores.sqlite_docstore import SQLiteDocumentStore

TWO = Article(
    "bbc:1", "خبر أول", "الفقرة الأولى عن الاقتصاد.\n\nالفقرة الثانية عن السياسة.", "bbc", "2018-02-18"
)
ONE = Article("cnn:2", "خبر ثان", "فقرة واحدة عن الرياضة.", "cnn", "2018-02-19")


@pytest.fixture
def stores(tmp_path):
    """A server's reader and an indexer's writer: two connections to one documents.sqlite3."""
    writer = SQLiteDocumentStore(tmp_path / "documents.sqlite3")
    writer.put_articles([(a, a.id, passages_of(a)) for a in (TWO, ONE)])
    reader = SQLiteDocumentStore(tmp_path / "documents.sqlite3")
    yield reader, writer
    reader.close()
    writer.close()


def ids_of(store: SQLiteDocumentStore, article_id: str) -> list[int]:
    return [p.id for p in store.article_passages(article_id)]


def test_a_commit_by_another_connection_is_seen_at_the_next_read(stores) -> None:
    reader, writer = stores
    first = ids_of(reader, "bbc:1")
    assert reader.passage_counts(["bbc:1", "cnn:2"]) == {"bbc:1": 2, "cnn:2": 1}
    assert reader.passage_articles(first) == dict.fromkeys(first, ArticleRef("bbc:1", "bbc", "2018-02-18"))

    longer = replace(TWO, text=TWO.text + "\n\nفقرة ثالثة عن الطقس.", source="reuters")
    writer.put_articles([(longer, "changed", passages_of(longer))])
    writer.delete_articles(["cnn:2"])

    assert reader.passage_counts(["bbc:1", "cnn:2"]) == {"bbc:1": 3}
    now = ids_of(reader, "bbc:1")
    assert reader.passage_articles(now) == dict.fromkeys(now, ArticleRef("bbc:1", "reuters", "2018-02-18"))


def test_the_readers_own_writes_are_seen_at_the_next_read(stores) -> None:
    reader, _ = stores
    assert reader.passage_counts(["cnn:2"]) == {"cnn:2": 1}
    passage = ids_of(reader, "cnn:2")[0]
    assert reader.passage_articles([passage])[passage].source == "cnn"
    reader.delete_articles(["cnn:2"])
    assert reader.passage_counts(["cnn:2"]) == {}
    assert reader.passage_articles([passage]) == {}


def test_only_ids_not_cached_are_fetched_and_unknown_ids_stay_absent() -> None:
    asked: list[list[int]] = []

    def fetch(keys: list[int]) -> dict[int, str]:
        asked.append(keys)
        return {k: f"v{k}" for k in keys if k < 100}

    cache: RowCache[int, str] = RowCache(lambda: (1, 0), fetch)
    assert cache.get_many([3, 1, 3, 500]) == {3: "v3", 1: "v1"}
    assert cache.get_many([1, 2, 500]) == {1: "v1", 2: "v2"}
    assert asked == [[3, 1, 500], [2, 500]]


def test_a_full_cache_starts_again_rather_than_grow() -> None:
    cache: RowCache[int, int] = RowCache(lambda: (1, 0), lambda keys: {k: k for k in keys}, max_entries=3)
    assert cache.get_many([1, 2]) == {1: 1, 2: 2}
    assert cache.get_many([3, 4]) == {3: 3, 4: 4}  # would be 4 entries: only this read's are kept
    assert len(cache._entries) == 2


def test_a_read_that_fills_the_cache_still_returns_its_cached_keys() -> None:
    cache: RowCache[int, int] = RowCache(lambda: (1, 0), lambda keys: {k: -k for k in keys}, max_entries=3)
    assert cache.get_many([1, 2]) == {1: -1, 2: -2}
    assert cache.get_many([4, 1, 3]) == {4: -4, 1: -1, 3: -3}  # 1 was cached when the cache started again
    assert sorted(cache._entries) == [1, 3, 4]


def test_rows_preloaded_at_start_answer_alone_and_a_later_commit_drops_them(stores) -> None:
    reader, writer = stores
    first = ids_of(reader, "bbc:1")
    fetched: list[object] = []
    for cache in (reader._refs, reader._counts):  # record what the caches still ask SQLite for
        cache._fetch = lambda keys, read=cache._fetch: fetched.append(keys) or read(keys)
    assert reader.preload_rows()
    assert reader.passage_articles(first) == dict.fromkeys(first, ArticleRef("bbc:1", "bbc", "2018-02-18"))
    assert reader.passage_counts(["bbc:1", "cnn:2", "x"]) == {"bbc:1": 2, "cnn:2": 1}
    assert fetched == [["x"]]  # only the unknown id was asked of SQLite: the rest came from the preload

    writer.delete_articles(["cnn:2"])
    assert reader.passage_counts(["cnn:2"]) == {}  # the commit dropped the preloaded rows: asked again
    assert fetched == [["x"], ["cnn:2"]]


def test_a_preload_beyond_the_caches_bound_keeps_nothing() -> None:
    cache: RowCache[int, int] = RowCache(lambda: (1, 0), lambda keys: {k: k for k in keys}, max_entries=3)
    assert cache.get_many([1]) == {1: 1}
    asked: list[int] = []
    assert not cache.fill(lambda limit: asked.append(limit) or {k: k for k in range(10)})
    assert asked == [4] and cache.get_many([1]) == {1: 1}
    assert cache.fill(lambda limit: {7: 70, 8: 80}) and cache._entries == {7: 70, 8: 80}


def test_group_rows_follow_the_indexers_commits(tmp_path) -> None:
    writer = GroupStore(tmp_path)
    sign = signature(["الفقرة", "الأولى", "عن", "الاقتصاد"])
    row = ("bbc:1", "bbc", "2018-02-18", 1518912000, sign, (1, 2), "bbc:1", 1.0)
    with writer.transaction() as batch:
        batch.add_many([row], [band_keys(sign)])
    reader = GroupStore.open_reader(tmp_path)
    assert reader is not None
    try:
        assert reader.rows(["bbc:1", "x"])["bbc:1"].story is None
        with writer.transaction() as batch:
            batch.set_stories([("bbc:1", "story-1", b"", "اقتصاد")])
        assert reader.rows(["bbc:1"])["bbc:1"].story == "story-1"
        assert reader.preload_rows() and list(reader._row_cache._entries) == ["bbc:1"]
        assert reader.rows(["bbc:1", "x"])["bbc:1"].story == "story-1"
        with writer.transaction() as batch:
            batch.forget(["bbc:1"])
        assert reader.rows(["bbc:1"]) == {}
    finally:
        reader.close()
        writer.close()
