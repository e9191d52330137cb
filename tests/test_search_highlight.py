"""Highlighting by analyzer offsets in the original text, escaping and snippet windows."""

from __future__ import annotations

from indexer.analysis import analyze, analyze_exact
from retrieval.highlight import best_window, match_spans, merge_spans, render, snippet


def test_stemmed_query_marks_the_written_word() -> None:
    text = "أطلقت القوات بالصواريخ نحو البحر"
    assert (
        str(snippet(text, ["صواريخ"], [], analyze, analyze_exact))
        == "أطلقت القوات <mark>بالصواريخ</mark> نحو البحر"
    )


def test_everything_else_is_escaped() -> None:
    text = 'قال <script>alert("x")</script> إن الصواريخ & غيرها'
    html = str(snippet(text, ["صواريخ"], [], analyze, analyze_exact))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<mark>الصواريخ</mark>" in html
    assert "&amp;" in html


def test_phrase_is_one_mark_and_needs_the_exact_sequence() -> None:
    text = "زار كوريا الشمالية ثم كوريا الجنوبية"
    spans = match_spans(text, [], [("كوريا", "الشماليه")], analyze, analyze_exact)
    assert [text[a:b] for a, b in spans] == ["كوريا الشمالية"]


def test_harakat_and_tatweel_in_the_text_are_kept_inside_the_mark() -> None:
    text = "أطلقت صـــواريخَ جديدة"
    html = str(snippet(text, ["صواريخ"], [], analyze, analyze_exact))
    assert "<mark>صـــواريخَ</mark>" in html


def test_merge_joins_overlaps_and_whitespace_gaps_only() -> None:
    text = "ab cd, ef"
    assert merge_spans([(3, 5), (0, 2), (7, 9)], text) == [(0, 5), (7, 9)]


def test_long_text_window_holds_the_matches_and_is_cut_at_words() -> None:
    words = ["كلمة"] * 200
    words[150] = "بالصواريخ"
    text = " ".join(words)
    html = str(snippet(text, ["صواريخ"], [], analyze, analyze_exact, max_chars=120))
    assert "<mark>بالصواريخ</mark>" in html
    assert html.startswith("…") and html.endswith("…")
    assert len(html) < 200
    start, end = best_window(text, [(10, 15)], 50)
    assert start == 0 or not (text[start - 1].isalpha() and text[start].isalpha())
    assert end == len(text) or not (text[end - 1].isalpha() and text[end].isalpha())


def test_render_without_spans_is_plain_escaped_text() -> None:
    assert str(render("a < b", [])) == "a &lt; b"


def test_the_fast_term_spans_are_the_analyzers_spans() -> None:
    """`term_spans` (highlighting's fast path) gives exactly the spans of analyze()'s matching tokens: words
    with clitics, stop words, harakat and tatweel, the alef wasla, digits, Latin text and an over-long token
    (cut at 255 characters, the general path)."""
    from indexer.analysis.chain import term_spans

    texts = [
        "أطلقت القوات بالصواريخ نحو البحر، وقال إن الصواريخ في ٢٠٢٤ كانت أكثر من صـــواريخَ العام الماضي",
        "ٱلقدس والقدس: Reuters NEWS 2024 report",
        "كلمة " + "ب" * 300 + " بالصواريخ",
        "",
    ]
    for text in texts:
        for wanted in ({"صواريخ"}, {"قدس", "news", "2024"}, {"ب" * 255, "صواريخ"}, {"قال", "نحو"}, set()):
            expected = [(t.start, t.end) for t in analyze(text) if t.term in wanted]
            assert term_spans(text, wanted) == expected, (text[:30], wanted)
            assert match_spans(text, wanted, [], analyze, analyze_exact) == merge_spans(expected, text)
    assert term_spans(texts[0], {"صواريخ"})  # the check above is not vacuous
