"""BM25 on the engine agrees with the embedded index on a shared QA set: ARCD's paragraphs among news
distractors, indexed through the same pipeline into both, then ARCD's questions as keyword queries.

Both sides rank by Lucene's BM25 over the same terms, so each question's top 10 should be the same
passages with the same scores; the test prints the agreement it measured.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from es_server import Engine, drop_indices

from indexer.analysis import analyze_terms
from indexer.settings import load_settings
from indexer.stores.base import KeywordQuery

pytestmark = pytest.mark.es

DISTRACTORS = 1500  # news articles beside ARCD's paragraphs
QUESTIONS = 300
TOP = 10


def corpus_lines(shared: Path) -> Iterator[dict[str, Any]]:
    arcd = json.loads((shared / "eval" / "arcd.json").read_text(encoding="utf-8"))
    for a, article in enumerate(arcd["data"]):
        for p, paragraph in enumerate(article["paragraphs"]):
            yield {
                "id": f"arcd-{a}-{p}",
                "title": article["title"],
                "text": paragraph["context"],
                "source": "arcd",
            }
    with gzip.open(shared / "corpus" / "news" / "ant_multisource.jsonl.gz", "rt", encoding="utf-8") as handle:
        for n, raw in enumerate(handle):
            if n >= DISTRACTORS:
                break
            record = json.loads(raw)
            yield {
                "id": f"news-{n}",
                "title": record.get("title") or "",
                "text": record.get("text") or "",
                "source": record.get("source") or "news",
                "published": record.get("published"),
            }


def questions(shared: Path) -> list[str]:
    arcd = json.loads((shared / "eval" / "arcd.json").read_text(encoding="utf-8"))
    found = [
        qa["question"]
        for article in arcd["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    return found[:QUESTIONS]


def test_top_10_and_scores_agree_with_the_embedded_index(
    engine: Engine, shared_dir: Path, tmp_path: Path
) -> None:
    from indexer.pipeline import index_paths
    from indexer.stores import open_stores

    if not (shared_dir / "eval" / "arcd.json").exists():
        pytest.skip(f"ARCD not found in {shared_dir / 'eval'}")
    corpus = tmp_path / "qa-corpus.jsonl"
    corpus.write_text(
        "\n".join(json.dumps(line, ensure_ascii=False) for line in corpus_lines(shared_dir)), encoding="utf-8"
    )
    alias = f"isnad-test-{uuid.uuid4().hex[:12]}"
    sides = {
        "embedded": load_settings(
            overrides={"store.backend": "embedded", "data.dir": str(tmp_path / "embedded")}, environ={}
        ),
        engine.backend: engine.settings(
            **{"data.dir": str(tmp_path / "engine"), "elasticsearch.index": alias}
        ),
    }
    results: dict[str, list[list[tuple[int, float]]]] = {}
    try:
        for name, settings in sides.items():
            index_paths([str(corpus)], settings, embed=False, progress=False)
            stores = open_stores(settings, check=False)
            try:
                results[name] = [
                    [
                        (hit.passage_id, hit.score)
                        for hit in stores.keyword.search(
                            KeywordQuery(terms=tuple(analyze_terms(question))), TOP
                        ).hits
                    ]
                    for question in questions(shared_dir)
                ]
            finally:
                stores.close()
    finally:
        drop_indices(engine, alias)

    ours, theirs = results["embedded"], results[engine.backend]
    pairs = list(zip(ours, theirs, strict=True))
    same_order = sum(1 for a, b in pairs if _tie_blind(a) == _tie_blind(b))
    same_set = sum(1 for a, b in pairs if {p for p, _ in a} == {p for p, _ in b})
    differences = [abs(dict(b)[p] - s) / max(s, 1e-9) for a, b in pairs for p, s in a if p in dict(b)]
    close = sum(1 for d in differences if d < 1e-3)
    print(
        f"BM25 agreement on {len(pairs)} ARCD questions: top-{TOP} identical in order {same_order}, as a set "
        f"{same_set}; {close} of {len(differences)} passages in both lists scored within 0.1%, the largest "
        f"difference {max(differences, default=0.0):.1%}"
    )
    # Measured on 2026-12-01: 1 passage in 2,996 scored 2.1% apart (both engines keep a field's length in one
    # lossy byte; the encodings need not round alike), and scores that tie to float precision may swap or
    # cross the cut-off. The bounds allow that much and no more: beyond it the backends count differently.
    assert same_set >= 0.95 * len(pairs) and same_order >= 0.9 * len(pairs)
    assert close >= 0.95 * len(differences) and max(differences, default=0.0) < 0.05


def _tie_blind(hits: list[tuple[str, float]]) -> list[str]:
    """The passages in score order, equal scores (to 4 decimals) by id: where the engine and tantivy each
    break an exact tie by their own segment layout, which changes with the commit timing, not the counting."""
    return [passage for passage, _ in sorted(hits, key=lambda hit: (-round(hit[1], 4), hit[0]))]
