"""The analysis chains: Lucene's ArabicAnalyzer (plus the alef wasla filter) and the unstemmed `exact` chain."""

from __future__ import annotations

from collections.abc import Collection
from itertools import compress
from typing import Any

from indexer.analysis.normalize import fold_alef_wasla, fold_digits, java_lower, normalize_arabic
from indexer.analysis.stem import stem_arabic
from indexer.analysis.stopwords import STOP_SET
from indexer.analysis.tokenizer import token_matches, token_spans, token_strings
from indexer.models import Token

# Per-word results are memoised: news vocabulary repeats heavily, so most tokens cost one dict lookup.
# The caches are cleared when they grow past this many words, bounding memory on endless input.
CACHE_LIMIT = 2_000_000

_full_cache: dict[str, str | None] = {}
_exact_cache: dict[str, str] = {}


def full_term(word: str) -> str | None:
    """ArabicAnalyzer's filters on one token: lowercase, digits, stop words (None), normalization, stemming."""
    term = fold_digits(java_lower(word))
    if term in STOP_SET:
        return None
    return stem_arabic(normalize_arabic(term))


def exact_term(word: str) -> str:
    """The exact chain's filters on one token: lowercase, digits, normalization."""
    return normalize_arabic(fold_digits(java_lower(word)))


def _full_cached(word: str) -> str | None:
    term = _full_cache.get(word, _MISSING)
    if term is _MISSING:
        if len(_full_cache) >= CACHE_LIMIT:
            _full_cache.clear()
        term = _full_cache[word] = full_term(word)
    return term  # type: ignore[return-value]


def _exact_cached(word: str) -> str:
    term = _exact_cache.get(word)
    if term is None:
        if len(_exact_cache) >= CACHE_LIMIT:
            _exact_cache.clear()
        term = _exact_cache[word] = exact_term(word)
    return term


_MISSING: object = object()


def _fill(cache: dict[str, Any], new: dict[str, Any]) -> None:
    """Add newly analysed words, first emptying a cache that reached its limit."""
    if len(cache) + len(new) > CACHE_LIMIT:
        cache.clear()
    cache.update(new)


def clear_caches() -> None:
    """Forget every memoised word (benchmarks use it to start cold)."""
    _full_cache.clear()
    _exact_cache.clear()


def cached_words() -> int:
    """How many distinct words the full chain has memoised."""
    return len(_full_cache)


def analyze(text: str) -> list[Token]:
    """Lucene ArabicAnalyzer tokens of `text`; offsets index `text`; stop words leave position gaps."""
    text = fold_alef_wasla(text)
    tokens = []
    for position, (start, end) in enumerate(token_spans(text)):
        term = _full_cached(text[start:end])
        if term is not None:
            tokens.append(Token(term, start, end, position))
    return tokens


def analyze_exact(text: str) -> list[Token]:
    """Unstemmed tokens with stop words kept: for quoted phrases."""
    text = fold_alef_wasla(text)
    return [
        Token(_exact_cached(text[start:end]), start, end, position)
        for position, (start, end) in enumerate(token_spans(text))
    ]


def term_spans(text: str, wanted: Collection[str]) -> list[tuple[int, int]]:
    """[start, end) of each token of `text` whose analyze() term is in `wanted`, in order: what highlighting
    asks of analyze(), without a Token for every word (most words of a passage are not the query's)."""
    text = fold_alef_wasla(text)
    found = token_matches(text)
    if found is None:  # an over-long token is cut and rescanned: the general path
        return [(t.start, t.end) for t in analyze(text) if t.term in wanted]
    words, matches = found
    keep = [term in wanted for term in _full_terms(words)]
    if not any(keep):
        return []
    return [match.span() for match in compress(matches, keep)]


def analyze_terms(text: str) -> list[str]:
    """The terms of analyze(text), without offsets or positions: the indexing fast path."""
    return [term for term in _full_terms(token_strings(fold_alef_wasla(text))) if term is not None]


def _full_terms(words: list[str]) -> list[str | None]:
    """The full chain's term of each word (None for a stop word), through the memo."""
    cache = _full_cache
    try:
        # The common case, a lookup per word in C; a word not seen before raises KeyError once.
        terms = list(map(cache.__getitem__, words))
    except KeyError:
        _fill(cache, {word: full_term(word) for word in set(words).difference(cache)})
        try:
            terms = list(map(cache.__getitem__, words))
        except KeyError:  # another thread cleared the cache in between
            terms = [_full_cached(word) for word in words]
    return terms


def analyze_exact_terms(text: str) -> list[str]:
    """The terms of analyze_exact(text), without offsets or positions."""
    words = token_strings(fold_alef_wasla(text))
    cache = _exact_cache
    try:
        return list(map(cache.__getitem__, words))
    except KeyError:
        _fill(cache, {word: exact_term(word) for word in set(words).difference(cache)})
        try:
            return list(map(cache.__getitem__, words))
        except KeyError:  # another thread cleared the cache in between
            return [_exact_cached(word) for word in words]
