"""Golden token lists for the Arabic analyzer: each case written out in full (terms, offsets, positions).

The expected lists are what Lucene 8.7's ArabicAnalyzer prints for the same text (checked by hand against
tests/lucene/LuceneTokens.java); test_lucene_parity.py compares against Lucene itself on the corpora.
"""

from __future__ import annotations

import pytest

from indexer.analysis import (
    ANALYSIS_CHAIN,
    ANALYZER_VERSION,
    ARABIC_STOP_WORDS,
    EXACT_ANALYSIS_CHAIN,
    analyze,
    analyze_exact,
    analyze_exact_terms,
    analyze_terms,
)
from indexer.models import Token

T = tuple[str, int, int, int]

FULL_CASES: list[tuple[str, list[T]]] = [
    # hamza and madda alefs fold to bare alef
    ("أحمد إبراهيم آمال", [("احمد", 0, 4, 0), ("ابراهيم", 5, 12, 1), ("امال", 13, 17, 2)]),
    # ة -> ه and ى -> ي, then the suffixes ه / ي are stripped
    ("مدرسة مستشفى", [("مدرس", 0, 5, 0), ("مستشف", 6, 12, 1)]),
    # harakat stay inside the word (a naive \w would split here); offsets still cover them
    ("مُحَمَّدٌ رَسُولُ", [("محمد", 0, 9, 0), ("رسول", 10, 17, 1)]),
    # tatweel removed
    ("كتــــاب", [("كتاب", 0, 8, 0)]),
    # Arabic-Indic and Persian digits to 0-9; decimal comma and point keep a number whole; و3.5 loses و
    (
        "٢٠١٨ ۱۳۹۹ 106,78 و3.5",
        [("2018", 0, 4, 0), ("1399", 5, 9, 1), ("106,78", 10, 16, 2), ("3.5", 17, 21, 3)],
    ),
    # alef wasla folds to alef (Isnad's char filter), then ال and the suffix ان go
    ("ٱلْقُرْآن", [("قر", 0, 9, 0)]),
    # stop words (matched before normalization) leave position gaps
    ("ذهب إلى المدرسة في الصباح", [("ذهب", 0, 3, 0), ("مدرس", 8, 15, 2), ("صباح", 19, 25, 4)]),
    # Latin is lowercased; apostrophes join, hyphens split; the lone و is a stop word
    (
        "Apple's iPhone 15 و COVID-19",
        [
            ("apple's", 0, 7, 0),
            ("iphone", 8, 14, 1),
            ("15", 15, 17, 2),
            ("covid", 20, 25, 4),
            ("19", 26, 28, 5),
        ],
    ),
    # the prefixes وال بال فال كال لل و
    (
        "والكتاب بالقلم فالبيت كالبحر للطالب وكتب",
        [
            ("كتاب", 0, 7, 0),
            ("قلم", 8, 14, 1),
            ("بيت", 15, 21, 2),
            ("بحر", 22, 28, 3),
            ("طالب", 29, 35, 4),
            ("كتب", 36, 40, 5),
        ],
    ),
    # length conditions: a stem keeps two letters, و needs four; الى is a stop word
    (
        "وال ولد والد الى بال كتابهما معلمون",
        [
            ("وال", 0, 3, 0),
            ("ولد", 4, 7, 1),
            ("الد", 8, 12, 2),
            ("بال", 17, 20, 4),
            ("كتابهما", 21, 28, 5),
            ("معلم", 29, 35, 6),
        ],
    ),
    # offsets are code points of the original text, emoji included
    ("😀 ٱلله", [("😀", 0, 1, 0), ("له", 2, 6, 1)]),
    # a word of tatweel only becomes an empty term, as in Lucene
    ("ــــ", [("", 0, 4, 0)]),
    ("", []),
    (" \n\t،؟!", []),
]

EXACT_CASES: list[tuple[str, list[T]]] = [
    ("مدرسة مستشفى", [("مدرسه", 0, 5, 0), ("مستشفي", 6, 12, 1)]),
    ("ٱلْقُرْآن", [("القران", 0, 9, 0)]),
    (
        "ذهب إلى المدرسة في الصباح",
        [("ذهب", 0, 3, 0), ("الي", 4, 7, 1), ("المدرسه", 8, 15, 2), ("في", 16, 18, 3), ("الصباح", 19, 25, 4)],
    ),
    ("٢٠١٨ و3.5", [("2018", 0, 4, 0), ("و3.5", 5, 9, 1)]),
]


def tuples(tokens: list[Token]) -> list[T]:
    return [(t.term, t.start, t.end, t.position) for t in tokens]


@pytest.mark.parametrize(("text", "expected"), FULL_CASES)
def test_analyze_golden(text: str, expected: list[T]) -> None:
    assert tuples(analyze(text)) == expected
    assert analyze_terms(text) == [term for term, *_ in expected]


@pytest.mark.parametrize(("text", "expected"), EXACT_CASES)
def test_analyze_exact_golden(text: str, expected: list[T]) -> None:
    assert tuples(analyze_exact(text)) == expected
    assert analyze_exact_terms(text) == [term for term, *_ in expected]


def test_offsets_slice_the_original_text() -> None:
    text = "قال الرئيسُ ٱلأمريكي: «سنعود» في ١٥ آذار."
    assert [text[t.start : t.end] for t in analyze(text)] == [
        "قال",
        "الرئيسُ",
        "ٱلأمريكي",
        "سنعود",
        "١٥",
        "آذار",
    ]


def test_long_token_is_cut_every_255_characters() -> None:
    text = "a" * 300 + " " + "ب" * 254 + "\u064e" * 3 + "ت"
    assert tuples(analyze_exact(text)) == [
        ("a" * 255, 0, 255, 0),
        ("a" * 45, 255, 300, 1),
        ("ب" * 254, 301, 556, 2),
        ("ت", 558, 559, 3),
    ]
    assert analyze_exact_terms(text) == ["a" * 255, "a" * 45, "ب" * 254, "ت"]


def test_term_paths_agree_with_token_paths_on_mixed_text() -> None:
    text = "في عام ٢٠١٨، قالت الـBBC إنّ 40% من الطلاب ﷺ 👍🏽 can't_stop U.S.A. ١٬٠٠٠ ש\"ב"
    assert analyze_terms(text) == [t.term for t in analyze(text)]
    assert analyze_exact_terms(text) == [t.term for t in analyze_exact(text)]


def test_stop_words_are_lucenes_list() -> None:
    assert len(ARABIC_STOP_WORDS) == 119 and len(set(ARABIC_STOP_WORDS)) == 119
    assert {"في", "من", "إلى", "الى", "الآن", "و"} <= set(ARABIC_STOP_WORDS)


def test_chain_description_lists_the_steps_in_order() -> None:
    assert ANALYSIS_CHAIN["char_filter"] == [{"type": "mapping", "mappings": ["ٱ=>ا"]}]
    assert ANALYSIS_CHAIN["tokenizer"]["type"] == "standard"
    assert [f["type"] for f in ANALYSIS_CHAIN["filter"]] == [
        "lowercase",
        "decimal_digit",
        "stop",
        "arabic_normalization",
        "arabic_stem",
    ]
    assert ANALYSIS_CHAIN["filter"][2]["stopwords"] == list(ARABIC_STOP_WORDS)
    assert [f["type"] for f in EXACT_ANALYSIS_CHAIN["filter"]] == [
        "lowercase",
        "decimal_digit",
        "arabic_normalization",
    ]
    assert isinstance(ANALYZER_VERSION, str) and ANALYZER_VERSION
