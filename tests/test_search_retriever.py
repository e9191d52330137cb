"""The retriever ranks light candidates (passage id, article id/source/date) and loads text only for those shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from paragraphs import passages_of

from indexer.analysis import analyze, analyze_exact
from indexer.models import Article
from indexer.settings import load_settings
from indexer.stores.base import ArticleRef
from indexer.stores.sqlite_docstore import SQLiteDocumentStore
from indexer.stores.tantivy_index import TantivyKeywordIndex
from retrieval.query import parse_query
from retrieval.search import Filters, Retriever, group_by_article, sort_by_date, source_facets

ARTICLES = [
    Article(
        "a:1",
        "النفط في الرياض",
        "ارتفعت أسعار النفط في الرياض.\n\nوقال وزير النفط إن الإنتاج ثابت.",
        "bbc",
        "2018-02-18T10:00:00Z",
    ),
    Article("a:2", "قمة الخليج", "ناقشت القمة أسعار النفط والاستثمار.", "cnn", "2018-03-01T08:00:00Z"),
    Article(
        "a:3", "أسواق", "تراجعت أسعار النفط بعد قرار أوبك.\n\nوتترقب الأسواق القمة المقبلة.", "bbc", None
    ),
]


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[SimpleNamespace]:
    """The real document store and keyword index (keyword mode needs no vectors or embedder)."""
    docs = SQLiteDocumentStore(tmp_path / "documents.sqlite3")
    keyword = TantivyKeywordIndex(tmp_path / "keyword")
    docs.put_articles([(a, f"h-{a.id}", passages_of(a)) for a in ARTICLES])
    keyword.add([p for a in ARTICLES for p in passages_of(a)], {a.id: a for a in ARTICLES})
    keyword.commit()
    yield SimpleNamespace(docs=docs, keyword=keyword)
    keyword.close()
    docs.close()


def retriever(stores: SimpleNamespace) -> Retriever:
    return Retriever(stores, load_settings(), analyze, analyze_exact)


def test_candidates_carry_article_refs_and_load_fills_in_text_in_order(stores: SimpleNamespace) -> None:
    found = retriever(stores).retrieve(parse_query("النفط"), "keyword", Filters())
    assert {c.passage for c in found.candidates} == {
        p.id for a in ARTICLES for p in passages_of(a) if "النفط" in p.text
    }
    assert all(isinstance(c.article, ArticleRef) for c in found.candidates)
    articles = group_by_article(found.candidates)
    assert sorted(c.article.id for c in articles) == ["a:1", "a:2", "a:3"]
    assert [c.article.id for c in sort_by_date(articles)] == ["a:2", "a:1", "a:3"]  # undated last
    assert source_facets(articles) == [{"value": "bbc", "count": 2}, {"value": "cnn", "count": 1}]

    loaded = retriever(stores).load(articles)
    assert [c.passage.id for c in loaded] == [c.passage for c in articles]
    assert [c.score for c in loaded] == [c.score for c in articles]
    by_id = {a.id: a for a in ARTICLES}
    for candidate in loaded:
        assert candidate.article == by_id[candidate.passage.article_id]
        assert "النفط" in candidate.passage.text


def test_excluded_word_removes_whole_articles_and_facets_ignore_the_source_filter(
    stores: SimpleNamespace,
) -> None:
    found = retriever(stores).retrieve(parse_query("النفط -أوبك"), "keyword", Filters(sources=("bbc",)))
    # a:3's other passage mentions أوبك: the whole article goes, not just that passage.
    assert {c.article.id for c in found.candidates} == {"a:1"}
    assert source_facets(group_by_article(found.facet_candidates)) == [
        {"value": "bbc", "count": 1},
        {"value": "cnn", "count": 1},
    ]


def test_a_passage_deleted_after_retrieval_is_left_out_of_the_page(stores: SimpleNamespace) -> None:
    search = retriever(stores)
    articles = group_by_article(search.retrieve(parse_query("النفط"), "keyword", Filters()).candidates)
    stores.docs.delete_articles(["a:2"])
    assert [c.article.id for c in search.load(articles)] == [
        c.article.id for c in articles if c.article.id != "a:2"
    ]
    assert search.load([]) == []
