"""`isnad search` and `isnad ask` as a user runs them: text and --json output, exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def isnad(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "--data-dir", str(data_dir), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_search_prints_results_with_marked_words_and_json(indexed_seeds_dir: Path) -> None:
    text = isnad(indexed_seeds_dir, "search", "صواريخ", "--mode", "keyword", "--size", "2")
    assert text.returncode == 0, text.stderr
    assert "articles (keyword" in text.stdout
    assert "[الصواريخ]" in text.stdout or "[بالصواريخ]" in text.stdout or "[صواريخ]" in text.stdout
    as_json = isnad(indexed_seeds_dir, "search", '"كوريا الشمالية"', "--json", "--size", "3")
    body = json.loads(as_json.stdout)
    assert body["total"] >= 1 and len(body["results"]) <= 3
    assert all("<mark>" in r["snippet"] + r["title_html"] for r in body["results"])


def test_search_bad_input_exits_2_with_the_reason(indexed_seeds_dir: Path) -> None:
    result = isnad(indexed_seeds_dir, "search", "   ")
    assert result.returncode == 2
    assert "'q' is empty" in result.stderr


def test_ask_prints_the_answer_and_numbered_sources(indexed_seeds_dir: Path) -> None:
    result = isnad(indexed_seeds_dir, "ask", "متى وصل كيم جونغ أون إلى روسيا؟")
    assert result.returncode == 0, result.stderr
    answer, _, sources = result.stdout.partition("المصادر:")
    assert "[1]" in answer and "الثلاثاء" in answer
    assert sources.strip().startswith("[1] ")
