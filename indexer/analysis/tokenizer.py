"""Word segmentation as Lucene's StandardTokenizer does it: Unicode UAX #29 word boundaries, keeping only words.

A token is a run the word-break rules keep together that holds a letter, digit, emoji, ideograph or
South-East-Asian letter: combining marks (Arabic harakat), format characters and ZWJ stay inside the
word before them (WB4); letters join across one MidLetter/MidNumLet/single quote (can't, U.S.A, a:b;
WB6-7), digits across one MidNum/MidNumLet/single quote (106,78  3.5  ١٬٠٠٠; WB11-12); letters and
digits join each other (WB9-10) and anything joins across underscores (ExtendNumLet, WB13a-b). Katakana
runs are one token; each Han ideograph and each Hiragana letter is its own token; Thai, Lao, Khmer and
Myanmar runs are one token each; emoji sequences (modifiers, flags, keycaps, ZWJ sequences, UTS #51) are
one token. Punctuation, symbols and spaces between tokens are dropped. A token longer than 255 characters
is cut into 255-character pieces, the rest being scanned afresh, as Lucene's default maxTokenLength does.

Where Lucene 8's grammar (built on Unicode 9 data) differs from today's UAX #29, the behaviour observed
from Lucene wins; tests/test_lucene_parity.py checks it. The whole thing is one compiled regular
expression, so segmentation runs in C; a second copy restricted to the Basic Multilingual Plane serves
text without astral characters (nearly all news), because Python's regex engine tests astral ranges of a
character class one by one but BMP ones in a single table lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from indexer.analysis import _unicode_tables as u

MAX_TOKEN_LENGTH = 255  # Lucene's StandardAnalyzer.DEFAULT_MAX_TOKEN_LENGTH

Ranges = Sequence[tuple[int, int]]
BMP = ((0, 0xFFFF),)

# Lucene 8's grammar uses Unicode 9.0 word-break data; these characters changed value since (spacing
# modifier symbols and Armenian punctuation became ALetter or MidLetter in Unicode 11, a Sharada mark
# Extend). Found by running every code point through Lucene (see tests/test_lucene_parity.py).
WORD_BREAK_CHANGED_SINCE_UNICODE_9: Ranges = (  # Other in Unicode 9: never part of a word
    (0x02C2, 0x02C5),
    (0x02D2, 0x02D6),
    (0x02DE, 0x02DF),
    (0x02E5, 0x02EB),
    (0x02ED, 0x02ED),
    (0x02EF, 0x02FF),
    (0x055A, 0x055C),
    (0x055E, 0x055F),
    (0x058A, 0x058A),
    (0xA708, 0xA716),
    (0xA720, 0xA721),
    (0xA789, 0xA78A),
    (0xAB5B, 0xAB5B),
    (0x111C9, 0x111C9),
)
UNICODE_9_MID_LETTER: Ranges = ((0x02D7, 0x02D7),)  # ALetter today
UNICODE_9_EXTEND: Ranges = ((0x1CF2, 0x1CF3),)  # ALetter today
# Lucene 8's emoji grammar (emoji data of its time, which reserved whole blocks for future pictographs)
# also takes the block now called Symbols for Legacy Computing as pictographs.
LUCENE_EXTRA_PICTOGRAPHS: Ranges = ((0x1FB00, 0x1FBFF),)


def _union(*sets: Ranges) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(r for ranges in sets for r in ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _minus(ranges: Ranges, *removed: Ranges) -> list[tuple[int, int]]:
    result: list[tuple[int, int]] = []
    cut = _union(*removed)
    for first, last in _union(ranges):
        for cut_first, cut_last in cut:
            if cut_last < first or cut_first > last:
                continue
            if cut_first > first:
                result.append((first, cut_first - 1))
            first = cut_last + 1
            if first > last:
                break
        if first <= last:
            result.append((first, last))
    return result


def _intersect(ranges: Ranges, keep: Ranges) -> list[tuple[int, int]]:
    return _minus(ranges, _minus(((0, 0x10FFFF),), keep))


def _build(plane: Ranges) -> re.Pattern[str]:
    """The token pattern for characters in `plane` (everything, or the BMP only)."""

    def cls(*sets: Ranges, minus: Ranges = (), unicode_9: bool = True) -> str:
        """A character class; with `unicode_9`, only characters Unicode 9.0 already had, as in Lucene 8's
        grammar (emoji classes take today's data: Lucene's emoji ranges reserve room for later emoji)."""
        ranges = _intersect(_minus(_union(*sets), minus), plane)
        if unicode_9:
            ranges = _minus(_intersect(ranges, u.ASSIGNED_BY_UNICODE_9), WORD_BREAK_CHANGED_SINCE_UNICODE_9)
        if not ranges:
            return "(?!)"
        body = "".join(f"\\U{a:08X}" if a == b else f"\\U{a:08X}-\\U{b:08X}" for a, b in ranges)
        return f"[{body}]"

    def with_ext(*sets: Ranges) -> str:
        """One character of `sets`, then any mix of more of them and attached marks."""
        return cls(*sets) + cls(*sets, extend) + "*"

    # Emoji modifiers became Word_Break=Extend only in Unicode 11; Lucene 8 does not attach them to letters
    # ("a🏻" is two tokens), only to an emoji modifier base ("☝🏻").
    extend = _minus(_union(u.EXTEND, u.FORMAT, u.ZWJ, UNICODE_9_EXTEND), u.EMOJI_MODIFIER)
    ext = cls(extend) + "*"
    letter = _minus(_union(u.ALETTER, u.HEBREW_LETTER), UNICODE_9_MID_LETTER, UNICODE_9_EXTEND)

    # Letter runs join across one MidLetter-like character; a Hebrew letter also joins the next across '"'
    # and keeps a final "'" (WB7a-c; the look-behinds, tried only after the quote matched, allow up to two
    # points between the Hebrew letter and the quote).
    def after_hebrew(quote: str) -> str:
        return (
            "(?:" + "|".join(f"(?<={cls(u.HEBREW_LETTER)}{cls(extend) * n}{quote})" for n in range(3)) + ")"
        )

    double_quote, single_quote = cls(u.DOUBLE_QUOTE), cls(u.SINGLE_QUOTE)
    mid_letter = cls(u.MID_LETTER, UNICODE_9_MID_LETTER, u.MID_NUM_LET, u.SINGLE_QUOTE) + ext
    letters = (
        f"{with_ext(letter)}"
        f"(?:(?:{mid_letter}|{double_quote}{after_hebrew(double_quote)}{ext}(?={cls(u.HEBREW_LETTER)}))"
        f"{with_ext(letter)})*"
        f"(?:{single_quote}{after_hebrew(single_quote)}{ext})?"
    )
    mid_number = cls(u.MID_NUM, u.MID_NUM_LET, u.SINGLE_QUOTE) + ext
    numbers = f"{with_ext(u.NUMERIC)}(?:{mid_number}{with_ext(u.NUMERIC)})*"
    unit = f"(?:(?:{letters}|{numbers})+|{with_ext(u.KATAKANA)})"
    underscores = f"(?:{with_ext(u.EXTEND_NUM_LET)})"
    word = f"{underscores}?{unit}(?:{underscores}{unit})*{underscores}?"

    # Emoji (UTS #51 sequences as Lucene 8 forms them): a pictograph, a modifier base with its modifier,
    # a flag (two regional indicators) or a #/* keycap; marks attach except text-style VS15 (U+FE0E);
    # ZWJ joins the next element. Digit keycaps are numbers (digit + marks). Pictographs that are also
    # letters (ℹ, Ⓜ) are letters, unless a ZWJ sequence through them is longer than the word.
    modifier = cls(u.EMOJI_MODIFIER, unicode_9=False)
    pictographs = _union(u.EXTENDED_PICTOGRAPHIC, u.EMOJI_MODIFIER, LUCENE_EXTRA_PICTOGRAPHS)
    letter_pictograph = cls(_intersect(pictographs, letter), unicode_9=False)
    other_element = (
        f"{cls(u.REGIONAL_INDICATOR)}{{2}}|[#*]\\uFE0F?\\u20E3"
        f"|{cls(u.EMOJI_MODIFIER_BASE, unicode_9=False)}{modifier}?|{cls(pictographs, minus=letter, unicode_9=False)}"
    )
    element = f"(?:{other_element}|{letter_pictograph})"
    emoji_marks = cls(extend, minus=((0x200D, 0x200D), (0xFE0E, 0xFE0E)))
    emoji_tail = f"(?:{emoji_marks}|\\u200D{element}?)*"
    # A ZWJ that no word claimed starts an emoji token when a pictograph follows (WB3c: ZWJ x pictograph).
    emoji = f"(?:{other_element}|\\u200D+{element}){emoji_tail}"
    letter_emoji = f"{letter_pictograph}{emoji_marks}*\\u200D{element}{emoji_tail}"

    south_east_asian = f"(?:{cls(u.COMPLEX_CONTEXT)}{ext})+"
    ideograph = cls(u.HAN) + ext
    hiragana = cls(u.HIRAGANA) + ext
    # Fast path, tried first: a run of letters, digits and marks that no joining character follows is a
    # whole word, exactly as `word` would match it; the possessive run never backtracks. Anything that might
    # join (underscore, quote, or a mid-word character before a letter or digit) leaves it to `word`, and
    # a letter that is also a pictograph to `letter_emoji`.
    word_chars = (letter, u.NUMERIC, extend)
    plain_word = (
        f"{cls(letter, u.NUMERIC, minus=pictographs)}{cls(*word_chars)}*+"
        f"(?!{cls(u.EXTEND_NUM_LET, u.SINGLE_QUOTE)}"
        f"|{cls(u.MID_LETTER, UNICODE_9_MID_LETTER, u.MID_NUM, u.MID_NUM_LET, u.DOUBLE_QUOTE)}{cls(*word_chars)})"
    )
    # A look-ahead on every possible first character lets the scan skip spaces and punctuation with one
    # table lookup instead of trying each alternative.
    first = cls(
        letter,
        u.NUMERIC,
        u.KATAKANA,
        u.EXTEND_NUM_LET,
        u.REGIONAL_INDICATOR,
        ((0x23, 0x23), (0x2A, 0x2A), (0x200D, 0x200D)),
        u.EMOJI_MODIFIER_BASE,
        u.EXTENDED_PICTOGRAPHIC,
        u.EMOJI_MODIFIER,
        LUCENE_EXTRA_PICTOGRAPHS,
        u.COMPLEX_CONTEXT,
        u.HAN,
        u.HIRAGANA,
        unicode_9=False,
    )
    return re.compile(
        f"(?={first})(?:{plain_word}|{letter_emoji}|{word}|{emoji}|{south_east_asian}|{ideograph}|{hiragana})"
    )


TOKEN_PATTERN = _build(((0, 0x10FFFF),))
_BMP_PATTERN = _build(BMP)


def _pattern_for(text: str) -> re.Pattern[str]:
    # UTF-16 needs two units for each astral character; encoding is far cheaper than max(text).
    if text.isascii() or len(text.encode("utf-16-le", "surrogatepass")) == 2 * len(text):
        return _BMP_PATTERN
    return TOKEN_PATTERN


def _long_spans(pattern: re.Pattern[str], text: str, pos: int) -> Iterator[tuple[int, int]]:
    """Spans from `pos` on, cutting over-long tokens and rescanning after each cut."""
    search = pattern.search
    while (match := search(text, pos)) is not None:
        start, end = match.span()
        if end - start > MAX_TOKEN_LENGTH:
            end = start + MAX_TOKEN_LENGTH
        yield start, end
        pos = end


def token_spans(text: str) -> Iterator[tuple[int, int]]:
    """[start, end) of every token of `text`, in order."""
    pattern = _pattern_for(text)
    for match in pattern.finditer(text):
        start, end = match.span()
        if end - start > MAX_TOKEN_LENGTH:
            yield from _long_spans(pattern, text, start)
            return
        yield start, end


def token_matches(text: str) -> tuple[list[str], Iterator[re.Match[str]]] | None:
    """The tokens' text and a lazy iterator over their matches (the same tokens, with their spans), or None
    when a token is over-long and would be cut (then use `token_spans`). For callers that look at every
    token's text but need the spans of only a few: the text comes from one `findall`, in C."""
    pattern = _pattern_for(text)
    words = pattern.findall(text)
    if words and max(map(len, words)) > MAX_TOKEN_LENGTH:
        return None
    return words, pattern.finditer(text)


def token_strings(text: str) -> list[str]:
    """The tokens' text only: the fast path for indexing."""
    pattern = _pattern_for(text)
    words = pattern.findall(text)
    if words and max(map(len, words)) > MAX_TOKEN_LENGTH:
        return [text[start:end] for start, end in _long_spans(pattern, text, 0)]
    return words
