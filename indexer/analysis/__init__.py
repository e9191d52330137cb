"""Arabic text analysis identical to Lucene 8's ArabicAnalyzer, with character offsets into the original text.

analyze(text)        -> list[Token]  the full chain (what the keyword index stores)
analyze_exact(text)  -> list[Token]  no stop words, no stemming (quoted phrases)
analyze_terms(text), analyze_exact_terms(text) -> list[str]  the same terms, fast, for indexing
"""

from __future__ import annotations

from typing import Any

from indexer.analysis.chain import (
    analyze,
    analyze_exact,
    analyze_exact_terms,
    analyze_terms,
    exact_term,
    full_term,
)
from indexer.analysis.normalize import ALEF_WASLA_MAP
from indexer.analysis.stopwords import ARABIC_STOP_WORDS
from indexer.analysis.tokenizer import MAX_TOKEN_LENGTH

# Bump whenever any output of analyze / analyze_exact changes; index manifests record it.
ANALYZER_VERSION = "lucene-8.7-arabic+wasla/2"

# The chain as data, in order, so the Elasticsearch analyzer definition can be generated and checked from it.
# Names follow Elasticsearch's built-in tokenizer and token filters.
ANALYSIS_CHAIN: dict[str, Any] = {
    "char_filter": [{"type": "mapping", "mappings": [f"{k}=>{v}" for k, v in ALEF_WASLA_MAP.items()]}],
    "tokenizer": {"type": "standard", "max_token_length": MAX_TOKEN_LENGTH},
    "filter": [
        {"type": "lowercase"},
        {"type": "decimal_digit"},
        {"type": "stop", "stopwords": list(ARABIC_STOP_WORDS)},
        {"type": "arabic_normalization"},
        {"type": "arabic_stem"},
    ],
}

# The exact (phrase) chain: the same without the stop and stem filters.
EXACT_ANALYSIS_CHAIN: dict[str, Any] = {
    "char_filter": ANALYSIS_CHAIN["char_filter"],
    "tokenizer": ANALYSIS_CHAIN["tokenizer"],
    "filter": [{"type": "lowercase"}, {"type": "decimal_digit"}, {"type": "arabic_normalization"}],
}

__all__ = [
    "ANALYSIS_CHAIN",
    "ANALYZER_VERSION",
    "ARABIC_STOP_WORDS",
    "EXACT_ANALYSIS_CHAIN",
    "analyze",
    "analyze_exact",
    "analyze_exact_terms",
    "analyze_terms",
    "exact_term",
    "full_term",
]
