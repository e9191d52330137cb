"""Draw the answer model's held-out calibration and threshold curves as one SVG (README "Answers").

Reads the report `make train-answers` writes (eval-out/answer-training.json: its `reliability` table and
threshold `curve`, both out of fold) and writes docs/answer-calibration.svg, plain SVG with no plotting
library. Left: the best sentence's probability against how often that answer was right, with the diagonal
a perfectly calibrated model would follow. Right: right / abstained / unanswerable refused by threshold.

    .venv/bin/python -m evaluation.scripts.answer_chart [--report eval-out/answer-training.json] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 760, 380
PANEL = 260  # each plot's side, in pixels
MARGIN_LEFT, MARGIN_TOP = 60, 40
GAP = 120  # between the two panels
SERIES = (
    ("right", "#1f6f3f", "right"),
    ("abstained", "#b5651d", "answerable abstained"),
    ("unanswerable_abstained", "#3355aa", "unanswerable refused"),
)


def _x(left: float, value: float, span: float = 1.0) -> float:
    return left + PANEL * value / span


def _y(value: float) -> float:
    return MARGIN_TOP + PANEL * (1.0 - value)


def _axes(left: float, title: str, x_label: str, y_label: str, x_span: float) -> list[str]:
    parts = [
        f'<rect x="{left}" y="{MARGIN_TOP}" width="{PANEL}" height="{PANEL}" fill="none" stroke="#888"/>',
        (
            f'<text x="{left + PANEL / 2}" y="{MARGIN_TOP - 14}" text-anchor="middle" font-weight="bold">'
            f"{title}</text>"
        ),
        f'<text x="{left + PANEL / 2}" y="{MARGIN_TOP + PANEL + 34}" text-anchor="middle">{x_label}</text>',
        (
            f'<text x="{left - 42}" y="{MARGIN_TOP + PANEL / 2}" text-anchor="middle" '
            f'transform="rotate(-90 {left - 42} {MARGIN_TOP + PANEL / 2})">{y_label}</text>'
        ),
    ]
    for step in range(6):
        value = step / 5
        y = _y(value)
        x = _x(left, value * x_span, x_span)
        parts += [
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + PANEL}" y2="{y:.1f}" stroke="#eee"/>',
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{int(value * 100)}%</text>',
            f'<text x="{x:.1f}" y="{MARGIN_TOP + PANEL + 16}" text-anchor="middle">{value * x_span:.1f}</text>',
        ]
    return parts


def _polyline(points: Sequence[tuple[float, float]], colour: str, dashed: bool = False) -> str:
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dash = ' stroke-dasharray="4 4"' if dashed else ""
    return f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'


def chart(report: dict[str, Any]) -> str:
    """The SVG text for a training report."""
    reliability, curve = report["reliability"], report["curve"]
    threshold = float(report["out_of_fold"]["threshold"])
    left, right = MARGIN_LEFT, MARGIN_LEFT + PANEL + GAP
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'font-family="sans-serif" font-size="11">'
        ),
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    parts += _axes(left, "calibration (held-out folds)", "best sentence's probability", "answers right", 1.0)
    parts.append(_polyline([(_x(left, 0), _y(0)), (_x(left, 1), _y(1))], "#aaa", dashed=True))
    points = [(_x(left, row["mean_probability"]), _y(row["right"])) for row in reliability]
    parts.append(_polyline(points, "#1f6f3f"))
    for (x, y), row in zip(points, reliability, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{2 + min(row["cases"], 4000) / 800:.1f}" '
            f'fill="#1f6f3f"><title>{row["cases"]} cases</title></circle>'
        )
    span = 1.0  # the curve stops at 0.9: above it almost every question abstains
    parts += _axes(right, "by threshold (held-out folds)", "abstention threshold", "share of questions", span)
    for key, colour, label in SERIES:
        parts.append(
            _polyline([(_x(right, row["threshold"], span), _y(row[key] or 0.0)) for row in curve], colour)
        )
    marker = _x(right, threshold, span)
    parts.append(
        f'<line x1="{marker:.1f}" y1="{MARGIN_TOP}" x2="{marker:.1f}" y2="{MARGIN_TOP + PANEL}" '
        f'stroke="#444" stroke-dasharray="2 3"/>'
    )
    parts.append(f'<text x="{marker + 3:.1f}" y="{MARGIN_TOP + 12}">{threshold:.2f}</text>')
    for n, (_, colour, label) in enumerate(SERIES):
        y = MARGIN_TOP + PANEL + 52
        x = right + n * 130 - 100
        parts += [
            f'<rect x="{x}" y="{y - 8}" width="10" height="10" fill="{colour}"/>',
            f'<text x="{x + 14}" y="{y + 1}">{label}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=PROJECT / "eval-out" / "answer-training.json")
    parser.add_argument("--out", type=Path, default=PROJECT / "docs" / "answer-calibration.svg")
    args = parser.parse_args(argv)
    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
        svg = chart(report)
    except FileNotFoundError:
        print(f"{args.report}: not found; run `make train-answers` first", file=sys.stderr)
        return 2
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        print(f"{args.report}: not a training report ({type(error).__name__}: {error})", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(svg, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
