"""Malformed JSON is reported by `isnad index` in Python's own words followed by the column, read as a sentence
(it once said "Unterminated string starting at at column 21")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("name", "content", "origin"),
    [
        (
            "news.jsonl",
            '{"id": "a", "title": "خبر", "text": "نص الخبر"}\n{"id": "b", "text": "بلا نهاية',
            "news.jsonl:2",
        ),
        (
            "news.json",
            '[{"id": "a", "title": "خبر", "text": "نص الخبر"},\n {"id": "b", "text": "بلا نهاية',
            "news.json:2",
        ),
    ],
)
def test_an_unterminated_string_is_reported_with_its_line_and_column(
    tmp_path: Path, name: str, content: str, origin: str
) -> None:
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "--data-dir",
            str(tmp_path / "data"),
            "index",
            "--dry-run",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in run.stderr  # a broken .json array reads nothing, so it may exit 1
    assert f"{origin}: malformed json (Unterminated string starting at: column " in run.stderr
    assert "at at" not in run.stderr
