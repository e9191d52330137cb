"""Arabic light stemming with the rules of Lucene's ArabicStemFilter (Larkey, Ballesteros & Connell's light10)."""

from __future__ import annotations

# Light10 as Lucene applies it: strip at most one prefix (first match in this order), then try every suffix
# once, in this order, each against what is left. A stripped word keeps at least two letters; the one-letter
# prefix و needs a word of at least four letters. Source: Larkey et al., "Improving Stemming for Arabic
# Information Retrieval: Light Stemming and Co-occurrence Analysis" (SIGIR 2002), and Lucene's documented lists.
PREFIXES: tuple[str, ...] = ("ال", "وال", "بال", "كال", "فال", "لل", "و")
SUFFIXES: tuple[str, ...] = ("ها", "ان", "ات", "ون", "ين", "يه", "ية", "ه", "ة", "ي")


def stem_arabic(term: str) -> str:
    """Light-stem one normalized term."""
    # One C-level test each rules out most words before the ordered loops run.
    if term.startswith(PREFIXES):
        term = _strip_prefix(term)
    if term.endswith(SUFFIXES):
        term = _strip_suffixes(term)
    return term


def _strip_prefix(term: str) -> str:
    for prefix in PREFIXES:
        if term.startswith(prefix) and len(term) >= (4 if len(prefix) == 1 else len(prefix) + 2):
            return term[len(prefix) :]
    return term


def _strip_suffixes(term: str) -> str:
    for suffix in SUFFIXES:
        if len(term) >= len(suffix) + 2 and term.endswith(suffix):
            term = term[: -len(suffix)]
    return term
