"""One contract for every store backend: the same document-store and keyword-index assertions, run on the
embedded backend (SQLite + tantivy) and on a real engine node: ISNAD_ES_URL's server when set, else the
OpenSearch node the session starts (tests/es_server.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from es_server import Engine, drop_indices

from indexer.analysis import analyze_exact_terms, analyze_terms
from indexer.models import Article
from indexer.stores.base import (
    ArticleRef,
    DocumentStore,
    KeywordIndex,
    KeywordQuery,
    StoredPassage,
    passage_id,
)

ARTICLES = [
    Article(
        "bbc:1",
        "قمة الرياض الاقتصادية",
        "انعقدت القمة الاقتصادية في الرياض بحضور قادة الخليج.\n\nوناقش القادة أسعار النفط والاستثمار.",
        "bbc",
        "2018-02-18T10:00:00Z",
        "http://example.org/bbc/1",
        "مراسل",
        "اقتصاد",
    ),
    Article(
        "cnn:2",
        "مباراة الهلال والنصر",
        "فاز الهلال على النصر في مباراة مثيرة في الرياض.\n\nوسجل المهاجم هدفين في الشوط الثاني.",
        "cnn",
        "2018-02-18T23:30:00Z",
        "http://example.org/cnn/2",
        None,
        "رياضة",
    ),
    Article(
        "f24:3",
        "أسعار النفط",
        "ارتفعت أسعار النفط بعد قرار أوبك خفض الإنتاج.\n\nوقال محللون إن الأسواق تترقب القمة المقبلة.",
        "france24",
        None,
        None,
        None,
        None,
    ),
]


def passages_of(article: Article) -> list[StoredPassage]:
    """The article's paragraphs as passages, with their offsets in the body."""
    passages, start = [], 0
    for ordinal, paragraph in enumerate(article.text.split("\n\n")):
        begin = article.text.index(paragraph, start)
        passages.append(
            StoredPassage(
                passage_id(article.id, ordinal, paragraph),
                article.id,
                ordinal,
                paragraph,
                begin,
                begin + len(paragraph),
            )
        )
        start = begin + len(paragraph)
    return passages


@dataclass
class Backend:
    name: str
    docs: Any
    keyword: Any

    def put(self, articles: list[Article]) -> None:
        items = [(a, f"hash-{a.id}-{len(a.text)}", passages_of(a)) for a in articles]
        self.docs.put_articles(items)
        if self.name == "embedded":  # SQLite holds the text; tantivy gets the replaced article anew
            self.keyword.delete_articles([a.id for a in articles])
        self.keyword.add([p for _, _, group in items for p in group], {a.id: a for a in articles})
        self.keyword.commit()

    def delete(self, article_ids: list[str]) -> list[int]:
        removed = self.docs.delete_articles(article_ids)
        self.keyword.delete_articles(article_ids)
        self.keyword.commit()
        return removed


def open_embedded(path: Path) -> Backend:
    from indexer.stores.sqlite_docstore import SQLiteDocumentStore
    from indexer.stores.tantivy_index import TantivyKeywordIndex

    return Backend(
        "embedded", SQLiteDocumentStore(path / "documents.sqlite3"), TantivyKeywordIndex(path / "kw")
    )


def es_settings(engine: Engine, alias: str, **extra: Any) -> dict[str, Any]:
    return engine.settings(**{"elasticsearch.index": alias, **extra})


@pytest.fixture(params=["embedded", pytest.param("engine", marks=[pytest.mark.es])])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "embedded":
        opened = open_embedded(tmp_path)
        yield opened
        opened.keyword.close()
        opened.docs.close()
        return
    from indexer.stores.es.store import (
        ElasticsearchBackend,
        ElasticsearchDocumentStore,
        ElasticsearchKeywordIndex,
    )

    engine: Engine = request.getfixturevalue("engine")
    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    es = ElasticsearchBackend(es_settings(engine, alias))
    try:
        yield Backend(engine.backend, ElasticsearchDocumentStore(es), ElasticsearchKeywordIndex(es))
    finally:
        es.close()
        drop_indices(engine, alias)


@pytest.fixture
def filled(backend: Backend) -> Backend:
    backend.put(ARTICLES)
    return backend


def search(backend: Backend, limit: int = 20, **query: Any) -> tuple[list[int], list[float], int]:
    result = backend.keyword.search(KeywordQuery(**query), limit)
    return [h.passage_id for h in result.hits], [h.score for h in result.hits], result.total


def ids_of(article_id: str, *ordinals: int) -> set[int]:
    article = next(a for a in ARTICLES if a.id == article_id)
    passages = passages_of(article)
    return {passages[o].id for o in (ordinals or range(len(passages)))}


# -- the document store ----------------------------------------------------------------------------------


def test_backends_satisfy_the_protocols(backend: Backend) -> None:
    assert isinstance(backend.docs, DocumentStore)
    assert isinstance(backend.keyword, KeywordIndex)


def test_counts_after_putting_articles(filled: Backend) -> None:
    assert filled.docs.count_articles() == 3
    assert filled.docs.count_passages() == 6
    assert filled.keyword.count() == 6


def test_articles_and_passages_read_back_as_written(filled: Backend) -> None:
    assert filled.docs.get_articles(["bbc:1", "cnn:2", "nope"]) == {
        "bbc:1": ARTICLES[0],
        "cnn:2": ARTICLES[1],
    }
    expected = passages_of(ARTICLES[0])
    assert filled.docs.get_passages([p.id for p in expected] + [12345]) == {p.id: p for p in expected}
    assert filled.docs.article_passages("bbc:1") == expected
    assert filled.docs.article_passages("nope") == []
    hashes = filled.docs.article_hashes(["bbc:1", "f24:3", "nope"])
    assert hashes == {
        "bbc:1": f"hash-bbc:1-{len(ARTICLES[0].text)}",
        "f24:3": f"hash-f24:3-{len(ARTICLES[2].text)}",
    }


def test_passage_articles_give_each_passage_its_article_id_source_and_date(filled: Backend) -> None:
    bbc, cnn, f24 = (passages_of(a) for a in ARTICLES)
    found = filled.docs.passage_articles([bbc[0].id, bbc[1].id, cnn[1].id, f24[0].id, 12345])
    # The date is the article's as written (not normalised), so both backends sort by the same strings.
    assert found == {
        bbc[0].id: ArticleRef("bbc:1", "bbc", "2018-02-18T10:00:00Z"),
        bbc[1].id: ArticleRef("bbc:1", "bbc", "2018-02-18T10:00:00Z"),
        cnn[1].id: ArticleRef("cnn:2", "cnn", "2018-02-18T23:30:00Z"),
        f24[0].id: ArticleRef("f24:3", "france24", None),
    }
    filled.delete(["cnn:2"])
    assert filled.docs.passage_articles([cnn[0].id, cnn[1].id]) == {}


def test_passage_counts_give_each_stored_article_its_number_of_passages(filled: Backend) -> None:
    extra = Article("bbc:4", "خبر قصير", "خبر من فقرة واحدة.", "bbc", None, None, None, None)
    filled.put([extra])
    counts = filled.docs.passage_counts(["bbc:1", "bbc:4", "f24:3", "nope"])
    assert counts == {"bbc:1": 2, "bbc:4": 1, "f24:3": 2}
    filled.delete(["bbc:1"])
    assert filled.docs.passage_counts(["bbc:1", "bbc:4"]) == {"bbc:4": 1}


def test_replacing_an_article_replaces_its_passages(filled: Backend) -> None:
    old = passages_of(ARTICLES[1])
    changed = replace(ARTICLES[1], text="تعادل الهلال والنصر في الرياض.")
    filled.put([changed])
    new = passages_of(changed)
    assert filled.docs.article_passages("cnn:2") == new
    assert filled.docs.get_passages([p.id for p in old]) == {}
    assert filled.docs.count_passages() == 5 and filled.keyword.count() == 5
    found, _, _ = search(filled, terms=tuple(analyze_terms("هدفين")))
    assert found == []
    found, _, _ = search(filled, terms=tuple(analyze_terms("تعادل")))
    assert found == [new[0].id]


def test_deleting_articles_removes_them_everywhere(filled: Backend) -> None:
    removed = filled.delete(["bbc:1", "nope"])
    assert set(removed) == ids_of("bbc:1")
    assert filled.docs.get_articles(["bbc:1"]) == {}
    assert filled.docs.count_articles() == 2 and filled.docs.count_passages() == 4
    assert filled.keyword.count() == 4
    found, _, _ = search(filled, terms=tuple(analyze_terms("الخليج")))
    assert found == []


# -- the keyword index -------------------------------------------------------------------------------------


def test_terms_match_stemmed_forms_and_rank_by_bm25(filled: Backend) -> None:
    found, scores, total = search(filled, terms=tuple(analyze_terms("النفط")))
    # نفط occurs in bbc:1's second paragraph and in f24:3 (whose title has it too, so both its passages).
    assert set(found) == ids_of("bbc:1", 1) | ids_of("f24:3")
    assert total == 3
    assert all(score > 0 for score in scores) and scores == sorted(scores, reverse=True)
    assert found[0] == next(iter(ids_of("f24:3", 0))), "text and title both match: ranked first"


def test_a_term_only_in_the_title_matches_the_articles_passages(filled: Backend) -> None:
    found, _, _ = search(filled, terms=tuple(analyze_terms("مباراة")))
    assert set(found) == ids_of("cnn:2")


def test_phrases_need_the_exact_words_in_order(filled: Backend) -> None:
    found, _, _ = search(filled, phrases=(tuple(analyze_exact_terms("أسعار النفط")),))
    assert set(found) == ids_of("bbc:1", 1) | ids_of("f24:3")
    found, _, _ = search(filled, phrases=(tuple(analyze_exact_terms("النفط أسعار")),))
    assert found == []
    # The exact field is not stemmed: القمة does not match قمة.
    found, _, _ = search(filled, phrases=(tuple(analyze_exact_terms("قمة")),))
    assert set(found) == ids_of("bbc:1")  # only through the title "قمة الرياض الاقتصادية"


def test_excluded_terms_remove_passages(filled: Backend) -> None:
    found, _, _ = search(
        filled, terms=tuple(analyze_terms("الرياض")), excluded=tuple(analyze_terms("الهلال"))
    )
    assert set(found) == ids_of("bbc:1")


def test_source_filter(filled: Backend) -> None:
    found, _, total = search(filled, terms=tuple(analyze_terms("الرياض")), sources=("cnn",))
    assert set(found) == ids_of("cnn:2", 0) and total == 1


def test_a_bare_date_to_covers_its_whole_day(filled: Backend) -> None:
    terms = tuple(analyze_terms("الرياض"))
    found, _, _ = search(filled, terms=terms, date_from="2018-02-18", date_to="2018-02-18")
    assert set(found) == ids_of("bbc:1") | ids_of("cnn:2", 0)
    found, _, _ = search(filled, terms=terms, date_to="2018-02-18T12:00:00Z")
    assert set(found) == ids_of("bbc:1")
    with pytest.raises(ValueError, match="not an ISO 8601"):
        search(filled, terms=terms, date_from="yesterday")


def test_sorting_by_date_puts_newest_first_and_undated_last(filled: Backend) -> None:
    found, scores, _ = search(filled, terms=tuple(analyze_terms("القمة النفط الرياض")), sort="date")
    articles = [next(a for a in ARTICLES if p in ids_of(a.id)).id for p in found]
    assert articles == sorted(articles, key=["cnn:2", "bbc:1", "f24:3"].index)
    assert all(score > 0 for score in scores), "scores stay BM25 under a date sort"


def test_filters_alone_match_every_allowed_passage_with_score_zero(filled: Backend) -> None:
    found, scores, total = search(filled, sources=("bbc", "france24"))
    assert set(found) == ids_of("bbc:1") | ids_of("f24:3") and total == 4
    assert scores == [0.0] * 4


def test_limit_and_total(filled: Backend) -> None:
    found, _, total = search(filled, limit=1, terms=tuple(analyze_terms("النفط")))
    assert len(found) == 1 and total == 3


def test_limit_zero_only_counts(filled: Backend) -> None:
    found, _, total = search(filled, limit=0, terms=tuple(analyze_terms("النفط")))
    assert found == [] and total == 3


# -- the engine only: the same scores as embedded, rebuilds behind the alias, the whole pipeline ----------


@pytest.mark.es
def test_engine_scores_match_the_embedded_index(engine: Engine, tmp_path: Path) -> None:
    """Both engines compute Lucene's BM25 over the same tokens, so rankings and scores agree."""
    from indexer.stores.es.store import (
        ElasticsearchBackend,
        ElasticsearchDocumentStore,
        ElasticsearchKeywordIndex,
    )

    embedded = open_embedded(tmp_path)
    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    es = ElasticsearchBackend(es_settings(engine, alias))
    remote = Backend(engine.backend, ElasticsearchDocumentStore(es), ElasticsearchKeywordIndex(es))
    try:
        for side in (embedded, remote):
            side.put(ARTICLES)
        for text in ("النفط", "القمة الاقتصادية في الرياض", "الهلال النصر هدفين"):
            terms = tuple(analyze_terms(text))
            mine, theirs = (
                embedded.keyword.search(KeywordQuery(terms=terms), 10),
                remote.keyword.search(KeywordQuery(terms=terms), 10),
            )
            assert mine.total == theirs.total, text
            assert {h.passage_id: pytest.approx(h.score, rel=0.05) for h in mine.hits} == {
                h.passage_id: h.score for h in theirs.hits
            }, text
    finally:
        embedded.keyword.close()
        embedded.docs.close()
        es.close()
        drop_indices(engine, alias)


@pytest.mark.es
def test_engine_tokens_equal_the_embedded_analyzer(engine: Engine) -> None:
    """The analyzer generated from ANALYSIS_CHAIN, run by the engine, yields the embedded analyzer's terms."""
    from indexer.stores.es.store import ElasticsearchBackend

    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    es = ElasticsearchBackend(es_settings(engine, alias))
    texts = [
        "ٱلْحَمْدُ لِلَّهِ والكتابُ ١٢٣ في المدرسة",
        "فَسَيَكْفِيكَهُمُ اللهُ",
        "U.S. وزارة الخارجية الأمريكية 2018",
        "أكثر من ٥٠٠ شخص في إسطنبول",
    ]
    try:
        index = es.write_index()
        for text in texts:
            for analyzer, expected in (
                ("isnad_arabic", analyze_terms(text)),
                ("isnad_exact", analyze_exact_terms(text)),
            ):
                tokens = es.client.analyze(index, analyzer, text)
                assert [t["token"] for t in tokens] == expected, (analyzer, text)
    finally:
        es.close()
        drop_indices(engine, alias)


@pytest.mark.es
def test_indexing_files_into_the_engine_then_rebuilding_behind_the_alias(
    engine: Engine, tmp_path: Path
) -> None:
    from indexer.pipeline import index_paths
    from indexer.stores import open_stores

    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    settings = es_settings(engine, alias, **{"data.dir": str(tmp_path / "data")})
    corpus = tmp_path / "news.jsonl"
    corpus.write_text(
        "\n".join(
            json.dumps(
                {
                    "title": a.title,
                    "text": a.text,
                    "source": a.source,
                    "published": a.published,
                    "url": f"http://example.org/{n}",
                },
                ensure_ascii=False,
            )
            for n, a in enumerate(ARTICLES)
        ),
        encoding="utf-8",
    )
    try:
        report = index_paths([str(corpus)], settings, embed=False, progress=False)
        assert report.indexed == 3
        stores = open_stores(settings, check=False)
        try:
            assert stores.docs.count_articles() == 3
            hits = stores.keyword.search(KeywordQuery(terms=tuple(analyze_terms("النفط"))), 10).hits
            passages = stores.docs.get_passages([h.passage_id for h in hits])
            assert hits and set(passages) == {h.passage_id for h in hits}
            articles = stores.docs.get_articles({p.article_id for p in passages.values()})
            assert all("نفط" in p.text or "نفط" in articles[p.article_id].title for p in passages.values())
            # Every article that speaks of oil is found (the pipeline may cut a short one into one passage).
            assert {a.title for a in articles.values()} == {
                a.title for a in ARTICLES if "نفط" in a.text + a.title
            }
            health = stores.health()
            assert health["ok"] is True and health["articles"] == 3
            first_index = health["index"]
        finally:
            stores.close()
        writer = open_stores(settings, writable=True)
        try:
            hidden = writer.rebuild_keyword()
        finally:
            writer.close()
        index_paths([], settings, embed=False, progress=False)  # fills the hidden index, then switches
        stores = open_stores(settings, check=False)
        try:
            health = stores.health()
            assert health["index"] == hidden != first_index
            assert health["articles"] == 3
            assert stores.keyword.count() == stores.docs.count_passages()
        finally:
            stores.close()
    finally:
        drop_indices(engine, alias)
