"""Request bodies the Elasticsearch backend sends, built by pure functions and asserted clause by clause."""

from __future__ import annotations

import pytest

from indexer.analysis import analyze_exact_terms, analyze_terms
from indexer.models import Article
from indexer.stores.base import ArticleRef, KeywordQuery, StoredPassage, passage_id
from indexer.stores.es import queries

ARTICLE = Article(
    id="bbc:1",
    title="قمة الرياض",
    text="انعقدت القمة في الرياض.",
    source="bbc",
    published="2018-02-18 10:30:00",
    url="http://example.org/1",
    author="مراسل",
    category="سياسة",
    origin="news.jsonl:1",
)
PASSAGE = StoredPassage(
    passage_id("bbc:1", 0, "انعقدت القمة في الرياض."), "bbc:1", 0, "انعقدت القمة في الرياض.", 0, 23
)


def test_passage_document_carries_text_place_and_article_filters() -> None:
    source = queries.passage_source(PASSAGE, ARTICLE)
    assert source == {
        "doc_type": "passage",
        "passage_id": PASSAGE.id,
        "article_id": "bbc:1",
        "ordinal": 0,
        "text": "انعقدت القمة في الرياض.",
        "start": 0,
        "end": 23,
        "title": "قمة الرياض",
        "source": "bbc",
        "category": "سياسة",
        # A space-separated datetime is read as the embedded index reads it, and sent in strict ISO form.
        "published": "2018-02-18T10:30:00+00:00",
    }
    assert queries.passage_from_source(source) == PASSAGE


def test_unreadable_or_missing_dates_leave_the_passage_undated() -> None:
    assert queries.normalized_published(None) is None
    assert queries.normalized_published("yesterday") is None
    assert queries.normalized_published("2018-02-18") == "2018-02-18T00:00:00+00:00"
    assert queries.normalized_published("2018-02-18T12:00:00+03:00") == "2018-02-18T09:00:00+00:00"


def test_article_document_round_trips_the_whole_record() -> None:
    source = queries.article_source(ARTICLE, "hash-1")
    assert source["doc_type"] == "article" and source["hash"] == "hash-1" and source["article_id"] == "bbc:1"
    assert queries.article_from_source(source) == ARTICLE


def test_article_ref_reads_the_fields_it_asks_for_from_the_article_document() -> None:
    source = queries.article_source(ARTICLE, "hash-1")
    # What a multi-get with source_includes=ARTICLE_REF_FIELDS returns of that document.
    included = {
        "article": {
            field.removeprefix("article."): source["article"][field.removeprefix("article.")]
            for field in queries.ARTICLE_REF_FIELDS
        }
    }
    assert queries.article_ref_from_source(included) == ArticleRef("bbc:1", "bbc", "2018-02-18 10:30:00")
    assert queries.article_ref_from_source({"article": {"id": "x:1"}}) == ArticleRef("x:1", None, None)


def test_bulk_lines_for_index_and_delete() -> None:
    source = queries.passage_source(PASSAGE, ARTICLE)
    doc_id = queries.passage_doc_id(PASSAGE.id)
    assert doc_id == f"p:{PASSAGE.id}"
    assert queries.index_operation("isnad-1", doc_id, source) == [
        {"index": {"_index": "isnad-1", "_id": doc_id}},
        source,
    ]
    assert queries.delete_operation("isnad-1", "a:bbc:1") == [
        {"delete": {"_index": "isnad-1", "_id": "a:bbc:1"}}
    ]
    assert queries.article_doc_id("bbc:1") == "a:bbc:1"
    assert queries.passage_id_of(doc_id) == PASSAGE.id
    with pytest.raises(ValueError, match="not a passage document id"):
        queries.passage_id_of("a:bbc:1")


def test_terms_rank_on_text_and_title_with_at_least_one_required() -> None:
    terms = tuple(analyze_terms("قمة الرياض الاقتصادية"))
    body = queries.bool_query(KeywordQuery(terms=terms))["bool"]
    joined = " ".join(terms)
    # Analyzer output goes in as is: the whitespace analyzer only splits it, never stems it again.
    # One scored field holding title and passage (the mapping's copy_to), as the embedded index's `text`.
    assert body["should"] == [
        {"match": {"body": {"query": joined, "analyzer": "whitespace", "operator": "or"}}},
    ]
    assert body["minimum_should_match"] == 1
    assert body["filter"] == [{"term": {"doc_type": "passage"}}]
    assert "must" not in body and "must_not" not in body


def test_repeated_terms_stay_and_a_title_clause_carries_the_title_weight() -> None:
    terms = tuple(analyze_terms("سيول سيول جدة"))
    assert terms.count("سيول") == 2
    body = queries.bool_query(KeywordQuery(terms=terms, title_weight=0.25))["bool"]
    # `match` makes one clause per token, so the repeat weighs twice as in the embedded index.
    assert body["should"] == [
        {"match": {"body": {"query": " ".join(terms), "analyzer": "whitespace", "operator": "or"}}},
        {
            "match": {
                "title": {"query": " ".join(terms), "analyzer": "whitespace", "operator": "or", "boost": 0.25}
            }
        },
    ]
    facets = queries.facets_body(KeywordQuery(terms=terms, title_weight=0.25, sources=("BBC",)))
    assert facets["query"]["bool"]["should"] == body["should"]


def test_phrases_must_match_on_the_exact_subfields_and_terms_become_optional() -> None:
    phrase = tuple(analyze_exact_terms("ولي العهد"))
    query = KeywordQuery(terms=("قمه",), phrases=(phrase, ("الرياض",)))
    body = queries.bool_query(query)["bool"]
    assert body["must"] == [
        {
            "bool": {
                "should": [
                    {
                        "match_phrase": {
                            "text.exact": {"query": " ".join(phrase), "analyzer": "whitespace", "slop": 0}
                        }
                    },
                    {
                        "match_phrase": {
                            "title.exact": {"query": " ".join(phrase), "analyzer": "whitespace", "slop": 0}
                        }
                    },
                ]
            }
        },
        {
            "bool": {
                "should": [
                    {
                        "match_phrase": {
                            "text.exact": {"query": "الرياض", "analyzer": "whitespace", "slop": 0}
                        }
                    },
                    {
                        "match_phrase": {
                            "title.exact": {"query": "الرياض", "analyzer": "whitespace", "slop": 0}
                        }
                    },
                ]
            }
        },
    ]
    assert [list(clause["match"]) for clause in body["should"]] == [["body"]]
    assert "minimum_should_match" not in body  # with a phrase required, terms only rank


def test_excluded_terms_exclude_from_text_and_title() -> None:
    body = queries.bool_query(KeywordQuery(terms=("قمه",), excluded=("حرب", "حرب", "نفط")))["bool"]
    assert body["must_not"] == [{"terms": {"text": ["حرب", "نفط"]}}, {"terms": {"title": ["حرب", "نفط"]}}]


def test_source_and_date_filters_use_the_embedded_bounds() -> None:
    query = KeywordQuery(terms=("قمه",), sources=("bbc", "cnn"), date_from="2018-02-01", date_to="2018-02-18")
    body = queries.bool_query(query)["bool"]
    assert body["filter"] == [
        {"term": {"doc_type": "passage"}},
        {"terms": {"source": ["bbc", "cnn"]}},
        # 2018-02-01T00:00:00Z and the last second of 2018-02-18 (a bare date_to covers its day).
        {"range": {"published": {"gte": 1517443200, "lte": 1518998399, "format": "epoch_second"}}},
    ]


def test_one_sided_date_ranges() -> None:
    assert queries.date_range("2018-02-18T12:00:00+03:00", None) == {
        "range": {"published": {"gte": 1518944400, "format": "epoch_second"}}
    }
    assert queries.date_range(None, "2018-02-18T12:00:00Z") == {
        "range": {"published": {"lte": 1518955200, "format": "epoch_second"}}
    }
    assert queries.date_range(None, None) is None
    with pytest.raises(ValueError, match="not an ISO 8601 date"):
        queries.date_range("last week", None)


def test_a_query_without_terms_or_phrases_matches_what_the_filters_allow() -> None:
    body = queries.bool_query(KeywordQuery(sources=("bbc",)))
    assert body == {"bool": {"filter": [{"term": {"doc_type": "passage"}}, {"terms": {"source": ["bbc"]}}]}}


def test_search_body_for_relevance() -> None:
    query = KeywordQuery(terms=("قمه",))
    body = queries.search_body(query, 25)
    assert body == {
        "query": queries.bool_query(query),
        "size": 25,
        "track_total_hits": True,
        "_source": False,
    }


def test_search_body_for_date_keeps_bm25_scores() -> None:
    body = queries.search_body(KeywordQuery(terms=("قمه",), sort="date"), 10)
    assert body["sort"] == [
        {"published": {"order": "desc", "missing": "_last", "unmapped_type": "date"}},
        {"_score": {"order": "desc"}},
        {"passage_id": {"order": "asc"}},
    ]
    assert body["track_scores"] is True


def test_search_body_rejects_bad_sort_and_limit() -> None:
    with pytest.raises(ValueError, match="unknown sort 'oldest'"):
        queries.search_body(KeywordQuery(terms=("x",), sort="oldest"), 10)
    with pytest.raises(ValueError, match="limit must be >= 0"):
        queries.search_body(KeywordQuery(terms=("x",)), -1)


def test_highlight_section_marks_both_fields() -> None:
    body = queries.search_body(KeywordQuery(terms=("قمه",)), 10, highlight=True)
    highlight = body["highlight"]
    assert highlight["pre_tags"] == ["<mark>"] and highlight["post_tags"] == ["</mark>"]
    assert highlight["encoder"] == "html"
    assert set(highlight["fields"]) == {"text", "title", "text.exact", "title.exact"}
    assert highlight["fields"]["text"]["type"] == "unified"


def test_facets_count_articles_per_source_without_the_source_filter() -> None:
    query = KeywordQuery(terms=("قمه",), sources=("bbc",), date_from="2018-01-01")
    body = queries.facets_body(query, size=20)
    assert body["size"] == 0
    filters = body["query"]["bool"]["filter"]
    assert {"terms": {"source": ["bbc"]}} not in filters
    assert any("range" in clause for clause in filters), "the date filter still applies"
    assert body["aggs"] == {
        "sources": {
            "terms": {"field": "source", "size": 20, "order": [{"articles": "desc"}, {"_key": "asc"}]},
            "aggs": {"articles": {"cardinality": {"field": "article_id", "precision_threshold": 40000}}},
        }
    }
    response = {
        "aggregations": {
            "sources": {
                "buckets": [
                    {"key": "cnn", "doc_count": 9, "articles": {"value": 4}},
                    {"key": "bbc", "doc_count": 3, "articles": {"value": 2}},
                ]
            }
        }
    }
    assert queries.facets_from_response(response) == [("cnn", 4), ("bbc", 2)]


def test_stale_passages_are_those_of_the_articles_not_just_written() -> None:
    assert queries.stale_passages(["a", "b"], [5, 3, 5]) == {
        "bool": {
            "filter": [{"term": {"doc_type": "passage"}}, {"terms": {"article_id": ["a", "b"]}}],
            "must_not": [{"terms": {"passage_id": [3, 5]}}],
        }
    }
    assert "must_not" not in queries.stale_passages(["a"], [])["bool"]


def test_alias_switch_is_one_atomic_request() -> None:
    body = queries.alias_switch_actions("isnad", "isnad-2", ["isnad-1", "isnad-0", "isnad-2"])
    assert body == {
        "actions": [
            {"remove": {"index": "isnad-0", "alias": "isnad"}},
            {"remove": {"index": "isnad-1", "alias": "isnad"}},
            {"add": {"index": "isnad-2", "alias": "isnad", "is_write_index": True}},
        ]
    }
    first = queries.alias_switch_actions("isnad", "isnad-1", [])
    assert first == {"actions": [{"add": {"index": "isnad-1", "alias": "isnad", "is_write_index": True}}]}
