"""Highlighting query matches in the original text, by analyzer offsets, as escaped HTML.

Matching is done on analyzed terms, so the query صواريخ marks the whole written word بالصواريخ; the marks
are placed by the tokens' character offsets into the text as written, never by re-searching the text.
Everything outside the marks is HTML-escaped, so a snippet is safe to insert into a page as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from markupsafe import Markup, escape

from indexer.analysis import chain
from indexer.models import Token

Analyzer = Callable[[str], list[Token]]
Span = tuple[int, int]

SNIPPET_CHARS = 320  # about two lines of a result list; long enough to show a matched sentence
ELLIPSIS = "…"


def match_spans(
    text: str,
    terms: Iterable[str],
    phrases: Sequence[Sequence[str]],
    analyze: Analyzer,
    analyze_exact: Analyzer,
) -> list[Span]:
    """Character spans of `text` where a stemmed query term or an exact phrase occurs, merged, in order."""
    wanted = set(terms)
    spans: list[Span] = []
    if wanted and analyze is chain.analyze:
        spans.extend(chain.term_spans(text, wanted))  # the same spans, without a Token per word
    elif wanted:
        spans.extend((t.start, t.end) for t in analyze(text) if t.term in wanted)
    if phrases:
        exact = analyze_exact(text)
        exact_terms = [t.term for t in exact]
        for phrase in phrases:
            size = len(phrase)
            if not size:
                continue
            for i in range(len(exact) - size + 1):
                if exact_terms[i : i + size] == list(phrase):
                    spans.append((exact[i].start, exact[i + size - 1].end))
    return merge_spans(spans, text)


def merge_spans(spans: Iterable[Span], text: str) -> list[Span]:
    """Sort spans and join those that overlap or are separated only by whitespace (one mark per phrase)."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and (start <= merged[-1][1] or not text[merged[-1][1] : start].strip()):
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def best_window(text: str, spans: Sequence[Span], max_chars: int = SNIPPET_CHARS) -> Span:
    """The [start, end) window of at most about `max_chars` characters holding the most matches.

    The window starts a little before its first match so the match is read in context, and both ends
    are moved to word boundaries so no word is cut.
    """
    if len(text) <= max_chars:
        return 0, len(text)
    best_first, best_count = 0, 0
    for i, (start, _end) in enumerate(spans):
        count = sum(1 for s, e in spans[i:] if e - start <= max_chars)
        if count > best_count:
            best_first, best_count = i, count
    if not spans:
        start = 0
    else:
        # A quarter of the window before the first match gives it context without losing later matches.
        start = max(0, spans[best_first][0] - max_chars // 4)
    end = min(len(text), start + max_chars)
    if end == len(text):
        start = max(0, end - max_chars)
    return _to_word_boundary(text, start, forward=True), _to_word_boundary(text, end, forward=False)


def _to_word_boundary(text: str, index: int, forward: bool) -> int:
    """Move `index` to the nearest whitespace inside the window (or keep it at the text's edges)."""
    if index <= 0 or index >= len(text) or text[index - 1].isspace() or text[index].isspace():
        return index
    if forward:
        space = text.find(" ", index)
        return space + 1 if space != -1 else index
    space = text.rfind(" ", 0, index)
    return space if space > 0 else index


def render(text: str, spans: Sequence[Span], start: int = 0, end: int | None = None) -> Markup:
    """Escaped `text[start:end]` with <mark> around the spans inside it, and … where the text was cut."""
    end = len(text) if end is None else end
    parts: list[str] = [ELLIPSIS] if start > 0 else []
    cursor = start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start >= span_end:
            continue
        parts.append(str(escape(text[cursor:span_start])))
        parts.append(f"<mark>{escape(text[span_start:span_end])}</mark>")
        cursor = span_end
    parts.append(str(escape(text[cursor:end])))
    if end < len(text):
        parts.append(ELLIPSIS)
    return Markup("".join(parts).strip())


def snippet(
    text: str,
    terms: Iterable[str],
    phrases: Sequence[Sequence[str]],
    analyze: Analyzer,
    analyze_exact: Analyzer,
    max_chars: int = SNIPPET_CHARS,
) -> Markup:
    """The best window of `text` for the query, highlighted and escaped."""
    spans = match_spans(text, terms, phrases, analyze, analyze_exact)
    start, end = best_window(text, spans, max_chars)
    return render(text, spans, start, end)
