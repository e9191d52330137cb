"""How much hybrid search's fusion could still gain per QA set, and whether per-question weights or per-list
depths gain it under cross-validation; reads the ranked lists `tune_fusion` gathered (same options).

Three parts, each per set of ../shared/eval, with the article length weight in force:

- headroom: questions keyword mode and semantic mode put first (both, only one, neither), what hybrid with
  the settings in force puts first, and gold articles holding none of the query's words while other
  articles do (matches are listed before related articles, so hybrid cannot put these first);
- z-score fusion at the depth in force for every convex weight α from 0 to 1, then α chosen per question
  from how clearly each list's leader stands out (the keyword list's z-score gap between its first two
  passages, the dense list's cosine gap and its best cosine): α = α0 + b x the signal standardized on the
  training sets, α0 and b tuned on the mean MRR@10 of two sets, figures on the third;
- with `--per-list-depths`: z-score fusion of the best `kd` keyword and `sd` dense passages, kd, sd in
  {50, 100, 200, 400} and α in {0.4, 0.5, 0.6}, tuned the same way.

    .venv/bin/python -m evaluation.scripts.fusion_headroom --shared ../shared --distractors 10000 --titles keep
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from evaluation.metrics import gold_rank
from evaluation.report import decimal, markdown_table, percent, text, write_json
from evaluation.scripts import tune_fusion as tf
from indexer.models import Hit
from indexer.settings import PROJECT_ROOT, load_settings
from indexer.stores.base import ArticleRef
from retrieval.fusion import FusionParams, Normalizer, normalized

ALPHA_STEP = 0.05
ALPHAS = tuple(round(ALPHA_STEP * n, 2) for n in range(21))  # 0 … 1
SLOPES = tuple(round(0.05 * n, 2) for n in range(-6, 7))  # -0.3 … 0.3 per standard deviation
LIST_DEPTHS = (50, 100, 200, 400)
DEPTH_ALPHAS = (0.4, 0.5, 0.6)
SIGNALS = ("keyword z gap", "dense cosine gap", "dense best cosine")

Ranks = list[int | None]


def reciprocal(rank: int | None) -> float:
    return 1.0 / rank if rank is not None and rank <= tf.RESULTS else 0.0


def set_means(values: Sequence[float], datasets: Sequence[str], keep: Sequence[str]) -> float:
    """Mean over the sets in `keep` of each set's mean (every set weighs the same, as in tune_fusion)."""
    means = []
    for name in keep:
        group = [v for v, d in zip(values, datasets, strict=True) if d == name]
        means.append(sum(group) / len(group))
    return sum(means) / len(means)


def headroom(
    prepared: Sequence[tf.Prepared],
    article_of: dict[int, ArticleRef],
    floor: float,
    params: FusionParams,
    names: Sequence[str],
) -> list[dict]:
    keyword = tf.rank_single(prepared, "keyword", article_of, floor, params.depth)
    semantic = tf.rank_single(prepared, "semantic", article_of, floor, params.depth)
    fused = tf.rank_hybrid(prepared, params, article_of, floor)
    rows = []
    for name in names:
        rows_of = [i for i, p in enumerate(prepared) if p.item.dataset == name]
        k = {i for i in rows_of if keyword[i] == 1}
        s = {i for i in rows_of if semantic[i] == 1}
        wordless = [
            i for i in rows_of if prepared[i].keyword and prepared[i].item.gold not in prepared[i].matched
        ]
        rows.append(
            {
                "dataset": name,
                "questions": len(rows_of),
                "keyword": len(k),
                "semantic": len(s),
                "both": len(k & s),
                "keyword only": len(k - s),
                "semantic only": len(s - k),
                "neither": len(rows_of) - len(k | s),
                "either": len(k | s),
                "either %": len(k | s) / len(rows_of),
                "hybrid": sum(1 for i in rows_of if fused[i] == 1),
                "gold without the words": len(wordless),
                "of those, semantic first": sum(1 for i in wordless if i in s),
            }
        )
    return rows


def signals(p: tf.Prepared, depth: int, floor: float) -> tuple[float, float, float]:
    """How clearly each list's leader stands out, from what fusion sees (the best `depth` of each list)."""
    keyword = [h.score for h in p.keyword[:depth]]
    dense = [h.score for h in p.semantic[:depth] if h.score >= floor]
    scale = Normalizer.fit(keyword, "zscore")
    keyword_gap = scale.scale(keyword[0]) - scale.scale(keyword[1]) if len(keyword) > 1 else 0.0
    dense_gap = dense[0] - dense[1] if len(dense) > 1 else 0.0
    return keyword_gap, dense_gap, dense[0] if dense else 0.0


def adaptive_folds(
    table: dict[float, Ranks], feature: Sequence[float], datasets: Sequence[str], names: Sequence[str]
) -> list[dict]:
    """Per held-out set: α0 and slope b tuned on the other two, α per question rounded to the table."""
    rr = {alpha: [reciprocal(r) for r in ranks] for alpha, ranks in table.items()}
    rows = []
    for held_out in names:
        training = [d for d in names if d != held_out]
        values = [f for f, d in zip(feature, datasets, strict=True) if d in training]
        mean = sum(values) / len(values)
        spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
        z = [(f - mean) / spread for f in feature]

        def alphas(a0: float, b: float, z: list[float] = z) -> list[float]:
            return [min(1.0, max(0.0, round(round((a0 + b * v) / ALPHA_STEP) * ALPHA_STEP, 2))) for v in z]

        def objective(per_question: list[float], keep: Sequence[str]) -> float:
            return set_means([rr[a][i] for i, a in enumerate(per_question)], datasets, keep)

        a0, b = max(
            itertools.product(ALPHAS, SLOPES), key=lambda ab: objective(alphas(*ab), training)
        )  # first of equals: grid order
        chosen = alphas(a0, b)
        ranks = [table[a][i] for i, a in enumerate(chosen)]
        rows.append(
            {"held_out": held_out, "setting": f"α0 {a0:g}, b {b:g}", **_scores(ranks, datasets, held_out)}
        )
    return rows


def _scores(ranks: Ranks, datasets: Sequence[str], name: str) -> dict[str, float]:
    group = [r for r, d in zip(ranks, datasets, strict=True) if d == name]
    return {
        "recall@1": sum(1 for r in group if r == 1) / len(group),
        "mrr@10": sum(reciprocal(r) for r in group) / len(group),
    }


def two_depth_page(
    p: tf.Prepared, keyword_depth: int, dense_depth: int, alpha: float, article_of: dict, floor: float
) -> list[str]:
    """`retrieval.fusion.hybrid` (z-score) with a depth of its own for each list; the same when equal."""
    head_keyword = p.keyword[:keyword_depth]
    head_dense = [h for h in p.semantic[:dense_depth] if h.score >= floor]
    fused = normalized([head_keyword, head_dense], method="zscore", weights=(alpha, 1 - alpha))
    keyword_scale = Normalizer.fit([h.score for h in head_keyword], "zscore")
    dense_absent = Normalizer.fit([h.score for h in head_dense], "zscore").absent
    seen = {h.passage_id for h in fused}
    for hit in p.keyword[keyword_depth:]:
        if hit.passage_id not in seen:
            seen.add(hit.passage_id)
            score = alpha * keyword_scale.scale(hit.score) + (1 - alpha) * dense_absent
            fused.append(Hit(hit.passage_id, score))
    return tf._article_ids(fused, article_of, p.matched)


def tuned_folds(results: dict[str, Ranks], datasets: Sequence[str], names: Sequence[str]) -> list[dict]:
    rows = []
    for held_out in names:
        training = [d for d in names if d != held_out]
        best = max(results, key=lambda s: set_means([reciprocal(r) for r in results[s]], datasets, training))
        rows.append({"held_out": held_out, "setting": best, **_scores(results[best], datasets, held_out)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=PROJECT_ROOT.parent / "shared")
    parser.add_argument("--distractors", type=int, default=10000)
    parser.add_argument("--titles", choices=("keep", "neutral"), default="keep")
    parser.add_argument("--per-list-depths", action="store_true", help="also sweep a depth per list")
    parser.add_argument("--out", type=Path, default=None, help="write every figure as JSON here")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    settings = load_settings()
    qa, gathered, article_of, _ = tf.weighted_lists(settings, args.shared, args.distractors, args.titles, log)
    floor = float(settings["search.semantic_min_score"])
    current = FusionParams.from_settings(settings)
    depths = sorted({current.depth, *(LIST_DEPTHS if args.per_list_depths else ())})
    prepared = tf.prepare(gathered, article_of, floor, depths)
    names = qa.datasets()
    datasets = [p.item.dataset for p in prepared]

    room = headroom(prepared, article_of, floor, current, names)
    log("z-score by α …")
    table: dict[float, Ranks] = {}
    for alpha in ALPHAS:
        params = FusionParams("zscore", current.depth, current.k, alpha, round(1 - alpha, 2))
        table[alpha] = tf.rank_hybrid(prepared, params, article_of, floor)
    curve = [
        {"alpha": alpha, **{name: _scores(ranks, datasets, name)["recall@1"] for name in names}}
        for alpha, ranks in table.items()
    ]
    fixed = tuned_folds({f"α {a:g}": r for a, r in table.items()}, datasets, names)
    features = [signals(p, current.depth, floor) for p in prepared]
    adaptive = {
        signal: adaptive_folds(table, [f[n] for f in features], datasets, names)
        for n, signal in enumerate(SIGNALS)
    }
    per_list: list[dict] = []
    if args.per_list_depths:
        log("a depth per list …")
        deepest = max(depths)
        results: dict[str, Ranks] = {}
        for kd, sd, alpha in itertools.product(LIST_DEPTHS, LIST_DEPTHS, DEPTH_ALPHAS):
            # The keyword cut for the deepest fused lists holds every passage a shallower fusion can list.
            results[f"keyword {kd}, dense {sd}, α {alpha:g}"] = [
                gold_rank(
                    two_depth_page(
                        tf.Prepared(p.item, p.keyword[: p.prefix[deepest]], p.semantic, p.matched, p.prefix),
                        kd,
                        sd,
                        alpha,
                        article_of,
                        floor,
                    ),
                    p.item.gold,
                )
                for p in prepared
            ]
        per_list = tuned_folds(results, datasets, names)

    count = lambda v: str(v)
    print(
        f"{len(prepared)} questions, {args.distractors} distractors, titles {args.titles}, depth {current.depth}; "
        f"rank 1 counts with the settings in force ({tf.describe(current)})\n"
    )
    print(
        markdown_table(
            room,
            (
                ("dataset", "dataset", text),
                ("questions", "questions", count),
                ("keyword", "keyword first", count),
                ("semantic", "semantic first", count),
                ("both", "both", count),
                ("keyword only", "keyword only", count),
                ("semantic only", "semantic only", count),
                ("neither", "neither", count),
                ("either %", "either (R@1 ceiling of choosing a mode)", percent),
                ("hybrid", "hybrid first", count),
                ("gold without the words", "gold holds no query word, others do", count),
                ("of those, semantic first", "of those, semantic first", count),
            ),
        )
    )
    print(f"\nz-score R@1 by α (keyword side), depth {current.depth}\n")
    print(markdown_table(curve, (("alpha", "α", lambda v: f"{v:g}"), *((n, n, percent) for n in names))))
    fold_columns = (
        ("held_out", "held out", text),
        ("setting", "setting (tuned on the other two)", text),
        ("recall@1", "R@1", percent),
        ("mrr@10", "MRR@10", decimal),
    )
    print("\none α for every question, tuned on the other two sets\n")
    print(markdown_table(fixed, fold_columns))
    for signal, rows in adaptive.items():
        print(f"\nα per question from the {signal}\n")
        print(markdown_table(rows, fold_columns))
    if per_list:
        print("\na depth per list, tuned on the other two sets\n")
        print(markdown_table(per_list, fold_columns))
    if args.out:
        write_json(
            args.out,
            {
                "command": " ".join(sys.argv),
                "distractors": args.distractors,
                "titles": args.titles,
                "headroom": room,
                "alpha_curve": curve,
                "fixed_alpha_folds": fixed,
                "adaptive_alpha_folds": adaptive,
                "per_list_depth_folds": per_list,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
