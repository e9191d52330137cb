"""Choose `search.article_length_weight` by cross-validation over the three QA sets, titles kept and neutral.

Keyword mode scores passages; `search.article_length_weight` divides each passage's BM25 by its article's
number of passages to that power (retrieval/article_length.py), the article-level length normalization
that whole-document BM25 (the Lucene peer) has. Every question of the three SQuAD-format sets in
../shared/eval is searched once in keyword mode over the keyword-only evaluation index of `isnad eval`
(gold paragraphs among 10,000 news distractors; no embeddings needed), with both title variants, and
ranked once by the Lucene peer. Each weight of the grid is then applied offline with the product's own
function and page order. For each set in turn, the weight with the best mean MRR@10 over the other two
sets and both title variants is reported on the held-out set, beside Lucene. Then, at the default weight,
the same pages collapsed as the API's `collapse=copy` and `collapse=story` would show them (what `isnad
eval --collapse` changes). Prints Markdown tables; writes every figure as JSON.

    .venv/bin/python -m evaluation.scripts.tune_length_weight --shared ../shared --out eval-out/length_weight.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

from evaluation.eval_run import EvalOptions, build_eval_index
from evaluation.indexing import all_articles
from evaluation.lucene_peer import lucene_command, lucene_rankings
from evaluation.metrics import gold_rank
from evaluation.report import decimal, markdown_table, percent, text, write_json
from evaluation.scripts.tune_fusion import (
    QA_FILES,
    Gathered,
    Prepared,
    _article_ids,
    figures,
    passage_counts,
    wide_retriever,
    with_length_weight,
)
from evaluation.squad import load_qa_files
from indexer.grouping.store import GroupStore
from indexer.models import Hit
from indexer.settings import PROJECT_ROOT, load_settings
from indexer.stores import open_stores
from indexer.stores.base import ArticleRef
from retrieval import stories
from retrieval.query import parse_query
from retrieval.search import Filters

GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
TITLES = ("keep", "neutral")
OBJECTIVE = "mrr@10"
FORMAT = 1


def gather(shared: Path, titles: str, distractors: int, log: Any) -> tuple[list[Gathered], dict, dict, Path]:
    """Each question's raw keyword list (the retriever's, length weight 0), Lucene's articles, and the
    passage counts of every listed article; cached beside the index."""
    settings = load_settings()
    qa_files = [shared / "eval" / name for name in QA_FILES]
    options = EvalOptions(
        qa_files=qa_files,
        distractors=shared / "corpus" / "news" / "ant_multisource.jsonl.gz",
        distractor_limit=distractors,
        modes=("keyword",),
        ask_modes=(),
        titles=titles,
        log=log,
    )
    qa = load_qa_files(qa_files)
    data_dir = build_eval_index(options, settings, qa)
    built = json.loads((data_dir.parent / "complete.json").read_text())["built"]
    path = data_dir.parent / f"length-lists-{FORMAT}-{settings['search.title_weight']}.json.gz"
    if path.is_file():
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        if data["built"] == built:
            log(f"keyword lists ({titles}): cached in {path}")
            questions = [
                Gathered(**{**q, "keyword": [tuple(h) for h in q["keyword"]]}) for q in data["questions"]
            ]
            cached = {int(p): ArticleRef(*ref) for p, ref in data["articles"].items()}
            return questions, cached, data["counts"], data_dir
    run_settings = {**settings, "data.dir": str(data_dir)}
    stores = open_stores(run_settings)
    articles: dict[int, ArticleRef] = {}
    gathered = []
    try:
        retriever = wide_retriever(stores, settings, int(settings["search.candidates"]))
        for n, question in enumerate(qa.questions, start=1):
            found = retriever.retrieve(parse_query(question.text), "keyword", Filters(), with_facets=False)
            articles.update((c.passage, c.article) for c in found.candidates)
            keyword = [(c.passage, c.score) for c in found.candidates]
            gathered.append(
                Gathered(question.dataset, question.id, question.gold_article_id, keyword, [], [])
            )
            if n % 500 == 0:
                log(f"keyword lists ({titles}): {n}/{len(qa.questions)} questions")
        counts = passage_counts(stores, articles)
    finally:
        stores.close()
    log(f"ranking the questions with the Lucene peer ({titles}) …")
    corpus = all_articles(run_settings)
    rankings = lucene_rankings(
        lucene_command(options.cache_root),
        ((a.id, a.title, a.text) for a in corpus.values()),
        [q.text for q in qa.questions],
        depth=10,
    )
    for item, ranking in zip(gathered, rankings, strict=True):
        item.lucene = ranking
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(
            {
                "built": built,
                "questions": [
                    {
                        f: getattr(g, f)
                        for f in ("dataset", "question_id", "gold", "keyword", "semantic", "lucene")
                    }
                    for g in gathered
                ],
                "articles": {str(p): [a.id, a.source, a.published] for p, a in articles.items()},
                "counts": counts,
            },
            handle,
            ensure_ascii=False,
        )
    return gathered, articles, counts, data_dir


def keyword_ranks(gathered: list[Gathered], articles: dict[int, ArticleRef]) -> list[int | None]:
    """The gold article's rank on keyword mode's first page."""
    return [
        gold_rank(_article_ids([Hit(p, s) for p, s in g.keyword], articles, None), g.gold) for g in gathered
    ]


def collapsed_ranks(
    gathered: list[Gathered], articles: dict[int, ArticleRef], data_dir: Path, how: str
) -> list[int | None]:
    """The gold's rank when keyword mode's articles are collapsed as the API's `collapse=` does: one result
    per copy group or story, its best-ranked article; a gold collapsed under another counts as not found."""
    groups = GroupStore.open_reader(data_dir)
    ranks = []
    try:
        for g in gathered:
            order = list(dict.fromkeys(articles[p].id for p, _ in g.keyword))
            rows = groups.rows(order) if groups is not None and how != "none" else {}
            leads = [entry.lead for entry in stories.collapse(order, lambda a: a, rows, how)]
            ranks.append(gold_rank(leads, g.gold))
    finally:
        if groups is not None:
            groups.close()
    return ranks


def as_prepared(gathered: list[Gathered]) -> list[Prepared]:
    return [Prepared(g, [], [], frozenset(), {}) for g in gathered]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=PROJECT_ROOT.parent / "shared")
    parser.add_argument("--distractors", type=int, default=10000)
    parser.add_argument("--out", type=Path, default=None, help="write every figure as JSON here")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results: dict[tuple[str, Any], dict] = {}  # (titles, weight or "lucene") -> figures per dataset
    datasets: list[str] = []
    collapse_rows: list[dict[str, Any]] = []
    for titles in TITLES:
        gathered, articles, counts, data_dir = gather(args.shared, titles, args.distractors, log)
        datasets = list(dict.fromkeys(g.dataset for g in gathered))
        prepared = as_prepared(gathered)
        lucene = [gold_rank(g.lucene, g.gold) for g in gathered]
        results[(titles, "lucene")] = figures(prepared, lucene, datasets)
        for weight in GRID:
            scaled = with_length_weight(gathered, articles, counts, weight)
            results[(titles, weight)] = figures(prepared, keyword_ranks(scaled, articles), datasets)
        # What collapsing would do to these figures (isnad eval asks with collapse=none), at the default weight.
        scaled = with_length_weight(
            gathered, articles, counts, float(load_settings()["search.article_length_weight"])
        )
        for how in stories.COLLAPSE:
            found = figures(prepared, collapsed_ranks(scaled, articles, data_dir, how), datasets)
            collapse_rows += [
                {"titles": titles, "collapse": how, "dataset": d, **found[d]} for d in (*datasets, "all")
            ]

    def mean(weight: float, training: list[str]) -> float:
        values = [results[(t, weight)][d][OBJECTIVE] for t in TITLES for d in training]
        return sum(values) / len(values)

    fold_rows = []
    for held_out in datasets:
        training = [d for d in datasets if d != held_out]
        best = max(GRID, key=lambda w: mean(w, training))  # first of equals: the smaller weight
        for titles in TITLES:
            for system, key in (
                (f"keyword, weight {best:g}", best),
                ("keyword, weight 0", 0.0),
                ("lucene", "lucene"),
            ):
                fold_rows.append(
                    {
                        "held_out": held_out,
                        "titles": titles,
                        "system": system,
                        "chosen": best,
                        **results[(titles, key)][held_out],
                    }
                )
    grid_rows = [
        {"titles": t, "weight": "lucene" if w == "lucene" else f"{w:g}", "dataset": d, **results[(t, w)][d]}
        for t in TITLES
        for w in ("lucene", *GRID)
        for d in (*datasets, "all")
    ]
    columns = (("recall@1", "R@1", percent), ("recall@5", "R@5", percent), ("mrr@10", "MRR@10", decimal))
    overall = max(GRID, key=lambda w: mean(w, datasets))
    print(
        f"{args.distractors} distractors; folds tuned on mean {OBJECTIVE} of the other two sets, both title variants\n"
    )
    print(
        markdown_table(
            fold_rows,
            (
                ("held_out", "held out", text),
                ("titles", "titles", text),
                ("system", "system", text),
                *columns,
            ),
        )
    )
    print(f"\ntuned on all three sets: weight {overall:g}\n")
    print(
        markdown_table(
            collapse_rows,
            (
                ("titles", "titles", text),
                ("collapse", "collapse", text),
                ("dataset", "dataset", text),
                *columns,
            ),
        )
        + "\n"
    )
    print(
        markdown_table(
            grid_rows,
            (("titles", "titles", text), ("weight", "weight", text), ("dataset", "dataset", text), *columns),
        )
    )
    if args.out:
        write_json(
            args.out,
            {
                "command": " ".join(sys.argv),
                "distractors": args.distractors,
                "grid": list(GRID),
                "objective": OBJECTIVE,
                "chosen_on_all": overall,
                "folds": fold_rows,
                "collapse": collapse_rows,
                "grid_rows": grid_rows,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
