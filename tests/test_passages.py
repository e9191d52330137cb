"""Passage splitting: 40–120 word pieces at paragraph, sentence and word boundaries, exact offsets."""

from __future__ import annotations

import pytest

from indexer.models import Article
from indexer.passages import split_passages


def sentence(n: int, word: str = "كلمة", end: str = ".") -> str:
    return " ".join([word] * (n - 1) + [word + end])


def article(text: str) -> Article:
    return Article(id="a1", title="عنوان", text=text)


def check_offsets(a: Article) -> list[int]:
    """Offsets reproduce each passage, pieces are in order without overlap; returns word counts."""
    passages = split_passages(a)
    previous_end = 0
    for ordinal, p in enumerate(passages):
        assert p.ordinal == ordinal and p.article_id == a.id
        assert a.text[p.start : p.end] == p.text == p.text.strip()
        assert p.start >= previous_end
        assert a.text[previous_end : p.start].strip() == ""  # nothing but whitespace is ever left out
        previous_end = p.end
    assert a.text[previous_end:].strip() == ""
    return [len(p.text.split()) for p in passages]


def test_short_article_is_one_passage() -> None:
    a = article("  " + sentence(12) + "\n\n" + sentence(5) + "  ")
    [p] = split_passages(a)
    assert p.text == a.text.strip() and (p.start, p.end) == (2, len(a.text) - 2)


def test_empty_text_has_no_passages() -> None:
    assert split_passages(article("")) == [] and split_passages(article(" \n\n ")) == []


def test_paragraphs_are_preferred_boundaries() -> None:
    paragraphs = [sentence(30) + " " + sentence(25), sentence(50), sentence(45)]
    a = article("\n\n".join(paragraphs))
    assert [p.text for p in split_passages(a)] == paragraphs


def test_short_paragraphs_are_packed_together() -> None:
    a = article("\n\n".join(sentence(15) for _ in range(8)))  # one-sentence paragraphs, as news sites print
    # Pieces close at the first paragraph end past 40 words; the 30-word rest joins the piece before it.
    assert check_offsets(a) == [45, 75]


def test_long_paragraph_is_cut_at_sentence_ends_within_max_words() -> None:
    text = " ".join(sentence(25, end=e) for e in [".", "؟", "!", "؛", "."] * 3)
    counts = check_offsets(article(text))
    assert all(40 <= c <= 120 for c in counts) and sum(counts) == 375
    for p in split_passages(article(text)):
        assert p.text[-1] in ".؟!؛"


def test_very_long_sentence_is_cut_at_word_boundaries() -> None:
    words = [f"ك{i}" for i in range(300)]
    a = article(" ".join(words))
    passages = split_passages(a)
    assert [len(p.text.split()) for p in passages] == [100, 100, 100]
    assert " ".join(p.text for p in passages) == a.text  # never mid-word


def test_short_trailing_piece_joins_the_previous_one() -> None:
    a = article(sentence(100) + " " + sentence(10))
    counts = check_offsets(a)
    assert counts == [110]


def test_line_ends_are_sentence_boundaries() -> None:
    lines = [" ".join(["سطر"] * 35) for _ in range(5)]  # no punctuation, one item per line
    counts = check_offsets(article("\n".join(lines)))
    assert counts == [105, 70]


def test_abbreviations_and_decimals_do_not_end_sentences() -> None:
    text = sentence(60) + " بلغ النمو 3.5 في المئة بحسب (أ.ف.ب) " + sentence(70)
    passages = split_passages(article(text))
    assert any("3.5 في المئة بحسب (أ.ف.ب)" in p.text for p in passages)


def test_arabic_text_offsets_with_harakat_and_quotes() -> None:
    text = ("قالَ الوزيرُ: «سنبدأ غداً». " * 20 + "\n\n" + "وأضافَ أنّ الخطةَ جاهزةٌ؟ " * 15).strip()
    counts = check_offsets(article(text))
    assert sum(counts) == len(text.split())


def test_bounds_are_validated() -> None:
    with pytest.raises(ValueError):
        split_passages(article("نص"), min_words=50, max_words=10)


def test_windows_line_ends_separate_paragraphs() -> None:
    paragraphs = [sentence(45), sentence(50)]
    a = article("\r\n\r\n".join(paragraphs))
    assert [p.text for p in split_passages(a)] == paragraphs
