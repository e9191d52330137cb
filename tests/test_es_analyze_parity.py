"""The engine's own `_analyze`, with the index definition generated from ANALYSIS_CHAIN, gives the embedded
analyzer's terms on the seed pages, 20,000 news lines and the edge lines of the Lucene parity test.

Both analyzers of the index are checked (`isnad_arabic` for `text`, `isnad_exact` for quoted phrases):
a difference here means BM25 would count different terms in the two backends.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from es_server import Engine, drop_indices
from test_lucene_parity import EDGE_LINES, NEWS_SAMPLE_LINES, sample_news_lines, seed_lines

from indexer.analysis import analyze_exact_terms, analyze_terms

pytestmark = pytest.mark.es

# The engine refuses an _analyze request producing more than index.analyze.max_token_count tokens
# (10,000 by default); batches stay below it.
MAX_BATCH_TOKENS = 8000
ANALYZERS: dict[str, Callable[[str], list[str]]] = {
    "isnad_arabic": analyze_terms,
    "isnad_exact": analyze_exact_terms,
}


@pytest.fixture(scope="module")
def index(engine: Engine) -> Iterator[tuple[Engine, str]]:
    """A fresh index with Isnad's definition (the analyzers live in its settings)."""
    from indexer.stores.es.store import ElasticsearchBackend

    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    backend = ElasticsearchBackend(engine.settings(**{"elasticsearch.index": alias}))
    try:
        yield engine, backend.write_index()
    finally:
        backend.close()
        drop_indices(engine, alias)


def batches(lines: list[str], expected: list[list[str]]) -> Iterator[tuple[list[str], list[list[str]]]]:
    start, tokens = 0, 0
    for end, terms in enumerate(expected):
        if tokens + len(terms) > MAX_BATCH_TOKENS and end > start:
            yield lines[start:end], expected[start:end]
            start, tokens = end, 0
        tokens += len(terms)
    if start < len(lines):
        yield lines[start:], expected[start:]


def compare(index: tuple[Engine, str], lines: list[str]) -> int:
    """Assert the engine's terms equal the embedded ones for every line; returns the tokens compared."""
    engine, name = index
    client = engine.client()
    mismatches: list[str] = []
    compared = 0
    try:
        for analyzer, ours in ANALYZERS.items():
            expected = [ours(line) for line in lines]
            for batch, wanted in batches(lines, expected):
                # Several texts in one request: the engine analyzes each and lists the tokens in order.
                response = client.request(
                    "POST", f"/{name}/_analyze", body={"analyzer": analyzer, "text": batch}
                )
                got = [token["token"] for token in response["tokens"]]
                flat = [term for terms in wanted for term in terms]
                compared += len(got)
                if got == flat:
                    continue
                for line, terms in zip(batch, wanted, strict=True):  # find the lines that differ
                    theirs = [t["token"] for t in client.analyze(name, analyzer, line)]
                    if theirs != terms:
                        mismatches.append(
                            f"{analyzer} on {line[:160]!r}:\n  embedded: {terms[:12]}\n"
                            f"  {engine.backend}: {theirs[:12]}"
                        )
    finally:
        client.close()
    if mismatches:
        pytest.fail(
            f"{len(mismatches)} analyses differ from the embedded analyzer; first ones:\n"
            + "\n".join(mismatches[:8])
        )
    return compared


# Lines with emoji sequences (skin-tone modifiers U+1F3FB..U+1F3FF among them): the engines' Lucene 9
# tokenizer follows a newer Unicode word-break and emoji data than Lucene 8, which the embedded analyzer
# matches (test_lucene_parity.py), so it groups and keeps some emoji differently. Only these edge lines
# have such sequences; the seed pages and the news sample agree token for token.
MODIFIERS = {chr(code) for code in range(0x1F3FB, 0x1F400)}
EMOJI_LINES = [line for line in EDGE_LINES if MODIFIERS & set(line)]


def _words(tokens: list[str]) -> list[str]:
    """The tokens with emoji and other symbols taken out, empty ones dropped: the words they carry."""
    stripped = (
        "".join(char for char in token if unicodedata.category(char) not in ("So", "Sk")) for token in tokens
    )
    return [word for word in stripped if word]


def test_edge_lines_give_the_embedded_terms(index: tuple[Engine, str]) -> None:
    assert compare(index, [line for line in EDGE_LINES if line not in EMOJI_LINES]) > 0


def test_on_emoji_lines_the_words_are_the_same(index: tuple[Engine, str]) -> None:
    engine, name = index
    client = engine.client()
    try:
        for analyzer, ours in ANALYZERS.items():
            for line in EMOJI_LINES:
                embedded, theirs = ours(line), [t["token"] for t in client.analyze(name, analyzer, line)]
                assert _words(embedded) == _words(theirs), (analyzer, line, embedded, theirs)
    finally:
        client.close()


def test_seed_pages_give_the_embedded_terms(index: tuple[Engine, str], seeds_dir: Path) -> None:
    lines = seed_lines(seeds_dir)
    tokens = compare(index, lines)
    print(f"seeds: {len(lines)} lines, {tokens} tokens (both analyzers) identical to the embedded analyzer")


def test_news_sample_gives_the_embedded_terms(index: tuple[Engine, str], shared_dir: Path) -> None:
    news_dir = shared_dir / "corpus" / "news"
    if not any(news_dir.glob("*.jsonl.gz")):
        pytest.skip(f"news corpora not found in {news_dir}")
    lines = sample_news_lines(news_dir, NEWS_SAMPLE_LINES)
    tokens = compare(index, lines)
    print(
        f"news sample: {len(lines)} lines, {tokens} tokens (both analyzers) identical to the embedded analyzer"
    )
