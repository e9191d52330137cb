"""`isnad analyze`: plain and JSON output, --exact, standard input, and a clear error for non-UTF-8 input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_json_output_has_elasticsearch_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--json", "ذهب الطلابُ إلى ٱلمدرسة"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "tokens": [
            {"token": "ذهب", "start_offset": 0, "end_offset": 3, "position": 0},
            {"token": "طلاب", "start_offset": 4, "end_offset": 11, "position": 1},
            {"token": "مدرس", "start_offset": 16, "end_offset": 23, "position": 3},
        ]
    }


def test_exact_keeps_stop_words_and_does_not_stem(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--exact", "--json", "ذهب", "إلى", "المدرسة"]) == 0
    tokens = json.loads(capsys.readouterr().out)["tokens"]
    assert [t["token"] for t in tokens] == ["ذهب", "الي", "المدرسه"]
    assert [(t["start_offset"], t["end_offset"]) for t in tokens] == [(0, 3), (4, 7), (8, 15)]


def test_plain_output_one_token_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "في ٢٠١٨ كتــاب"]) == 0
    assert capsys.readouterr().out.splitlines() == ["1\t3-7\t2018\t(٢٠١٨)", "2\t8-14\tكتاب\t(كتــاب)"]


def test_reads_standard_input() -> None:
    result = run_cli("analyze", "--json", "-", stdin="السلام عليكم\nورحمة الله\n".encode())
    assert result.returncode == 0, result.stderr.decode()
    tokens = json.loads(result.stdout)["tokens"]
    assert [(t["token"], t["start_offset"], t["position"]) for t in tokens] == [
        ("سلام", 0, 0),
        ("عليكم", 7, 1),
        ("رحم", 13, 2),
        ("له", 19, 3),
    ]


def test_non_utf8_input_is_a_clear_error() -> None:
    result = run_cli("analyze", "-", stdin="كتاب".encode("cp1256"))
    assert result.returncode == 2
    assert "standard input is not UTF-8 text" in result.stderr.decode()
