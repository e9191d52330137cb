"""Smoke test of `isnad bench` on a tiny corpus: real index, real `isnad serve` process, loopback HTTP."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from cli.main import main

CITIES = ["عمان", "الرياض", "القاهرة", "تونس", "بيروت", "الرباط"]
SUBJECTS = ["افتتاح مستشفى جديد", "ارتفاع أسعار الوقود", "مهرجان للكتاب", "أمطار غزيرة", "مباراة كرة القدم"]


def corpus_file(path: Path, count: int) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for n in range(count):
            city, subject = CITIES[n % len(CITIES)], SUBJECTS[n % len(SUBJECTS)]
            text = (
                f"شهدت مدينة {city} اليوم {subject} وسط اهتمام واسع من السكان. "
                f"وقال مسؤولون إن الحدث رقم {n} يأتي ضمن خطة تمتد عامين. "
                f"وأضافوا أن {subject} سيكون له أثر على الحياة اليومية في {city}."
            )
            handle.write(
                json.dumps(
                    {
                        "title": f"{subject} في {city}",
                        "text": text,
                        "src": f"مصدر {n % 3}",
                        "url": f"https://example.org/news/{n}",
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    return path


def test_bench_reports_indexing_latency_and_targets(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "--corpus",
            str(corpus_file(tmp_path / "news.jsonl.gz", 30)),
            "--articles",
            "24",
            "--embed-articles",
            "8",
            "--queries",
            "6",
            "--clients",
            "2",
            "--workers",
            "2",
            "--time-limit",
            "60",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| stage |" in printed and "search hybrid concurrent" in printed
    report = json.loads(out.read_text(encoding="utf-8"))

    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_gib"] > 0
    assert report["corpus"]["articles"] == 24
    assert report["corpus"]["embedded_articles"] == 8
    # Only the embedded subset has vectors: fewer vectors than passages, but some.
    assert 0 < report["corpus"]["vectors"] < report["corpus"]["passages"]
    indexing = report["indexing"]
    assert indexing["keyword_articles_per_s"] > 0 and indexing["embedding_passages_per_s_now"] > 0
    assert set(indexing["sizes_mib"]) == {"documents", "keyword", "vectors"}
    assert indexing["peak_rss_mib"] > 0

    # The vector search stage is also timed at the full passage count (vectors repeated to that size).
    scale = report["vector_search_at_full_count"]
    assert scale["vectors"] == report["corpus"]["passages"] and scale["p50_ms"] > 0

    stages = {row["stage"]: row for row in report["latency"]}
    assert list(stages) == [
        "search keyword",
        "search semantic",
        "search hybrid",
        "ask hybrid",
        "search hybrid concurrent",
        "search hybrid concurrent, 2 workers",
    ]
    for stage, row in stages.items():
        assert row["errors"] == 0, row.get("first_error")
        assert row["requests"] >= 6, stage
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert 0 < row["machine_busy_percent"] <= 100, stage
    assert stages["search hybrid concurrent"]["clients"] == 2
    assert stages["search hybrid concurrent, 2 workers"]["clients"] == 2
    assert report["server_memory"]["peak_rss_mib"] > 0
    # Two processes' memory, each at least what one server alone holds once loaded.
    one, two = (report["server_memory_by_workers"][n]["peak_rss_mib"] for n in ("1", "2"))
    assert two > one > 0
    targets = [check["target"] for check in report["targets"]]
    assert len(targets) == 7 and targets[-2].startswith("server: peak RSS")
    assert targets[-1].startswith("server, 2 workers (summed): peak RSS")
    assert all(isinstance(check["met"], bool) for check in report["targets"])
