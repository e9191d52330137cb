"""Where one query's session run goes: the onnx graphs under other session settings, and per operator.

`isnad bench --embedding-only --query-sessions` calls this after the engines' own timings. For each graph the
onnx engines loaded (fp32, int8, ...), the same query feeds are run one at a time on sessions that differ
from the configured one by a single setting: one intra-op thread, spinning pool threads, basic instead of
full graph optimization. All sessions take turns on each query (rotating order), so a change in the
machine's load is shared by all. Then one profiled session per graph gives each operator type's share of
the kernel time (ONNX Runtime's profiler, on the optimized graph the session actually runs).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Log = Callable[[str], None]


def _configured(embedder: Any, ort: Any) -> Any:
    """The options as the embedder sets them."""
    return embedder.session_options(ort)


def _one_thread(embedder: Any, ort: Any) -> Any:
    options = embedder.session_options(ort)
    options.intra_op_num_threads = 1
    return options


def _spinning(embedder: Any, ort: Any) -> Any:
    return embedder.session_options(ort, spinning=True)


def _basic_optimization(embedder: Any, ort: Any) -> Any:
    options = embedder.session_options(ort)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return options


Variant = Callable[[Any, Any], Any]
VARIANTS: dict[str, Variant] = {
    "configured": _configured,
    "1 thread": _one_thread,
    "spinning threads": _spinning,
    "basic optimization": _basic_optimization,
}
WARM_UP = 10


def _graphs(embedders: Sequence[Any]) -> dict[str, Path]:
    """Each distinct graph (by precision) that an onnx engine loaded from its cache folder."""
    graphs: dict[str, Path] = {}
    for embedder in embedders:
        for precision, path in getattr(embedder, "graph_paths", {}).items():
            graphs.setdefault(precision, path)
    return graphs


def _session(ort: Any, embedder: Any, path: Path, variant: Variant, profile: str = "") -> Any:
    options = variant(embedder, ort)
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _operator_shares(profile_file: str) -> dict[str, float]:
    """Share of kernel time per operator type, from an ONNX Runtime profile (JSON trace events)."""
    totals: dict[str, float] = defaultdict(float)
    for event in json.loads(Path(profile_file).read_text(encoding="utf-8")):
        if event.get("cat") == "Node" and str(event.get("name", "")).endswith("_kernel_time"):
            totals[str(event.get("args", {}).get("op_name", "?"))] += float(event.get("dur", 0))
    whole = sum(totals.values()) or 1.0
    return {op: round(dur / whole, 3) for op, dur in sorted(totals.items(), key=lambda kv: -kv[1])}


def measure_sessions(embedders: Sequence[Any], queries: Sequence[str], log: Log) -> dict[str, Any]:
    """Session-run latency (ms) per graph and variant, and each graph's operator shares."""
    import onnxruntime as ort

    graphs = _graphs(embedders)
    if not graphs or not queries:
        return {}
    embedder = embedders[0]  # every onnx engine tokenizes and gathers the same feeds
    feeds = [embedder.query_feeds(query) for query in queries]
    sessions = {
        (precision, name): _session(ort, embedder, path, variant)
        for precision, path in graphs.items()
        for name, variant in VARIANTS.items()
    }
    log(f"query sessions: {len(sessions)} sessions, {len(queries)} queries each, in turns …")
    times: dict[tuple[str, str], list[float]] = {key: [] for key in sessions}
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in sessions}
    keys = list(sessions)
    warming = feeds[:WARM_UP]  # the first runs of a session allocate its buffers: not timed
    for turn, feed in enumerate([*warming, *feeds]):
        shift = turn % len(keys)
        for key in keys[shift:] + keys[:shift]:
            began, used = time.perf_counter(), time.process_time()
            sessions[key].run(["pooled"], feed)
            if turn >= len(warming):
                times[key].append(1000 * (time.perf_counter() - began))
                cpu[key].append(1000 * (time.process_time() - used))
    del sessions
    result: dict[str, Any] = {}
    for precision, path in graphs.items():
        variants = {
            variant: {
                "run_ms_p50": round(statistics.median(times[(precision, variant)]), 2),
                "run_ms_p95": round(float(np.percentile(times[(precision, variant)], 95)), 2),
                "run_cpu_ms_p50": round(statistics.median(cpu[(precision, variant)]), 2),
            }
            for variant in VARIANTS
        }
        with tempfile.TemporaryDirectory(prefix="isnad-profile-") as scratch:
            profiled = _session(ort, embedder, path, _configured, profile=str(Path(scratch) / "query"))
            for feed in feeds:
                profiled.run(["pooled"], feed)
            shares = _operator_shares(profiled.end_profiling())
        result[precision] = {"variants": variants, "operator_shares": shares}
    return result


def sessions_table(figures: dict[str, Any]) -> str:
    """Markdown: one row per graph and variant, with the largest operator shares of the graph."""
    lines = [
        "| graph | session variant | run p50 (ms) | run p95 (ms) | CPU p50 (ms, all threads) |",
        "|---|---|---:|---:|---:|",
    ]
    for precision, graph in figures.items():
        for variant, timing in graph["variants"].items():
            lines.append(
                f"| {precision} | {variant} | {timing['run_ms_p50']:.2f} | {timing['run_ms_p95']:.2f} "
                f"| {timing['run_cpu_ms_p50']:.2f} |"
            )
    lines += ["", "| graph | kernel time by operator (profiled, configured session) |", "|---|---|"]
    for precision, graph in figures.items():
        top = ", ".join(f"{op} {share:.0%}" for op, share in list(graph["operator_shares"].items())[:6])
        lines.append(f"| {precision} | {top} |")
    return "\n".join(lines)
