"""Word segmentation as Lucene's StandardTokenizer does it: Unicode UAX #29 word boundaries, keeping only words.

A token is a run the word-break rules keep together that holds a letter, digit, emoji, ideograph or
South-East-Asian letter: combining marks (Arabic harakat), format characters and ZWJ stay inside the
word before them (WB4); letters join across one MidLetter/MidNumLet/single quote (don't, U.S.A, a:b;
WB6-7), digits across one MidNum/MidNumLet/single quote (106,78  3.5  ١٬٠٠٠; WB11-12); letters and
digits join each other (WB9-10) and anything joins across underscores (ExtendNumLet, WB13a-b). Katakana
runs are one token; each Han ideograph and each Hiragana letter is its own token; Thai, Lao, Khmer and
Myanmar runs are one token each; emoji sequences (modifiers, flags, keycaps, ZWJ sequences, UTS #51) are
one token. Punctuation, symbols and spaces between tokens are dropped. A token longer than 255 characters
is cut into 255-character pieces, the rest being scanned afresh, as Lucene's default maxTokenLength does.

The whole thing is one compiled regular expression, so segmentation runs in C.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from indexer.analysis import _unicode_tables as u

MAX_TOKEN_LENGTH = 255  # Lucene's StandardAnalyzer.DEFAULT_MAX_TOKEN_LENGTH

Ranges = Sequence[tuple[int, int]]


def _union(*sets: Ranges) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(r for ranges in sets for r in ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _minus(ranges: Ranges, removed: Ranges) -> list[tuple[int, int]]:
    result: list[tuple[int, int]] = []
    cut = _union(removed)
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


def _cls(ranges: Ranges) -> str:
    """A regex character class for code point ranges."""
    parts = []
    for first, last in ranges:
        parts.append(f"\\U{first:08X}" if first == last else f"\\U{first:08X}-\\U{last:08X}")
    return "[" + "".join(parts) + "]"


# Emoji modifiers became Word_Break=Extend only in Unicode 11; Lucene 8's grammar (Unicode 9 word-break data)
# does not attach them to letters ("a🏻" is two tokens), only to emoji.
_EXT = _cls(_minus(_union(u.EXTEND, u.FORMAT, u.ZWJ), u.EMOJI_MODIFIER)) + "*"
_EXT_NO_ZWJ = _cls(_minus(_union(u.EXTEND, u.FORMAT), u.EMOJI_MODIFIER))

_HEBREW = _cls(u.HEBREW_LETTER) + _EXT
_DOUBLE_QUOTE = _cls(u.DOUBLE_QUOTE) + _EXT
_SINGLE_QUOTE = _cls(u.SINGLE_QUOTE) + _EXT
# A Hebrew letter also joins a following Hebrew letter across '"' and keeps a final "'" (WB7a-c).
_LETTER = f"(?:{_HEBREW}(?:{_DOUBLE_QUOTE}{_HEBREW})*(?:{_SINGLE_QUOTE})?|{_cls(u.ALETTER)}{_EXT})"
_NUMBER = _cls(u.NUMERIC) + _EXT
_KATAKANA = _cls(u.KATAKANA) + _EXT
_UNDERSCORE = _cls(u.EXTEND_NUM_LET) + _EXT
_MID_LETTER = _cls(_union(u.MID_LETTER, u.MID_NUM_LET, u.SINGLE_QUOTE)) + _EXT
_MID_NUMBER = _cls(_union(u.MID_NUM, u.MID_NUM_LET, u.SINGLE_QUOTE)) + _EXT

_LETTERS = f"{_LETTER}(?:{_MID_LETTER}{_LETTER})*"
_NUMBERS = f"{_NUMBER}(?:{_MID_NUMBER}{_NUMBER})*"
_UNIT = f"(?:(?:{_LETTERS}|{_NUMBERS})+|(?:{_KATAKANA})+)"
_WORD = f"(?:{_UNDERSCORE})*{_UNIT}(?:(?:{_UNDERSCORE})+{_UNIT})*(?:{_UNDERSCORE})*"

_PICTOGRAPH = _cls(_union(u.EXTENDED_PICTOGRAPHIC, u.EMOJI_MODIFIER))
_MODIFIER = _cls(u.EMOJI_MODIFIER)
_FLAG = _cls(u.REGIONAL_INDICATOR) + "{2}"
_KEYCAP = "[0-9#*]\\uFE0F?\\u20E3"
_EMOJI_ELEMENT = f"(?:{_FLAG}|{_PICTOGRAPH})"
_EMOJI = (
    f"(?:{_KEYCAP}|{_EMOJI_ELEMENT})"
    f"(?:{_EXT_NO_ZWJ}|{_MODIFIER}|\\u200D(?:{_EMOJI_ELEMENT})?)*"
)

_SOUTH_EAST_ASIAN = f"(?:{_cls(u.COMPLEX_CONTEXT)}{_EXT})+"
_IDEOGRAPH = _cls(u.HAN) + _EXT
_HIRAGANA = _cls(u.HIRAGANA) + _EXT

# Alternatives start on disjoint characters except digits (keycap emoji first, so "1️⃣" is one token).
TOKEN_PATTERN = re.compile(
    f"{_EMOJI}|{_WORD}|{_SOUTH_EAST_ASIAN}|{_IDEOGRAPH}|{_HIRAGANA}"
)


def _long_spans(text: str, pos: int) -> Iterator[tuple[int, int]]:
    """Spans from `pos` on, cutting over-long tokens and rescanning after each cut."""
    search = TOKEN_PATTERN.search
    while (match := search(text, pos)) is not None:
        start, end = match.span()
        if end - start > MAX_TOKEN_LENGTH:
            end = start + MAX_TOKEN_LENGTH
        yield start, end
        pos = end


def token_spans(text: str) -> Iterator[tuple[int, int]]:
    """[start, end) of every token of `text`, in order."""
    for match in TOKEN_PATTERN.finditer(text):
        start, end = match.span()
        if end - start > MAX_TOKEN_LENGTH:
            yield from _long_spans(text, start)
            return
        yield start, end


def token_strings(text: str) -> list[str]:
    """The tokens' text only: the fast path for indexing."""
    words = TOKEN_PATTERN.findall(text)
    if words and max(map(len, words)) > MAX_TOKEN_LENGTH:
        return [text[start:end] for start, end in _long_spans(text, 0)]
    return words
