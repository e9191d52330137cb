"""Choose `search.title_weight` by cross-validation over the three QA sets, with titles kept and neutral.

Passages are scored on one field holding the title and the passage; `search.title_weight` adds that many
times the BM25 of the title alone (0: none). For each weight of a grid, runs the keyword-mode evaluation of `isnad eval` (all questions of the three
SQuAD-format sets in ../shared/eval, their gold paragraphs among 10,000 news distractors; no embeddings
needed) twice: with the articles' titles (`--titles keep`) and with every title replaced by its source's
name (`--titles neutral`); the Lucene peer is ranked once per title variant. Then, for each set in turn,
picks the weight with the best mean MRR@10 over the other two sets and both title variants, and reports
that weight's figures on the held-out set. Prints Markdown tables; writes every figure as JSON.

    .venv/bin/python -m evaluation.scripts.tune_title_weight --shared ../shared --out eval-out/title_weight.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]

from evaluation.eval_run import EvalOptions, run_eval
from evaluation.report import decimal, markdown_table, percent, text, write_json
from indexer.settings import load_settings

GRID = (0.0, 0.1, 0.2, 0.3, 0.5)
QA_FILES = ("arcd.json", "tydiqa-goldp-dev-arabic.json", "mlqa-dev-context-ar-question-ar.json")
TITLES = ("keep", "neutral")
OBJECTIVE = "mrr@10"


def measure(shared: Path, weights: tuple[float, ...], distractors: int) -> list[dict[str, Any]]:
    """One row per (titles, system, weight, dataset) with R@1, R@5, R@10 and MRR@10."""
    settings = load_settings()
    rows: list[dict[str, Any]] = []
    for titles in TITLES:
        for n, weight in enumerate(weights):
            options = EvalOptions(
                qa_files=[shared / "eval" / name for name in QA_FILES],
                distractors=shared / "corpus" / "news" / "ant_multisource.jsonl.gz",
                distractor_limit=distractors,
                modes=("keyword",),
                ask_modes=(),
                titles=titles,
                peers=("lucene",) if n == 0 else (),
                log=lambda _: None,
            )
            report = run_eval(options, {**settings, "search.title_weight": weight})
            for row in report["results"]:
                system = "lucene" if row["mode"] == "lucene" else "keyword"
                rows.append(
                    {
                        "titles": titles,
                        "system": system,
                        "title_weight": None if system == "lucene" else weight,
                        "dataset": row["dataset"],
                        "questions": row["questions"],
                        **{k: row[k] for k in ("recall@1", "recall@5", "recall@10", "mrr@10")},
                    }
                )
            print(f"measured titles={titles} title_weight={weight}", file=sys.stderr, flush=True)
    return rows


def folds(rows: list[dict[str, Any]], weights: tuple[float, ...]) -> list[dict[str, Any]]:
    """Tune on two sets (mean objective over them and both title variants), report the third."""
    keyword = {(r["titles"], r["title_weight"], r["dataset"]): r for r in rows if r["system"] == "keyword"}
    lucene = {(r["titles"], r["dataset"]): r for r in rows if r["system"] == "lucene"}
    datasets = [name.removesuffix(".json") for name in QA_FILES]
    out: list[dict[str, Any]] = []
    for held_out in datasets:
        training = [d for d in datasets if d != held_out]

        def score(weight: float, training: list[str] = training) -> float:
            values = [keyword[(t, weight, d)][OBJECTIVE] for t in TITLES for d in training]
            return sum(values) / len(values)

        best = max(weights, key=lambda w: (score(w), -w))  # ties go to the smaller title weight
        for titles in TITLES:
            row = keyword[(titles, best, held_out)]
            peer = lucene[(titles, held_out)]
            out.append(
                {
                    "held_out": held_out,
                    "trained_on": " + ".join(training),
                    "title_weight": best,
                    "train_mean_mrr": round(score(best), 4),
                    "titles": titles,
                    **{k: row[k] for k in ("recall@1", "recall@5", "mrr@10")},
                    **{f"lucene_{k}": peer[k] for k in ("recall@1", "recall@5", "mrr@10")},
                }
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=PROJECT.parent / "shared")
    parser.add_argument("--distractors", type=int, default=10000)
    parser.add_argument("--weights", default=",".join(str(w) for w in GRID))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    weights = tuple(float(w) for w in args.weights.split(","))
    rows = measure(args.shared, weights, args.distractors)
    fold_rows = folds(rows, weights)
    number = lambda v: "–" if v is None else f"{v:g}"
    print(
        markdown_table(
            rows,
            (
                ("titles", "titles", text),
                ("system", "system", text),
                ("title_weight", "title weight", number),
                ("dataset", "dataset", text),
                ("recall@1", "R@1", percent),
                ("recall@5", "R@5", percent),
                ("recall@10", "R@10", percent),
                ("mrr@10", "MRR@10", decimal),
            ),
        )
    )
    print()
    print(
        markdown_table(
            fold_rows,
            (
                ("held_out", "held out", text),
                ("trained_on", "tuned on", text),
                ("title_weight", "chosen weight", number),
                ("titles", "titles", text),
                ("recall@1", "R@1", percent),
                ("recall@5", "R@5", percent),
                ("mrr@10", "MRR@10", decimal),
                ("lucene_recall@1", "Lucene R@1", percent),
                ("lucene_recall@5", "Lucene R@5", percent),
                ("lucene_mrr@10", "Lucene MRR@10", decimal),
            ),
        )
    )
    if args.out:
        write_json(
            args.out,
            {
                "command": " ".join(sys.argv),
                "objective": OBJECTIVE,
                "grid": list(weights),
                "rows": rows,
                "folds": fold_rows,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
