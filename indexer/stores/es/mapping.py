"""The Elasticsearch index definition: config/elasticsearch/index.json, whose analysis is generated.

The analysis section is generated from `indexer.analysis.ANALYSIS_CHAIN` and `EXACT_ANALYSIS_CHAIN`,
the data description of the embedded analyzer, so both backends tokenize alike from one source of
truth. `python -m indexer.stores.es.mapping` rewrites the committed file after the chain changes, and
a test fails while the file and the chain disagree.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from indexer.analysis import ANALYSIS_CHAIN, EXACT_ANALYSIS_CHAIN
from indexer.settings import PROJECT_ROOT
from indexer.stores.es.errors import ElasticsearchStoreError

INDEX_FILE = PROJECT_ROOT / "config" / "elasticsearch" / "index.json"
ANALYZER = "isnad_arabic"  # the full chain: what `text` is indexed with
EXACT_ANALYZER = "isnad_exact"  # no stop words, no stemming: `text.exact`, for quoted phrases
PREFIX = "isnad_"


def _component_name(step: Mapping[str, Any]) -> str:
    return PREFIX + str(step["type"])


def _register(section: dict[str, Any], step: Mapping[str, Any]) -> str:
    """Add a step's definition under its name, refusing two different definitions for one name."""
    name = _component_name(step)
    if section.setdefault(name, dict(step)) != dict(step):
        raise ValueError(
            f"two different {step['type']!r} steps in the analysis chains; give them distinct types"
        )
    return name


def analysis_section(
    chain: Mapping[str, Any] = ANALYSIS_CHAIN, exact_chain: Mapping[str, Any] = EXACT_ANALYSIS_CHAIN
) -> dict[str, Any]:
    """Elasticsearch `settings.analysis` for both chains: every step a named component, in the chain's order."""
    section: dict[str, Any] = {"char_filter": {}, "tokenizer": {}, "filter": {}, "analyzer": {}}
    for analyzer_name, description in ((ANALYZER, chain), (EXACT_ANALYZER, exact_chain)):
        section["analyzer"][analyzer_name] = {
            "type": "custom",
            "char_filter": [_register(section["char_filter"], step) for step in description["char_filter"]],
            "tokenizer": _register(section["tokenizer"], description["tokenizer"]),
            "filter": [_register(section["filter"], step) for step in description["filter"]],
        }
    return section


def analyzer_steps(analysis: Mapping[str, Any], analyzer: str) -> dict[str, Any]:
    """An analyzer of an index definition resolved back into the chain's own shape (steps with parameters)."""
    spec = analysis["analyzer"][analyzer]
    return {
        "char_filter": [analysis["char_filter"][name] for name in spec.get("char_filter", [])],
        "tokenizer": analysis["tokenizer"][spec["tokenizer"]],
        "filter": [analysis["filter"][name] for name in spec.get("filter", [])],
    }


def read_definition(path: Path = INDEX_FILE) -> dict[str, Any]:
    """The committed index definition, with a clear error when missing or not valid JSON."""
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ElasticsearchStoreError(
            f"Elasticsearch index definition not found at {path}: install Isnad from its source tree "
            "(pip install -e '.[es]') so config/ is present"
        ) from None
    except json.JSONDecodeError as error:
        raise ElasticsearchStoreError(f"{path}: invalid JSON: {error}") from None
    for key in ("settings", "mappings"):
        if not isinstance(definition.get(key), dict):
            raise ElasticsearchStoreError(f"{path}: the index definition has no {key!r} object")
    return dict(definition)


def index_definition(shards: int = 1, replicas: int = 0, path: Path = INDEX_FILE) -> dict[str, Any]:
    """The body of a create-index request: the committed definition with the configured shard layout."""
    definition = copy.deepcopy(read_definition(path))
    definition["settings"].setdefault("index", {})
    definition["settings"]["index"]["number_of_shards"] = shards
    definition["settings"]["index"]["number_of_replicas"] = replicas
    return definition


def bm25_scale(definition: Mapping[str, Any] | None = None) -> float:
    """What the engines' BM25 scores are divided by to equal the embedded index's: k1 + 1.

    Elasticsearch and OpenSearch score "BM25" with Lucene's LegacyBM25Similarity, which multiplies every
    term's weight by (k1 + 1); tantivy, like Lucene 9's BM25Similarity, leaves that constant out. Rankings
    are the same either way; dividing makes the scores (and so the API's) equal too.
    """
    definition = definition if definition is not None else read_definition()
    similarity = definition["settings"].get("index", {}).get("similarity", {}).get("default", {})
    return 1.0 + float(similarity.get("k1", 1.2))  # 1.2 is Lucene's default k1


def regenerate(path: Path = INDEX_FILE) -> str:
    """The committed file's text with its analysis section generated afresh from the chains."""
    definition = read_definition(path)
    definition["settings"]["analysis"] = analysis_section()
    return json.dumps(definition, ensure_ascii=False, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Regenerate the analysis section of the ES index definition."
    )
    parser.add_argument("--check", action="store_true", help="only report whether the file is up to date")
    args = parser.parse_args(argv)
    text = regenerate()
    if INDEX_FILE.read_text(encoding="utf-8") == text:
        print(f"{INDEX_FILE}: up to date")
        return 0
    if args.check:
        print(
            f"{INDEX_FILE}: analysis differs from indexer.analysis; run python -m indexer.stores.es.mapping"
        )
        return 1
    INDEX_FILE.write_text(text, encoding="utf-8")
    print(f"{INDEX_FILE}: analysis regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
