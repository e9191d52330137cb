"""Choose hybrid search's fusion by cross-validation over the three QA sets, from ranked lists gathered once.

Every question of the three SQuAD-format sets in ../shared/eval is searched once over the cached evaluation
index of `isnad eval` (gold paragraphs among N news distractors, every passage embedded): its keyword list
(every matching passage up to the exact-count limit, with BM25 scores) and its dense list (the best
passages by cosine, floor not applied yet) are kept, with real Lucene's article ranking (the `--peers
lucene` program). Fusion is then swept offline through the product's own code — `retrieval.fusion.hybrid`,
then grouping into articles and matches before related articles as the search API does — so one setting
costs a second, not a server run:

- RRF: k x depth per list x keyword weight (semantic weight 1);
- min-max and z-score normalized scores: convex weight α of the keyword side x depth per list.

For each set in turn the best setting of each family (mean MRR@10 over the other two sets) is reported on
the held-out set, beside keyword and semantic mode, the current settings, Lucene and RRF(Lucene, e5) (k 60
over Lucene's articles and e5's articles by best passage). The family with the best held-out MRR@10 over
the three folds wins; its setting tuned on all three sets is printed as the defaults to use. With the
default settings, the offline figures equal `isnad eval`'s (the same code ranks them).

    .venv/bin/python -m evaluation.scripts.tune_fusion --shared ../shared --distractors 1000 --out eval-out/fusion.json

`--combine a.json b.json` tunes the folds over several such runs at once (titles kept and neutral), as the
defaults are chosen: settings that do well with both title variants, not the best of one.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evaluation.eval_run import EvalOptions, build_eval_index, missing_gold
from evaluation.lucene_peer import lucene_command, lucene_rankings
from evaluation.metrics import Outcome, gold_rank, summarise
from evaluation.report import decimal, markdown_table, percent, text, write_json
from evaluation.squad import QASet, Question, load_qa_files
from indexer.analysis import analyze, analyze_exact
from indexer.models import Hit
from indexer.settings import PROJECT_ROOT, load_settings
from indexer.stores.base import ArticleRef, Stores
from retrieval import article_length
from retrieval.fusion import METHODS, FusionParams, hybrid, rrf
from retrieval.query import parse_query
from retrieval.search import Candidate, Filters, Retriever, group_by_article, split_related

QA_FILES = ("arcd.json", "tydiqa-goldp-dev-arabic.json", "mlqa-dev-context-ar-question-ar.json")
OBJECTIVE = "mrr@10"
RESULTS = 10  # the first page, as `isnad eval` scores it
DEPTHS = (20, 50, 100, 200)
RRF_KS = (5, 10, 20, 40, 60, 100)
RRF_KEYWORD_WEIGHTS = (0.5, 0.75, 1.0, 1.25, 1.5)
ALPHAS = tuple(round(0.1 * n, 1) for n in range(1, 10))  # 0.1 … 0.9
GATHER_DEPTH = 400  # dense passages kept per question: deeper than any depth swept
PEER_DEPTH = 200  # Lucene articles kept per question, as deep as the product's lists
FORMAT = 1  # of the gathered-lists file


@dataclass(slots=True)
class Gathered:
    """One question's ranked lists: (passage id, score) best first, and Lucene's article ids."""

    dataset: str
    question_id: str
    gold: str
    keyword: list[tuple[int, float]]
    semantic: list[tuple[int, float]]
    lucene: list[str]


# -- gathering (once per index) --------------------------------------------------------------------------


def _lists_path(folder: Path, settings: dict[str, Any], depth: int) -> Path:
    """Cached beside the index, keyed by what changes the lists (the index build, scoring, model)."""
    parts: dict[str, Any] = {
        "format": FORMAT,
        "depth": depth,
        "built": json.loads((folder / "complete.json").read_text())["built"],
        **{
            k: settings[k]
            for k in ("search.title_weight", "embedder.backend", "embedder.model", "embedder.precision")
            if k in settings
        },
    }
    key = hashlib.blake2b(json.dumps(parts, sort_keys=True).encode(), digest_size=6).hexdigest()
    return folder / f"fusion-lists-{key}.json.gz"


def wide_retriever(stores: Stores, settings: dict[str, Any], depth: int) -> Retriever:
    """The product's retriever fetching `depth` dense passages and keeping those below the semantic floor,
    with keyword scores not yet normalized by article length: the floor and the length weight are applied
    offline (`with_length_weight`), where they decide what the lists admit and in which order."""
    wide = {
        **settings,
        "search.candidates": depth,
        "search.semantic_min_score": -1.0,
        "search.article_length_weight": 0.0,
    }
    return Retriever(stores, wide, analyze, analyze_exact)


def passage_counts(stores: Stores, articles: dict[int, ArticleRef]) -> dict[str, int]:
    """Passages per article of every listed passage, as the retriever reads them."""
    return stores.docs.passage_counts({a.id for a in articles.values()})


def with_length_weight(
    gathered: Sequence[Gathered], articles: dict[int, ArticleRef], counts: dict[str, int], weight: float
) -> list[Gathered]:
    """The keyword lists rescored and re-sorted by article length exactly as the retriever does."""
    out = []
    for item in gathered:
        hits = article_length.normalize([Hit(p, s) for p, s in item.keyword], articles, counts, weight)
        keyword = [(h.passage_id, h.score) for h in hits]
        out.append(Gathered(item.dataset, item.question_id, item.gold, keyword, item.semantic, item.lucene))
    return out


def question_lists(
    retriever: Retriever, text: str, articles: dict[int, ArticleRef]
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """A query's keyword and dense lists as hybrid search fuses them, recording each passage's article."""
    query = parse_query(text)
    lists = []
    for mode in ("keyword", "semantic"):
        candidates = retriever.retrieve(query, mode, Filters(), with_facets=False).candidates
        articles.update((c.passage, c.article) for c in candidates)
        lists.append([(c.passage, c.score) for c in candidates])
    return lists[0], lists[1]


def gather(
    data_dir: Path,
    settings: dict[str, Any],
    questions: Sequence[Question],
    depth: int,
    cache_root: Path,
    log: Any,
) -> tuple[list[Gathered], dict[int, ArticleRef]]:
    """Every question's keyword and dense lists from the index (the retriever's own code), and Lucene's."""
    path = _lists_path(data_dir.parent, settings, depth)
    if path.is_file():
        log(f"ranked lists: cached in {path}")
        return _read_lists(path)
    from indexer.stores import open_stores

    stores = open_stores({**settings, "data.dir": str(data_dir)})
    retriever = wide_retriever(stores, settings, depth)
    gathered: list[Gathered] = []
    articles: dict[int, ArticleRef] = {}
    started = time.perf_counter()
    try:
        for n, question in enumerate(questions, start=1):
            keyword, semantic = question_lists(retriever, question.text, articles)
            gathered.append(
                Gathered(question.dataset, question.id, question.gold_article_id, keyword, semantic, [])
            )
            if n % 200 == 0:
                log(f"gathered {n}/{len(questions)} questions, {time.perf_counter() - started:.0f} s")
    finally:
        stores.close()
    log("ranking the questions with the Lucene peer …")
    from evaluation.indexing import all_articles

    corpus = all_articles({**settings, "data.dir": str(data_dir)})
    rankings = lucene_rankings(
        lucene_command(cache_root),
        ((a.id, a.title, a.text) for a in corpus.values()),
        [q.text for q in questions],
        depth=PEER_DEPTH,
    )
    for item, ranking in zip(gathered, rankings, strict=True):
        item.lucene = ranking
    _write_lists(path, gathered, articles)
    log(f"ranked lists written to {path}")
    return gathered, articles


def weighted_lists(
    settings: dict[str, Any], shared: Path, distractors: int, titles: str, log: Callable[[str], None]
) -> tuple[QASet, list[Gathered], dict[int, ArticleRef], Path]:
    """What every sweep reads: the three shared QA sets, each question's wide keyword and dense lists from
    the eval index of their gold paragraphs among `distractors` news articles (built or cached), and the
    passages' articles; keyword scores already divided by article length as the API divides them. Last, the
    index folder."""
    qa_files = [shared / "eval" / name for name in QA_FILES]
    options = EvalOptions(
        qa_files=qa_files,
        distractors=shared / "corpus" / "news" / "ant_multisource.jsonl.gz",
        distractor_limit=distractors,
        modes=("keyword", "semantic", "hybrid"),
        ask_modes=(),
        titles=titles,
        log=log,
    )
    qa = load_qa_files(qa_files)
    data_dir = build_eval_index(options, settings, qa)
    run_settings = {**settings, "data.dir": str(data_dir)}
    if missing_gold(run_settings, qa):
        log("warning: some gold paragraphs are not in the index; their questions count as misses")
    gathered, article_of = gather(data_dir, settings, qa.questions, GATHER_DEPTH, options.cache_root, log)
    from indexer.stores import open_stores

    stores = open_stores(run_settings)
    try:
        counts = passage_counts(stores, article_of)
    finally:
        stores.close()
    length_weight = float(settings["search.article_length_weight"])
    return qa, with_length_weight(gathered, article_of, counts, length_weight), article_of, data_dir


def _write_lists(path: Path, gathered: Sequence[Gathered], articles: dict[int, ArticleRef]) -> None:
    partial = path.with_name(path.name + ".partial")
    with gzip.open(partial, "wt", encoding="utf-8", compresslevel=3) as handle:
        json.dump(
            {
                "format": FORMAT,
                "questions": [asdict(g) for g in gathered],
                "articles": {str(pid): [a.id, a.source, a.published] for pid, a in articles.items()},
            },
            handle,
            ensure_ascii=False,
        )
    partial.replace(path)


def _read_lists(path: Path) -> tuple[list[Gathered], dict[int, ArticleRef]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    gathered = [
        Gathered(
            q["dataset"],
            q["question_id"],
            q["gold"],
            [(int(p), float(s)) for p, s in q["keyword"]],
            [(int(p), float(s)) for p, s in q["semantic"]],
            list(q["lucene"]),
        )
        for q in data["questions"]
    ]
    articles = {int(pid): ArticleRef(*ref) for pid, ref in data["articles"].items()}
    return gathered, articles


# -- ranking offline -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Prepared:
    """A question's lists as the product's types, with what makes a sweep fast but exact."""

    item: Gathered
    keyword: list[Hit]
    semantic: list[Hit]  # above the semantic floor
    matched: frozenset[str]  # articles with a keyword hit: listed before the related ones
    prefix: dict[int, int]  # depth -> keyword passages that decide the first page (see _prefix)


def _prefix(
    keyword: Sequence[Hit], semantic: Sequence[Hit], depth: int, article_of: dict[int, ArticleRef]
) -> int:
    """How many keyword passages decide the first page when `depth` of each list are fused.

    Keyword matches beyond the fused depth follow the fused passages in keyword order, and matching
    articles come before related ones; so once the passages after the depth hold RESULTS articles that
    none of the fused passages belongs to, later passages cannot reach the first page. Cutting the list
    there changes no result and saves building a thousand Hits per question and setting.
    """
    fused_articles = {article_of[h.passage_id].id for h in (*keyword[:depth], *semantic[:depth])}
    fresh: set[str] = set()
    for index in range(depth, len(keyword)):
        article = article_of[keyword[index].passage_id].id
        if article not in fused_articles:
            fresh.add(article)
            if len(fresh) >= RESULTS:
                return index + 1
    return len(keyword)


def prepare(
    gathered: Sequence[Gathered], article_of: dict[int, ArticleRef], floor: float, depths: Iterable[int]
) -> list[Prepared]:
    prepared = []
    depths = tuple(depths)
    for item in gathered:
        keyword = [Hit(p, s) for p, s in item.keyword]
        every = [Hit(p, s) for p, s in item.semantic]
        matched = frozenset(article_of[h.passage_id].id for h in keyword)
        prefix = {}
        for depth in depths:
            # The retriever fetches `depth` dense passages, then drops those below the floor.
            semantic = [h for h in every[:depth] if h.score >= floor]
            prefix[depth] = _prefix(keyword, semantic, depth, article_of)
        prepared.append(Prepared(item, keyword, every, matched, prefix))
    return prepared


def _article_ids(
    hits: Sequence[Hit], article_of: dict[int, ArticleRef], matched: frozenset[str] | None
) -> list[str]:
    """The search page's article order: best passage per article, matches before related articles.

    Only the passages up to the one bringing the RESULTS-th matching article can reach the first page
    (related articles follow every match), so the rest are left out before the page is assembled.
    """
    cut, seen = len(hits), set()
    for index, hit in enumerate(hits):
        article = article_of[hit.passage_id].id
        if (matched is None or article in matched) and article not in seen:
            seen.add(article)
            if len(seen) >= RESULTS:
                cut = index + 1
                break
    candidates = [Candidate(h.passage_id, article_of[h.passage_id], h.score) for h in hits[:cut]]
    matches, related = split_related(group_by_article(candidates), matched)
    return [c.article.id for c in (*matches, *related)[:RESULTS]]


def hybrid_page(
    p: Prepared, params: FusionParams, article_of: dict[int, ArticleRef], floor: float
) -> list[str]:
    """The article ids of hybrid search's first page for this question with these fusion settings."""
    semantic = [h for h in p.semantic[: params.depth] if h.score >= floor]
    fused = hybrid(p.keyword[: p.prefix[params.depth]], semantic, params)
    return _article_ids(fused, article_of, p.matched)


def rank_hybrid(
    prepared: Sequence[Prepared], params: FusionParams, article_of: dict[int, ArticleRef], floor: float
) -> list[int | None]:
    return [gold_rank(hybrid_page(p, params, article_of, floor), p.item.gold) for p in prepared]


def rank_single(
    prepared: Sequence[Prepared], mode: str, article_of: dict[int, ArticleRef], floor: float, depth: int
) -> list[int | None]:
    """Keyword mode (every match) or semantic mode (`depth` dense passages above the floor)."""
    ranks = []
    for p in prepared:
        hits = p.keyword if mode == "keyword" else [h for h in p.semantic[:depth] if h.score >= floor]
        ranks.append(gold_rank(_article_ids(hits, article_of, None), p.item.gold))
    return ranks


def rank_lucene(
    prepared: Sequence[Prepared], article_of: dict[int, ArticleRef], fuse_e5: bool, depth: int
) -> list[int | None]:
    """Lucene's articles, or RRF (k 60) of Lucene's articles and e5's articles by best passage (no floor)."""
    ranks = []
    for p in prepared:
        if not fuse_e5:
            ranks.append(gold_rank(p.item.lucene, p.item.gold))
            continue
        dense = list(dict.fromkeys(article_of[h.passage_id].id for h in p.semantic[:depth]))
        number = {aid: n for n, aid in enumerate(dict.fromkeys([*p.item.lucene, *dense]))}
        name = {n: aid for aid, n in number.items()}
        fused = rrf([[Hit(number[a], 0.0) for a in p.item.lucene], [Hit(number[a], 0.0) for a in dense]])
        ranks.append(gold_rank([name[h.passage_id] for h in fused], p.item.gold))
    return ranks


def figures(
    prepared: Sequence[Prepared], ranks: Sequence[int | None], datasets: Sequence[str]
) -> dict[str, dict]:
    """R@1/5/10 and MRR@10 per dataset and over all questions."""
    outcomes = [
        Outcome(p.item.dataset, "x", p.item.question_id, False, rank, False, True, False, False)
        for p, rank in zip(prepared, ranks, strict=True)
    ]
    keys = ("recall@1", "recall@5", "recall@10", "mrr@10")
    out = {}
    for dataset in (*datasets, "all"):
        group = [o for o in outcomes if dataset in ("all", o.dataset)]
        summary = summarise(group)
        out[dataset] = {"questions": len(group), **{k: summary[k] for k in keys}}
    return out


# -- the sweep and the folds ---------------------------------------------------------------------------


def grid(depths: Sequence[int]) -> list[FusionParams]:
    settings = [
        FusionParams("rrf", depth, k, weight, 1.0)
        for depth in depths
        for k in RRF_KS
        for weight in RRF_KEYWORD_WEIGHTS
    ]
    settings += [
        FusionParams(method, depth, 60, alpha, round(1 - alpha, 2))
        for method in METHODS
        if method != "rrf"
        for depth in depths
        for alpha in ALPHAS
    ]
    return settings


def describe(params: FusionParams) -> str:
    if params.method == "rrf":
        return f"rrf k {params.k}, depth {params.depth}, keyword weight {params.keyword_weight:g}"
    alpha = params.keyword_weight / ((params.keyword_weight + params.semantic_weight) or 1.0)
    return f"{params.method} α {alpha:.2g}, depth {params.depth}"


def folds(
    swept: list[tuple[FusionParams, dict]], baselines: dict[str, dict], datasets: Sequence[str]
) -> list[dict]:
    """For each held-out set and family: the setting with the best mean objective on the other two."""
    rows = []
    for held_out in datasets:
        training = [d for d in datasets if d != held_out]
        for name, result in baselines.items():
            rows.append(
                {"held_out": held_out, "system": name, "setting": "–", "train": None, **result[held_out]}
            )
        for method in METHODS:
            family = [(params, result) for params, result in swept if params.method == method]
            params, result = max(family, key=lambda pr: _mean(pr[1], training))  # first of equals: grid order
            rows.append(
                {
                    "held_out": held_out,
                    "system": f"hybrid {method}",
                    "setting": describe(params),
                    "train": round(_mean(result, training), 4),
                    **result[held_out],
                }
            )
    return rows


def _mean(result: dict, datasets: Sequence[str]) -> float:
    return sum(result[d][OBJECTIVE] for d in datasets) / len(datasets)


def winner(fold_rows: list[dict], datasets: Sequence[str]) -> str:
    """The family with the best held-out objective averaged over the folds."""

    def held_out_mean(method: str) -> float:
        values = [r[OBJECTIVE] for r in fold_rows if r["system"] == f"hybrid {method}"]
        return sum(values) / len(values)

    return max(METHODS, key=held_out_mean)


def combine(paths: Sequence[Path]) -> int:
    """Folds over several runs' sweeps at once (e.g. titles kept and neutral): for each held-out set and
    family, the setting with the best mean objective over the other sets of every run, shown per run."""
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    key = lambda params: json.dumps(params, sort_keys=True)
    by_run = [{key(s["params"]): s["results"] for s in run["sweep"]} for run in runs]
    datasets = [d for d in runs[0]["sweep"][0]["results"] if d != "all"]
    rows = []
    for held_out in datasets:
        training = [d for d in datasets if d != held_out]
        for method in METHODS:
            family = [s["params"] for s in runs[0]["sweep"] if s["params"]["method"] == method]
            best = max(family, key=lambda p: sum(_mean(r[key(p)], training) for r in by_run))
            for run, results in zip(runs, by_run, strict=True):
                rows.append(
                    {
                        "held_out": held_out,
                        "run": f"titles {run['titles']}, {run['distractors']} distractors",
                        "system": f"hybrid {method}",
                        "setting": describe(FusionParams(**best)),
                        **results[key(best)][held_out],
                    }
                )
    print(f"folds tuned on mean {OBJECTIVE} of the other two sets in all of: {', '.join(map(str, paths))}\n")
    print(
        markdown_table(
            rows,
            (
                ("held_out", "held out", text),
                ("run", "run", text),
                ("system", "system", text),
                ("setting", "setting (tuned on the other two, every run)", text),
                ("recall@1", "R@1", percent),
                ("recall@5", "R@5", percent),
                ("mrr@10", "MRR@10", decimal),
            ),
        )
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=PROJECT_ROOT.parent / "shared")
    parser.add_argument(
        "--distractors", type=int, default=10000, help="news distractor articles (default 10000)"
    )
    parser.add_argument("--titles", choices=("keep", "neutral"), default="keep")
    parser.add_argument("--out", type=Path, default=None, help="write every figure as JSON here")
    parser.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="no search: folds tuned over these --out files together (e.g. titles kept and neutral)",
    )
    args = parser.parse_args()
    if args.combine:
        return combine(args.combine)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    settings = load_settings()
    qa, gathered, article_of, data_dir = weighted_lists(
        settings, args.shared, args.distractors, args.titles, log
    )
    length_weight = float(settings["search.article_length_weight"])
    floor = float(settings["search.semantic_min_score"])
    datasets = qa.datasets()
    prepared = prepare(gathered, article_of, floor, DEPTHS)
    current = FusionParams.from_settings(settings)
    if current.depth not in DEPTHS:
        prepared = prepare(gathered, article_of, floor, (*DEPTHS, current.depth))
    candidates = int(settings["search.candidates"])
    baselines = {
        "keyword": figures(
            prepared, rank_single(prepared, "keyword", article_of, floor, candidates), datasets
        ),
        "semantic": figures(
            prepared, rank_single(prepared, "semantic", article_of, floor, candidates), datasets
        ),
        f"hybrid now ({describe(current)})": figures(
            prepared, rank_hybrid(prepared, current, article_of, floor), datasets
        ),
        "lucene": figures(prepared, rank_lucene(prepared, article_of, False, candidates), datasets),
        "RRF(lucene, e5) k 60": figures(
            prepared, rank_lucene(prepared, article_of, True, candidates), datasets
        ),
    }
    started = time.perf_counter()
    settings_grid = grid(DEPTHS)
    swept = []
    for n, params in enumerate(settings_grid, start=1):
        swept.append((params, figures(prepared, rank_hybrid(prepared, params, article_of, floor), datasets)))
        if n % 50 == 0:
            log(f"swept {n}/{len(settings_grid)} settings, {time.perf_counter() - started:.0f} s")
    fold_rows = folds(swept, baselines, datasets)
    best_method = winner(fold_rows, datasets)
    family = [(p, r) for p, r in swept if p.method == best_method]
    chosen, chosen_result = max(family, key=lambda pr: _mean(pr[1], datasets))
    summary_rows = [
        {"system": name, "setting": "–", **result[d], "dataset": d}
        for name, result in baselines.items()
        for d in (*datasets, "all")
    ]
    summary_rows += [
        {
            "system": f"hybrid {best_method} (chosen)",
            "setting": describe(chosen),
            **chosen_result[d],
            "dataset": d,
        }
        for d in (*datasets, "all")
    ]

    columns = (
        ("recall@1", "R@1", percent),
        ("recall@5", "R@5", percent),
        ("recall@10", "R@10", percent),
        ("mrr@10", "MRR@10", decimal),
    )
    number = lambda v: "–" if v is None else f"{v:.4f}"
    print(
        f"{len(gathered)} questions, {args.distractors} distractors, titles {args.titles}, "
        f"article length weight {length_weight:g}, {len(settings_grid)} fusion settings; folds tuned on mean {OBJECTIVE} of the other two sets\n"
    )
    print(
        markdown_table(
            fold_rows,
            (
                ("held_out", "held out", text),
                ("system", "system", text),
                ("setting", "setting (tuned on the other two)", text),
                ("train", f"train {OBJECTIVE}", number),
                *columns,
            ),
        )
    )
    print(f"\nwinner over the folds: {best_method}; tuned on all three sets: {describe(chosen)}\n")
    print(
        markdown_table(
            summary_rows,
            (
                ("dataset", "dataset", text),
                ("system", "system", text),
                ("setting", "setting", text),
                *columns,
            ),
        )
    )
    if args.out:
        write_json(
            args.out,
            {
                "command": " ".join(sys.argv),
                "distractors": args.distractors,
                "titles": args.titles,
                "article_length_weight": length_weight,
                "objective": OBJECTIVE,
                "index": str(data_dir),
                "questions": len(gathered),
                "winner": best_method,
                "chosen": asdict(chosen),
                "folds": fold_rows,
                "summary": summary_rows,
                "baselines": baselines,
                "sweep": [{"params": asdict(p), "results": r} for p, r in swept],
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
