"""The tantivy keyword index: BM25 on Lucene's scale, phrases, exclusions, filters, date sort, deletes."""

from __future__ import annotations

import math

import pytest

from indexer.analysis import analyze_exact_terms, analyze_terms
from indexer.models import Article
from indexer.stores.base import KeywordQuery, StoredPassage
from indexer.stores.dates import to_epoch
from indexer.stores.tantivy_index import KeywordDoc, TantivyKeywordIndex, analyze_both, prepare_docs


def doc(
    pid: int,
    article_id: str,
    text: str,
    *,
    source: str = "BBC",
    published: str | None = None,
    title: str = "",
) -> KeywordDoc:
    return KeywordDoc(pid, article_id, source, to_epoch(published), text, text, title, title)


@pytest.fixture
def index(tmp_path):
    keyword = TantivyKeywordIndex(tmp_path / "keyword")
    yield keyword
    keyword.close()


def lucene_bm25(tf: int, doc_len: int, avg_len: float, docs: int, docs_with_term: int) -> float:
    """Lucene 8 BM25Similarity (k1=1.2, b=0.75), no (k1+1) factor; exact for short fields."""
    idf = math.log(1 + (docs - docs_with_term + 0.5) / (docs_with_term + 0.5))
    return idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * doc_len / avg_len))


def test_scores_are_on_lucene_bm25_scale(index):
    index.add_prepared([doc(1, "a", "ب ج د"), doc(2, "a", "ب ب هـ"), doc(3, "b", "و ز ح ب")])
    index.commit()
    result = index.search(KeywordQuery(terms=("ج",)), 10)
    assert [h.passage_id for h in result.hits] == [1] and result.total == 1
    assert result.hits[0].score == pytest.approx(lucene_bm25(1, 3, 10 / 3, 3, 1), rel=1e-5)
    both = index.search(KeywordQuery(terms=("ج", "هـ")), 10)
    assert {h.passage_id for h in both.hits} == {1, 2}


def test_phrases_must_match_in_order_and_terms_only_rank(index):
    index.add_prepared([doc(1, "a", "مجلس الامن الدولي"), doc(2, "b", "الامن مجلس"), doc(3, "c", "مجلس")])
    index.commit()
    result = index.search(KeywordQuery(terms=("مجلس",), phrases=(("مجلس", "الامن"),)), 10)
    assert [h.passage_id for h in result.hits] == [1]
    single = index.search(KeywordQuery(phrases=(("الامن",),)), 10)
    assert {h.passage_id for h in single.hits} == {1, 2}


def test_title_terms_match_every_passage_of_the_article(index):
    index.add_prepared(
        [
            doc(1, "a", "نص اول", title="انتخابات"),
            doc(2, "a", "نص ثان", title="انتخابات"),
            doc(3, "b", "انتخابات اخرى", title="عنوان"),
        ]
    )
    index.commit()
    result = index.search(KeywordQuery(terms=("انتخابات",)), 10)
    assert {h.passage_id for h in result.hits} == {1, 2, 3}


def test_title_terms_share_the_passage_field_and_title_weight_adds_the_title_alone(index):
    index.add_prepared(
        [
            doc(1, "a", "نص فيه سيول", title="سيول"),
            doc(2, "b", "نص اخر", title="سيول"),
            doc(3, "c", "بلا شيء", title="عنوان"),
        ]
    )
    index.commit()

    def scores(**query):
        return {h.passage_id: h.score for h in index.search(KeywordQuery(**query), 10).hits}

    # One field of title + passage: passage 1 has the word twice there (title and text) in four terms,
    # passage 2 once in three, so Lucene's formula over that field gives both scores.
    plain = scores(terms=("سيول",))
    assert plain == pytest.approx(
        {1: lucene_bm25(2, 4, 10 / 3, 3, 2), 2: lucene_bm25(1, 3, 10 / 3, 3, 2)}, rel=1e-5
    )
    # A word said twice weighs twice (Lucene sums its duplicate clauses).
    assert scores(terms=("سيول", "نص", "سيول")) == pytest.approx(
        {pid: 2 * score + scores(terms=("نص",))[pid] for pid, score in plain.items()}
    )
    # title_weight adds the BM25 of the title alone, the same for both articles' one-word title.
    title_alone = lucene_bm25(1, 1, 1.0, 3, 2)
    assert scores(terms=("سيول",), title_weight=0.5) == pytest.approx(
        {pid: score + 0.5 * title_alone for pid, score in plain.items()}, rel=1e-5
    )


def test_excluded_terms_sources_and_dates_filter_without_scoring(index):
    index.add_prepared(
        [
            doc(1, "a", "نفط سعر", source="BBC", published="2018-01-01T08:00:00+00:00"),
            doc(2, "b", "نفط خليج", source="CNN", published="2018-01-02T23:59:00+00:00"),
            doc(3, "c", "نفط", source="BBC", published="2018-01-03T00:00:00+00:00"),
            doc(4, "d", "نفط", source="BBC"),
        ]
    )
    index.commit()
    ids = lambda q: {h.passage_id for h in index.search(q, 10).hits}
    assert ids(KeywordQuery(terms=("نفط",), excluded=("خليج",))) == {1, 3, 4}
    assert ids(KeywordQuery(terms=("نفط",), sources=("CNN", "other"))) == {2}
    assert ids(KeywordQuery(terms=("نفط",), date_from="2018-01-02", date_to="2018-01-02")) == {2}
    assert ids(KeywordQuery(terms=("نفط",), date_to="2018-01-03")) == {1, 2, 3}  # undated never matches
    plain = index.search(KeywordQuery(terms=("نفط",)), 10).hits
    filtered = index.search(KeywordQuery(terms=("نفط",), sources=("BBC",)), 10).hits
    assert {h.passage_id: h.score for h in filtered} == {
        h.passage_id: h.score for h in plain if h.passage_id != 2
    }
    browse = index.search(KeywordQuery(sources=("BBC",)), 10)
    assert browse.total == 3 and all(h.score == 0.0 for h in browse.hits)
    with pytest.raises(ValueError, match="not an ISO 8601"):
        index.search(KeywordQuery(terms=("نفط",), date_from="01/02/2018"), 10)


def test_sort_by_date_newest_first_keeps_bm25_scores(index):
    index.add_prepared(
        [
            doc(1, "a", "قمة قمة قمة", published="2018-01-01"),
            doc(2, "b", "قمة", published="2018-03-01"),
            doc(3, "c", "قمة عربية", published="2018-02-01"),
            doc(4, "d", "قمة"),
        ]
    )
    index.commit()
    by_date = index.search(KeywordQuery(terms=("قمة",), sort="date"), 10)
    assert [h.passage_id for h in by_date.hits] == [2, 3, 1, 4]
    relevance = {h.passage_id: h.score for h in index.search(KeywordQuery(terms=("قمة",)), 10).hits}
    assert {h.passage_id: h.score for h in by_date.hits} == pytest.approx(relevance)
    assert [h.passage_id for h in index.search(KeywordQuery(terms=("قمة",), sort="date"), 2).hits] == [2, 3]


def test_delete_then_add_in_one_commit_replaces_an_article(index):
    index.add_prepared([doc(1, "a", "قديم"), doc(2, "b", "باق")])
    index.commit()
    index.delete_articles(["a"])
    index.add_prepared([doc(3, "a", "جديد")])
    index.commit()
    assert index.count() == 2
    assert index.search(KeywordQuery(terms=("قديم",)), 10).hits == []
    assert [h.passage_id for h in index.search(KeywordQuery(terms=("جديد",)), 10).hits] == [3]


def test_a_second_reader_sees_commits_after_reload(tmp_path):
    writer = TantivyKeywordIndex(tmp_path / "keyword")
    reader = TantivyKeywordIndex(tmp_path / "keyword")
    writer.add_prepared([doc(1, "a", "خبر")])
    writer.commit()
    reader.reload()
    assert reader.count() == 1
    writer.close()
    reader.close()


def test_analyze_both_equals_the_two_analyzers(seeds_dir):
    for path in sorted(seeds_dir.iterdir()):
        text = path.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines()[:200]:
            assert analyze_both(line) == (" ".join(analyze_terms(line)), " ".join(analyze_exact_terms(line)))


def test_prepare_docs_and_add_use_the_arabic_analyzer(index):
    item = Article(
        id="x",
        title="الانتخابات الرئاسية",
        text="أعلنت اللجنة نتائج الانتخابات",
        source="BBC",
        published="2018-05-01",
    )
    passage = StoredPassage(42, "x", 0, item.text, 0, len(item.text))
    prepared = prepare_docs(item, [passage])
    assert prepared[0].text == " ".join(analyze_terms(item.text))
    index.add([passage], {"x": item})
    index.commit()
    # A differently written form of the same word finds it through stemming and normalization.
    query = KeywordQuery(terms=tuple(analyze_terms("انتخابات")))
    assert [h.passage_id for h in index.search(query, 5).hits] == [42]


def test_close_lets_the_merges_of_its_commit_finish(tmp_path):
    # Eight segments (one per commit, each its own writer, as the write API does per batch) make tantivy's
    # merge policy merge them when the eighth is committed, on its own threads. close() must wait for that
    # merge: one left running when the writer goes can end after the next writer has committed and bring a
    # replaced article's old passages back (tantivy_index.close). So the next reader sees one segment.
    path = tmp_path / "keyword"
    pid = 0
    for batch in range(8):
        keyword = TantivyKeywordIndex(path)
        if batch == 0:
            keyword.add_prepared([doc(1, "a0-0", "خبر قديم")])
        if batch == 7:
            keyword.delete_articles(["a0-0"])  # replaced in the commit that starts the merge
            keyword.add_prepared([doc(1, "a0-0", "خبر معدل")])
        for n in range(300):
            pid += 1
            keyword.add_prepared([doc(pid + 1, f"a{batch}-{n + 1}", f"خبر رقم {pid}")])
        keyword.commit()
        keyword.close()
    reader = TantivyKeywordIndex(path)
    searcher = reader._index.searcher()
    assert searcher.num_segments == 1
    assert reader.count() == 8 * 300 + 1
    assert [h.passage_id for h in reader.search(KeywordQuery(terms=analyze_terms("معدل")), 10).hits] == [1]
    assert reader.search(KeywordQuery(terms=analyze_terms("قديم")), 10).hits == []
    reader.close()
