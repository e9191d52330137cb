#!/usr/bin/env python3
"""Benchmark: what a write batch of the API costs on an index with vectors, and the readers' refresh in it.

    python -m evaluation.scripts.write_refresh ../shared/corpus/news/ant_multisource.jsonl.gz --articles 3000

Indexes the first ARTICLES articles of the corpus (`isnad index --no-embed`) into a fresh data directory,
gives every passage a random unit vector (what the vectors hold does not change what a refresh costs:
FAISS copies and syncs them all the same), then stores BATCHES batches of 3 new articles through the
server's own writer (`indexer.live_writer.ArticleWriter`) over the real stores, one at a time, every
fourth with a replacement and every fifth followed by a batch of vectors for the new passages, as the
background worker stores them. Prints the median and 90th percentile of a batch and of the readers'
refresh inside it (timed around `Stores.refresh`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 384  # the configured e5 model's


def _articles(corpus: Path, count: int) -> list[dict[str, str]]:
    records = []
    with gzip.open(corpus, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if number >= count:
                break
            raw = json.loads(line)
            records.append(
                {"id": f"ant-{number}", "title": raw["title"], "text": raw["text"], "source": raw["src"]}
            )
    return records


def _random_unit(rows: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((rows, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"median {statistics.median(ordered) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--articles", type=int, default=3000)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()

    from indexer.ingest.records import record_article
    from indexer.live_writer import ArticleWriter
    from indexer.pipeline import index_paths
    from indexer.settings import load_settings
    from indexer.stores import open_stores
    from indexer.stores.embedders import expected_name
    from indexer.stores.ledger import IndexLedger
    from indexer.stores.manifest import read_manifest, write_manifest
    from indexer.stores.sqlite_docstore import SQLiteDocumentStore

    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="isnad-write-refresh-") as folder:
        data = Path(folder) / "data"
        corpus = Path(folder) / "corpus.jsonl"
        records = _articles(args.corpus, args.articles)
        corpus.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
        )
        settings = load_settings(overrides={"data.dir": str(data)}, environ={})
        index_paths([str(corpus)], settings, embed=False, progress=False)
        docs = SQLiteDocumentStore(data / "documents.sqlite3")
        ledger = IndexLedger(docs)
        ids = [pid for pid, _ in ledger.passages_to_embed(10**9)]
        ledger.put_embeddings(ids, _random_unit(len(ids), rng))
        docs.close()
        write_manifest(data, {**read_manifest(data), "embedder": expected_name(settings), "dim": DIM})

        stores = open_stores(settings)
        writer = ArticleWriter(settings, stores)
        refreshes: list[float] = []
        refresh = stores.refresh

        def timed_refresh() -> bool:
            started = time.perf_counter()
            try:
                return refresh()
            finally:
                refreshes.append(time.perf_counter() - started)

        stores.refresh = timed_refresh  # type: ignore[method-assign]
        batches: list[float] = []
        for batch in range(args.batches):
            fresh = [{**records[(3 * batch + k) % len(records)], "id": f"new-{batch}-{k}"} for k in range(3)]
            items = [writer.prepare(record_article(r, "bench", None)) for r in fresh]
            if batch % 4 == 3:
                old = records[batch]
                items.append(
                    writer.prepare(record_article({**old, "title": old["title"] + " (معدل)"}, "bench", None))
                )
            started = time.perf_counter()
            writer.put(items)
            batches.append(time.perf_counter() - started)
            if batch % 5 == 4:
                pending = ledger_pending(writer)
                writer.put_embeddings(pending, _random_unit(len(pending), rng), 30.0)
                writer.publish(locked=False)
        print(
            f"{stores.vectors.count():,} vectors, {stores.docs.count_passages():,} passages; "
            f"{args.batches} write batches: {_quantiles(batches)}; readers' refresh: {_quantiles(refreshes)} "
            f"({len(refreshes)} refreshes)"
        )
        writer.close()
        stores.close()


def ledger_pending(writer: object) -> list[int]:
    return [pid for pid, _ in writer.ledger.passages_to_embed(10**6)]  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
