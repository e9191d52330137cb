#!/usr/bin/env python3
"""The embedded backend and the engine backend (OpenSearch, or ISNAD_ES_URL's server) side by side, in one run
on the same sample: indexing rate, search latency per mode, ask latency, and the engine node's heap and disk.

The same news articles are indexed into both (keyword-only, timed), then the embedded index with its
embeddings is moved into the engine (timed; nothing is embedded again), and the same ARCD questions are
asked of both through the app, one at a time, in process.

    make engine-node
    .venv/bin/python -m evaluation.scripts.engine_bench [--articles 3000] [--embed-articles 300] [--queries 100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "tests"))  # the node launcher the engine tests use

from es_server import Engine, LocalNode, describe, drop_indices

from evaluation import indexing
from evaluation.distractors import write_corpus_slice
from evaluation.loadgen import percentile
from evaluation.metrics import MODES
from indexer.pipeline import index_paths
from indexer.settings import load_settings
from webapp.services import services_of

SHARED = Path(os.environ.get("ISNAD_SHARED", PROJECT.parent / "shared"))  # as the tests find it


def rounded(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else round(milliseconds, 1)


def write_sample(path: Path, count: int, start: int = 0) -> Path:
    corpus = SHARED / "corpus" / "news" / "ant_multisource.jsonl.gz"
    return write_corpus_slice(indexing.read_articles(corpus), path, count, start)


def questions(count: int) -> list[str]:
    arcd = json.loads((SHARED / "eval" / "arcd.json").read_text(encoding="utf-8"))
    found = [qa["question"] for a in arcd["data"] for p in a["paragraphs"] for qa in p["qas"]]
    return found[:count]


def timed(label: str, settings: dict[str, Any], paths: Sequence[str], *, embed: bool) -> dict[str, Any]:
    started = time.perf_counter()
    report = index_paths(list(paths), settings, embed=embed, progress=False)
    seconds = time.perf_counter() - started
    print(f"  {label}: {report.indexed} articles, {report.embedded} embedded in {seconds:.1f} s", flush=True)
    return {
        "articles": report.indexed,
        "embedded": report.embedded,
        "seconds": round(seconds, 2),
        "articles_per_s": round(report.indexed / seconds, 1) if seconds else None,
    }


def latencies(settings: dict[str, Any], asked: list[str], ask_count: int) -> dict[str, Any]:
    from webapp.app import create_app

    app = create_app({"TESTING": True}, settings=settings)
    figures: dict[str, Any] = {}
    try:
        client = app.test_client()
        client.get("/api/v1/search", query_string={"q": asked[0], "mode": "hybrid"})  # load the model once
        for mode in MODES:
            times = []
            for question in asked:
                started = time.perf_counter()
                reply = client.get("/api/v1/search", query_string={"q": question, "mode": mode})
                times.append((time.perf_counter() - started) * 1000)
                assert reply.status_code == 200, reply.get_json()
            figures[f"search_{mode}_ms"] = {
                "p50": rounded(percentile(times, 50)),
                "p95": rounded(percentile(times, 95)),
            }
        times = []
        for question in asked[:ask_count]:
            started = time.perf_counter()
            reply = client.post("/api/v1/ask", json={"question": question})
            times.append((time.perf_counter() - started) * 1000)
            assert reply.status_code == 200, reply.get_json()
        figures["ask_ms"] = {"p50": rounded(percentile(times, 50)), "p95": rounded(percentile(times, 95))}
    finally:
        services_of(app).close()
    return figures


def node_figures(engine: Engine, alias: str) -> dict[str, Any]:
    client = engine.client()
    try:
        nodes = client.request("GET", "/_nodes/stats/jvm")["nodes"]
        heap = [node["jvm"]["mem"] for node in nodes.values()]
        stats = client.request("GET", f"/{alias}/_stats/store")["_all"]["primaries"]["store"]
    finally:
        client.close()
    return {
        "heap_used_mib": round(sum(h["heap_used_in_bytes"] for h in heap) / 2**20, 1),
        "heap_max_mib": round(sum(h["heap_max_in_bytes"] for h in heap) / 2**20, 1),
        "index_disk_mib": round(stats["size_in_bytes"] / 2**20, 1),
    }


def directory_mib(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--articles", type=int, default=3000, help="articles indexed keyword-only (default 3000)"
    )
    parser.add_argument(
        "--embed-articles",
        type=int,
        default=300,
        help="articles indexed with embeddings, then moved to the engine (default 300)",
    )
    parser.add_argument(
        "--queries", type=int, default=100, help="ARCD questions per search mode (default 100)"
    )
    parser.add_argument("--asks", type=int, default=30, help="questions asked (default 30)")
    parser.add_argument("--url", help="an engine already running (default: ISNAD_ES_URL, else start one)")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="isnad-engine-bench-"))
    node = None
    try:
        url = args.url or os.environ.get("ISNAD_ES_URL")
        if url is None:
            reason = LocalNode.missing()
            if reason:
                print(f"engine_bench: {reason}", file=sys.stderr)
                return 2
            node = LocalNode(work / "node-home")
            node.home.mkdir()
            node.start()
            url = node.url
        engine = describe(url)
        print(f"engine: {engine.backend} {engine.version} at {engine.url}", flush=True)
        alias, fresh_alias = (f"isnad-bench-{uuid.uuid4().hex[:8]}" for _ in range(2))
        keyword_sample = write_sample(work / "keyword.jsonl", args.articles)
        embed_sample = write_sample(work / "embed.jsonl", args.embed_articles, start=args.articles)
        embedded = load_settings(
            overrides={"store.backend": "embedded", "data.dir": str(work / "embedded")}, environ={}
        )
        report: dict[str, Any] = {
            "engine": {"backend": engine.backend, "version": engine.version},
            "articles": args.articles,
            "embed_articles": args.embed_articles,
            "queries": args.queries,
            "asks": args.asks,
        }
        try:
            print("indexing", flush=True)
            # Embedded first with embeddings (an embedding run embeds every passage still without a vector,
            # so the keyword-only articles come after it and stay unembedded on both sides).
            report["embedded_embed_index"] = timed(
                "embedded, with embeddings", embedded, [str(embed_sample)], embed=True
            )
            report["embedded_keyword_index"] = timed(
                "embedded, keyword only", embedded, [str(keyword_sample)], embed=False
            )
            fresh = engine.settings(
                **{"data.dir": str(work / "fresh-ledger"), "elasticsearch.index": fresh_alias}
            )
            report["engine_keyword_index"] = timed(
                f"{engine.backend}, keyword only", fresh, [str(keyword_sample)], embed=False
            )
            moved_dir = work / "moved"
            shutil.copytree(work / "embedded", moved_dir)
            moved = engine.settings(**{"data.dir": str(moved_dir), "elasticsearch.index": alias})
            report["engine_move"] = timed(
                f"moved into {engine.backend} (vectors from the ledger)", moved, [], embed=False
            )
            client = engine.client()
            try:  # a move reads no files, so the run's own count is 0: count what arrived
                report["engine_move"]["articles"] = client.count(alias, {"term": {"doc_type": "article"}})
                report["engine_move"]["vectors"] = client.count(alias, {"exists": {"field": "embedding"}})
            finally:
                client.close()
            move = report["engine_move"]
            move["articles_per_s"] = round(move["articles"] / move["seconds"], 1)
            report["embedded_data_dir_mib"] = directory_mib(work / "embedded")
            report["node"] = node_figures(engine, alias)
            asked = questions(args.queries)
            print("querying", flush=True)
            report["embedded_latency"] = latencies(embedded, asked, args.asks)
            report["engine_latency"] = latencies(
                engine.settings(**{"elasticsearch.index": alias}), asked, args.asks
            )
        finally:
            for name in (alias, fresh_alias):
                drop_indices(engine, name)
    finally:
        if node is not None:
            node.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(json.dumps(report, indent=2, ensure_ascii=False))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
