#!/usr/bin/env python3
"""Where a request's time goes: the benchmark's queries replayed in process, with the share of each step.

Sends the queries `isnad bench` draws from its cached index through the app (Flask's test client, so no
HTTP and no other client: the figures are the server's own work) in each search mode and as questions,
under cProfile, and prints for each stage the time per request and the project's functions (and the
native calls FAISS, ONNX Runtime and tantivy make) that take the most of it. Each stage is first timed
without the profiler, `--rounds` times (wall clock and this process's CPU time a request, run by run): on
a shared machine the wall clock moves with other jobs' load, the CPU time much less. Each stage runs on a
newly opened app, so its first run reads the stores' rows cold and the later ones find them cached.

    .venv/bin/python -m evaluation.scripts.request_profile [.cache/isnad-bench/index-<key>] [--queries 50]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
import urllib.parse
from collections.abc import Callable
from functools import partial
from pathlib import Path

from flask.testing import FlaskClient

from evaluation import indexing
from evaluation.queries import draw_queries
from evaluation.scripts.ask_evidence import newest_bench_index

PROJECT = Path(__file__).resolve().parents[2]
# Functions worth naming: ours, and the libraries' entry points where native work happens.
NAMED = ("/retrieval/", "/indexer/", "/webapp/services", "faiss", "onnxruntime", "tantivy")
WARMUP = 5


def profile(call: Callable[[], None], requests: int) -> tuple[float, pstats.Stats]:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    call()
    profiler.disable()
    return (time.perf_counter() - started) * 1000 / requests, pstats.Stats(profiler)


def unprofiled(call: Callable[[], None], requests: int, rounds: int) -> list[tuple[float, float]]:
    """(wall ms, CPU ms) a request without the profiler, for each of `rounds` runs in turn."""
    figures = []
    for _ in range(rounds):
        started, used = time.perf_counter(), time.process_time()
        call()
        wall, cpu = time.perf_counter() - started, time.process_time() - used
        figures.append((wall * 1000 / requests, cpu * 1000 / requests))
    return figures


def top_steps(stats: pstats.Stats, requests: int, most: int) -> list[tuple[float, str]]:
    """(ms per request, function) for the named functions with the largest cumulative time."""
    rows = []
    for (filename, line, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{line}({name})"
        if any(part in where for part in NAMED) and "request_profile" not in filename:
            short = where.removeprefix(f"{PROJECT}/").split("site-packages/")[-1]
            rows.append((cumulative * 1000 / requests, short))
    return sorted(rows, reverse=True)[:most]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path, nargs="?", help="a cached benchmark folder (default: the newest)")
    parser.add_argument("--queries", type=int, default=50, help="queries per stage (default 50)")
    parser.add_argument("--most", type=int, default=14, help="steps listed per stage (default 14)")
    parser.add_argument("--rounds", type=int, default=2, help="unprofiled runs a stage (default 2)")
    args = parser.parse_args()
    folder = args.index or newest_bench_index()
    articles = list(indexing.read_articles(folder / "embedded.jsonl"))
    # The warm-up queries are not among the measured ones, so a stage's first run reads its rows cold.
    drawn = draw_queries(articles, args.queries + WARMUP)
    queries, warmup = drawn[:-WARMUP], drawn[-WARMUP:]

    from webapp.app import create_app
    from webapp.services import services_of

    def search(client: FlaskClient, mode: str) -> Callable[[list[str]], None]:
        def run(queries: list[str]) -> None:
            for query in queries:
                reply = client.get("/api/v1/search?" + urllib.parse.urlencode({"q": query, "mode": mode}))
                if reply.status_code != 200:
                    raise SystemExit(
                        f"search {mode} {query!r}: HTTP {reply.status_code} {reply.data[:200]!r}"
                    )

        return run

    def ask(client: FlaskClient) -> Callable[[list[str]], None]:
        def run(queries: list[str]) -> None:
            for query in queries:
                reply = client.post("/api/v1/ask", json={"question": query, "mode": "hybrid"})
                if reply.status_code != 200:
                    raise SystemExit(f"ask {query!r}: HTTP {reply.status_code} {reply.data[:200]!r}")

        return run

    stages: dict[str, Callable[[FlaskClient], Callable[[list[str]], None]]] = {
        f"search {m}": partial(search, mode=m) for m in ("keyword", "semantic", "hybrid")
    } | {"ask hybrid": ask}
    print(f"{folder.name}: {len(queries)} queries a stage, in process (cProfile adds a little to each)")
    for stage, make in stages.items():
        # A new app a stage: its stores' row caches start empty, as a server's do, and no stage reads rows
        # an earlier stage's same queries cached (the HTTP bench runs its stages on one server).
        app = create_app({"data.dir": str(folder / "data"), "limits.enabled": False})
        run = make(app.test_client())
        run(warmup)  # loads lazily opened graphs
        figures = unprofiled(partial(run, queries), len(queries), args.rounds)
        per_request, stats = profile(partial(run, queries), len(queries))
        rounds = ", ".join(f"{wall:.1f} ms wall {cpu:.1f} CPU" for wall, cpu in figures)
        print(f"\n{stage}: {per_request:.1f} ms a request profiled; unprofiled run by run: {rounds}")
        for milliseconds, where in top_steps(stats, len(queries), args.most):
            print(f"  {milliseconds:7.1f} ms  {where}")
        services_of(app).close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
