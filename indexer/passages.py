"""Cut an article body into passages of roughly 40–120 words at paragraph, then sentence, then word boundaries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexer.models import Article, Passage

# A paragraph ends at a blank line; a sentence at . ! ? ؟ ؛ … (after any closing quotes) followed by space,
# or at a line end. A full stop between digits ("3.5") or letters ("أ.ف.ب") is not followed by space.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r]*\n\s*")
_SENTENCE_END = re.compile(r"[.!?؟؛…]+[\"'”’»)\]]*(?=\s)|\n")
_WORD = re.compile(r"\S+")


@dataclass(slots=True)
class _Unit:
    """A sentence (or a word-boundary slice of an over-long one): span in the body and its word count."""

    start: int
    end: int
    words: int
    paragraph_end: bool


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _paragraphs(text: str) -> list[tuple[int, int]]:
    spans, position = [], 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        spans.append((position, match.start()))
        position = match.end()
    spans.append((position, len(text)))
    return [span for span in (_trim(text, *s) for s in spans) if span[0] < span[1]]


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, position = [], start
    for match in _SENTENCE_END.finditer(text, start, end):
        spans.append((position, match.end()))
        position = match.end()
    spans.append((position, end))
    return [span for span in (_trim(text, *s) for s in spans) if span[0] < span[1]]


def _units(text: str, max_words: int) -> list[_Unit]:
    units: list[_Unit] = []
    for p_start, p_end in _paragraphs(text):
        sentences = _sentences(text, p_start, p_end)
        for index, (s_start, s_end) in enumerate(sentences):
            words = [m.span() for m in _WORD.finditer(text, s_start, s_end)]
            last = index == len(sentences) - 1
            # A sentence longer than a passage is cut at word boundaries into near-equal slices.
            slices = max(1, -(-len(words) // max_words))
            size = -(-len(words) // slices)
            for first in range(0, len(words), size):
                chunk = words[first : first + size]
                final = first + size >= len(words)
                units.append(_Unit(chunk[0][0], chunk[-1][1], len(chunk), last and final))
    return units


def split_passages(article: Article, min_words: int = 40, max_words: int = 120) -> list[Passage]:
    """Passages of about `min_words`–`max_words` words with [start, end) offsets into `article.text`.

    Cuts prefer paragraph ends, then sentence ends; a piece is closed at a paragraph end once it has
    `min_words`, and before a sentence that would take it past `max_words`. A short last piece joins the previous
    one. Each passage's text equals article.text[start:end] and has no surrounding whitespace.
    """
    if min_words < 1 or max_words < min_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words} and {max_words}")
    text = article.text
    pieces: list[list[int]] = []  # [start, end, words]
    current: list[int] | None = None
    for unit in _units(text, max_words):
        if current is not None and current[2] >= min_words and current[2] + unit.words > max_words:
            pieces.append(current)
            current = None
        if current is None:
            current = [unit.start, unit.end, unit.words]
        else:
            current[1], current[2] = unit.end, current[2] + unit.words
        if unit.paragraph_end and current[2] >= min_words:
            pieces.append(current)
            current = None
    if current is not None:
        if pieces and current[2] < min_words:
            pieces[-1][1], pieces[-1][2] = current[1], pieces[-1][2] + current[2]
        else:
            pieces.append(current)
    return [
        Passage(article_id=article.id, ordinal=ordinal, text=text[start:end], start=start, end=end)
        for ordinal, (start, end, _words) in enumerate(pieces)
    ]
