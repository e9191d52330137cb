"""The calibration chart script draws a training report as SVG and names a missing or foreign report."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from evaluation.scripts import answer_chart


def report() -> dict[str, object]:
    reliability = [
        {
            "from": b / 10,
            "to": (b + 1) / 10,
            "cases": 10 * (b + 1),
            "mean_probability": b / 10 + 0.05,
            "right": min(1.0, b / 10 + 0.1),
        }
        for b in range(10)
    ]
    curve = [
        {
            "threshold": t / 20,
            "right": 0.7 - t / 40,
            "abstained": t / 25,
            "unanswerable_abstained": min(1.0, t / 10),
        }
        for t in range(19)
    ]
    return {"reliability": reliability, "curve": curve, "out_of_fold": {"threshold": 0.14}}


def test_a_report_becomes_an_svg_with_both_panels(tmp_path: Path) -> None:
    source = tmp_path / "training.json"
    source.write_text(json.dumps(report()), encoding="utf-8")
    out = tmp_path / "chart.svg"
    assert answer_chart.main(["--report", str(source), "--out", str(out)]) == 0
    svg = ElementTree.parse(out).getroot()  # well-formed XML
    lines = svg.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 5  # the diagonal, calibration, and three threshold series
    assert len(svg.findall("{http://www.w3.org/2000/svg}circle")) == 10  # one dot per probability bin
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "0.14" in texts and "unanswerable refused" in texts


def test_a_missing_or_foreign_report_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        answer_chart.main(["--report", str(tmp_path / "absent.json"), "--out", str(tmp_path / "c.svg")]) == 2
    )
    assert "absent.json: not found; run `make train-answers`" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"version": "x"}), encoding="utf-8")
    assert answer_chart.main(["--report", str(other), "--out", str(tmp_path / "c.svg")]) == 2
    assert "other.json: not a training report" in capsys.readouterr().err
    assert not (tmp_path / "c.svg").exists()
