"""Query syntax (words, quoted phrases, -exclusions) and its analysis into a keyword query."""

from __future__ import annotations

from indexer.analysis import analyze, analyze_exact
from retrieval.query import ParsedQuery, keyword_query, parse_query


def test_plain_words() -> None:
    assert parse_query("  صواريخ   كوريا ") == ParsedQuery(words=("صواريخ", "كوريا"))


def test_quoted_phrases_in_straight_curly_and_arabic_quotes() -> None:
    parsed = parse_query('"كوريا الشمالية" «فلاديمير بوتين» “كيم جونغ أون”')
    assert parsed.phrases == ("كوريا الشمالية", "فلاديمير بوتين", "كيم جونغ أون")
    assert parsed.words == ()


def test_unclosed_quote_runs_to_the_end() -> None:
    assert parse_query('زيارة "كوريا الشمالية').phrases == ("كوريا الشمالية",)


def test_leading_minus_excludes_but_inner_hyphen_is_text() -> None:
    parsed = parse_query('كوفيد-19 -أوكرانيا - -"حرب باردة"')
    assert parsed.words == ("كوفيد-19",)
    assert parsed.excluded == ("أوكرانيا", "حرب", "باردة")
    assert parsed.positive_text == "كوفيد-19"


def test_only_exclusions_is_empty() -> None:
    assert parse_query("-أوكرانيا").is_empty
    assert parse_query('""').is_empty


def test_keyword_query_is_analyzed_like_the_index() -> None:
    query = keyword_query(
        parse_query('بالصواريخ "كوريا الشمالية" -أوكرانيا'),
        analyze,
        analyze_exact,
        sources=("CNN",),
        date_from="2024-06-01",
    )
    # Stemmed terms for ranking (phrase words included), exact normalized terms for the phrase.
    assert query.terms == ("صواريخ", "كوريا", "شمال")
    assert query.phrases == (("كوريا", "الشماليه"),)
    assert query.excluded == ("اوكرانيا",)
    assert query.sources == ("CNN",)
    assert query.date_from == "2024-06-01"


def test_repeated_words_are_kept_for_ranking_and_excluded_once() -> None:
    query = keyword_query(
        parse_query("سيول جدة سيول -امطار -الامطار"), analyze, analyze_exact, title_weight=0.3
    )
    assert query.terms == ("سيول", "جد", "سيول")  # as Lucene's QueryBuilder: one clause per token
    assert query.excluded == ("امطار",)
    assert query.title_weight == 0.3


def test_phrases_keep_stop_words_exactly() -> None:
    query = keyword_query(parse_query('"في من" بوتين'), analyze, analyze_exact)
    assert query.phrases == (("في", "من"),)
    assert query.terms == ("بوت",)
