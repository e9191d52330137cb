"""Calibrate `answer.abstain_below`: evidence scores of questions whose gold paragraph is indexed vs absent.

Indexes a deterministic sample of gold paragraphs from the SQuAD-format sets in ../shared/eval among
news distractors, then asks two kinds of questions through the answer pipeline with abstention off:
"present" (their paragraph is indexed) and "absent" (their paragraph is not, so the right reply is to
abstain). Prints, per threshold, how often each kind is answered, and how often a present question's
gold answer text appears in the composed answer; and writes every question's figures as JSON.

    .venv/bin/python bench/calibrate_abstain.py --shared ../shared --out bench/out/calibration.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from indexer.analysis import analyze_exact_terms
from indexer.ingest import iter_articles
from indexer.models import Article, IngestSummary
from indexer.pipeline import index_paths
from indexer.settings import load_settings
from indexer.stores import open_stores
from webapp import answers
from webapp.evaluation.distractors import sample_articles, write_jsonl
from webapp.evaluation.squad import load_qa_files
from webapp.services import Services

QA_FILES = ("arcd.json", "tydiqa-goldp-dev-arabic.json", "mlqa-dev-context-ar-question-ar.json")


def rank(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def contains_answer(text: str, gold: tuple[str, ...]) -> bool:
    """The gold answer's normalized words appear in order in the text (Lucene-normalized, unstemmed)."""
    words = " " + " ".join(analyze_exact_terms(text)) + " "
    return any((" " + " ".join(analyze_exact_terms(g)) + " ") in words for g in gold if analyze_exact_terms(g))


def build(args: argparse.Namespace) -> tuple[list[dict[str, Any]], Path]:
    qa = load_qa_files([args.shared / "eval" / name for name in QA_FILES])
    by_paragraph: dict[str, list[Any]] = {}
    for question in qa.questions:
        if not question.impossible:
            by_paragraph.setdefault(question.gold_article_id, []).append(question)
    present: list[Article] = []
    asked: list[dict[str, Any]] = []
    for dataset in qa.datasets():
        paragraphs = sorted((p for p in qa.paragraphs if p.dataset == dataset and p.article_id in by_paragraph),
                            key=lambda p: rank(p.article_id))
        for i, paragraph in enumerate(paragraphs[:args.paragraphs + args.absent]):
            question = by_paragraph[paragraph.article_id][0]
            kind = "present" if i < args.paragraphs else "absent"
            if kind == "present":
                present.append(Article(paragraph.article_id, paragraph.title, paragraph.text,
                                       source=f"eval-{dataset}"))
            asked.append({"dataset": dataset, "kind": kind, "question": question.text,
                          "answers": list(question.answers), "gold": paragraph.article_id})
    data_dir = args.data
    marker = data_dir / "calibration-input.json"
    wanted = {"paragraphs": args.paragraphs, "distractors": args.distractors}
    if not marker.exists() or json.loads(marker.read_text()) != wanted:
        summary = IngestSummary()
        news = iter_articles([args.shared / "corpus" / "news" / "ant_multisource.jsonl.gz"], summary,
                             lambda problem: None)
        distractors = sample_articles(news, args.distractors)
        corpus = data_dir / "input" / "calibration.jsonl"
        write_jsonl([*present, *distractors], corpus)
        settings = load_settings(overrides={"data.dir": str(data_dir / "index")})
        index_paths([str(corpus)], settings, progress=True)
        marker.write_text(json.dumps(wanted))
    return asked, data_dir / "index"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=PROJECT.parent / "shared")
    parser.add_argument("--paragraphs", type=int, default=50, help="indexed gold paragraphs per QA set")
    parser.add_argument("--absent", type=int, default=50, help="questions per QA set whose paragraph is not indexed")
    parser.add_argument("--distractors", type=int, default=400, help="news articles indexed beside them")
    parser.add_argument("--data", type=Path, default=PROJECT / ".cache" / "isnad-calibrate")
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting to try, VALUE in JSON, e.g. answer.passages=12 (repeatable)")
    args = parser.parse_args()
    tried = dict(item.split("=", 1) for item in args.set)

    asked, index_dir = build(args)
    settings = load_settings(overrides={**{key: json.loads(value) for key, value in tried.items()},
                                        "data.dir": str(index_dir), "answer.abstain_below": -1.0})
    services = Services(settings, open_stores(settings))
    started = time.perf_counter()
    for n, item in enumerate(asked, start=1):
        result = answers.answer(services.retriever, item["question"], [], args.mode, settings)
        item.update(evidence=result.evidence, similarity=result.similarity, overlap=result.overlap,
                    cites_gold=any(c["article_id"] == item["gold"] for c in result.citations),
                    answer_has_gold=contains_answer(result.text, tuple(item["answers"])))
        if n % 25 == 0:
            print(f"asked {n}/{len(asked)} ({(time.perf_counter() - started) / n:.2f} s each)", file=sys.stderr)
    services.close()

    present = [a for a in asked if a["kind"] == "present"]
    absent = [a for a in asked if a["kind"] == "absent"]
    seconds = (time.perf_counter() - started) / len(asked)
    print(f"{len(present)} present and {len(absent)} absent questions, mode {args.mode}, "
          f"{seconds * 1000:.0f} ms per question, settings {tried or 'as configured'}")
    print(f"present: gold paragraph cited {sum(a['cites_gold'] for a in present)}, "
          f"gold answer in the answer {sum(a['answer_has_gold'] for a in present)}")
    print()
    print("| abstain_below | present answered | present correct answered | absent abstained | balanced |")
    print("|---:|---:|---:|---:|---:|")
    best = None
    for step in range(70, 101):
        threshold = step / 100
        answered = sum(a["evidence"] >= threshold for a in present) / len(present)
        correct = sum(a["evidence"] >= threshold and a["answer_has_gold"] for a in present) / len(present)
        abstained = sum(a["evidence"] < threshold for a in absent) / len(absent)
        balanced = (answered + abstained) / 2
        if best is None or balanced > best[1]:
            best = (threshold, balanced)
        print(f"| {threshold:.2f} | {answered:.1%} | {correct:.1%} | {abstained:.1%} | {balanced:.3f} |")
    print()
    print(f"best balanced accuracy at abstain_below = {best[0]:.2f} ({best[1]:.3f})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(asked, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
