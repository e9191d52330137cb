"""Splitting Arabic news text into sentences with their character spans, for extractive answers."""

from __future__ import annotations

import re

# A sentence ends at . ! ? and their Arabic forms (؟ U+061F, ۔ U+06D4, … U+2026) when whitespace or the
# end of the text follows, optionally after closing quotes or brackets; or at a line break. Requiring the
# space keeps "3.5", "(أ.ب)" and URLs in one piece.
_END = re.compile(r"[.!?؟۔…]+[\"'»”)\]]*(?=\s|$)|\n+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of the sentences of `text`, trimmed of surrounding whitespace, in order."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for match in _END.finditer(text):
        end = match.end() if match.group().strip() else match.start()
        _append_trimmed(text, cursor, end, spans)
        cursor = match.end()
    _append_trimmed(text, cursor, len(text), spans)
    return spans


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))
