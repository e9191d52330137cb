"""Writing results: Markdown tables for people, JSON files for scripts and later comparison."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

Column = tuple[str, str, Callable[[Any], str]]  # key, header, how to print a value


def percent(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def decimal(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"


def number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def text(value: Any) -> str:
    return "–" if value is None else str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """A GitHub-flavoured Markdown table; numbers right-aligned."""
    header = "| " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "|" + "|".join("---" if fmt is text else "---:" for _, _, fmt in columns) + "|"
    body = ["| " + " | ".join(fmt(row.get(key)) for key, _, fmt in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


EVAL_COLUMNS: tuple[Column, ...] = (
    ("dataset", "dataset", text),
    ("mode", "mode", text),
    ("questions", "questions", number),
    ("recall@1", "R@1", percent),
    ("recall@5", "R@5", percent),
    ("recall@10", "R@10", percent),
    ("mrr@10", "MRR@10", decimal),
    ("answer_in_top5", "answer in top-5 passages", percent),
    ("asked", "asked", number),
    ("answer_in_answer", "answer in composed answer", percent),
    ("abstention_rate", "abstained", percent),
)


# The shipped answer model's held-out folds, as `make train-answers` measured them (answer_model.json).
ANSWER_MODEL_COLUMNS: tuple[Column, ...] = (
    ("held_out", "answer model, held-out set", text),
    ("threshold", "threshold", decimal),
    ("answerable", "answerable", number),
    ("right", "right", percent),
    ("abstained", "abstained", percent),
    ("unanswerable", "unanswerable", number),
    ("unanswerable_abstained", "refused", percent),
    ("unanswerable_absent_abstained", "refused, paragraph absent", percent),
    ("unanswerable_removed_abstained", "refused, answer removed", percent),
    ("unanswerable_offtopic_abstained", "refused, off-topic", percent),
)


FUSION_COLUMNS: tuple[Column, ...] = (
    ("dataset", "dataset (gold in top 5)", text),
    ("questions", "questions", number),
    ("both", "keyword and semantic", number),
    ("keyword_only", "keyword only", number),
    ("semantic_only", "semantic only", number),
    ("neither", "neither", number),
    ("hybrid", "hybrid", number),
    ("lost", "hybrid lost", number),
    ("gained", "hybrid gained", number),
)


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write JSON atomically, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
