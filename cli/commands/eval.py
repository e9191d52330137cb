"""`isnad eval`: Recall@k, MRR and answer accuracy on SQuAD-format QA sets hidden among news distractors."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from cli.commands import add_common_options
from evaluation.metrics import MODES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure retrieval and answers on SQuAD-format QA sets among news distractors",
        description="Index every gold paragraph of the QA files as an article among N distractor news "
        "articles (cached under .cache/isnad-eval), ask every question through the JSON API in each "
        "mode, print a Markdown table and write a JSON report.",
    )
    parser.add_argument(
        "--qa",
        metavar="FILE.json",
        type=Path,
        action="append",
        required=True,
        help="SQuAD-format QA file (repeat for several)",
    )
    parser.add_argument(
        "--distractors",
        metavar="FILE.jsonl.gz",
        type=Path,
        required=True,
        help="news articles to hide the gold paragraphs among",
    )
    parser.add_argument(
        "--distractor-limit",
        metavar="N",
        type=int,
        default=10000,
        help="distractor articles, a deterministic sample of the file (default 10000; 0 = all)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"retrieval modes to evaluate, comma-separated (default {','.join(MODES)})",
    )
    parser.add_argument(
        "--ask-modes",
        default=None,
        help="modes in which answers are also composed and scored (default hybrid, or the first of "
        "--modes without it; 'none' for search only); composing embeds sentences, so each mode "
        "costs about a second a question",
    )
    parser.add_argument(
        "--peers",
        default="none",
        help="other engines to rank the same articles and questions, printed beside Isnad's modes: "
        "'lucene' (real Lucene 8 BM25, k1 1.2 b 0.75, ArabicAnalyzer, one field of title + body "
        "per whole article; needs a JDK and Debian's liblucene8-java) or 'none' (default)",
    )
    parser.add_argument(
        "--titles",
        choices=("keep", "neutral"),
        default="keep",
        help="'keep' the articles' titles, or make them 'neutral': every gold and distractor "
        "title replaced by its source's name, to measure ranking when headlines do not "
        "help (default keep)",
    )
    parser.add_argument(
        "--collapse",
        choices=("none", "copy", "story"),
        default="none",
        help="what one search result stands for, as the API's collapse=: 'none' (default: every "
        "article on its own, as the Lucene peer and the fusion sweep rank them), 'copy', or 'story' "
        "(the search page's default); a gold article collapsed under another counts as not found",
    )
    parser.add_argument(
        "--max-questions",
        metavar="N",
        type=int,
        default=None,
        help="only the first N questions of each QA file, and only their gold paragraphs (quick runs)",
    )
    parser.add_argument(
        "--ask-max-questions",
        metavar="N",
        type=int,
        default=None,
        help="compose answers for the first N questions of each QA file only (answers cost "
        "about a second each; retrieval is still measured on every question)",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="where cached indexes live (default .cache in the project folder)",
    )
    parser.add_argument(
        "--out",
        metavar="report.json",
        type=Path,
        default=None,
        help="write the JSON report here (and per-question outcomes beside it)",
    )
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from evaluation.eval_run import EvalOptions, parse_modes, parse_peers, run_eval
    from evaluation.lucene_peer import PeerUnavailable
    from evaluation.squad import QAFileError

    try:
        modes = parse_modes(args.modes)
        ask_modes = (
            parse_modes(args.ask_modes, allow_none=True)
            if args.ask_modes
            else (("hybrid",) if "hybrid" in modes else modes[:1])
        )
        peers = parse_peers(args.peers)
    except ValueError as error:
        print(f"isnad eval: {error}", file=sys.stderr)
        return 2
    for path in [*args.qa, args.distractors]:
        if not path.is_file():
            print(f"isnad eval: {path}: file not found", file=sys.stderr)
            return 2
    if args.distractor_limit < 0:
        print("isnad eval: --distractor-limit must be 0 (all) or more", file=sys.stderr)
        return 2
    options = EvalOptions(
        qa_files=list(args.qa),
        distractors=args.distractors,
        distractor_limit=args.distractor_limit or None,
        modes=modes,
        ask_modes=ask_modes,
        out=args.out,
        max_questions=args.max_questions,
        ask_max_questions=args.ask_max_questions,
        peers=peers,
        titles=args.titles,
        collapse=args.collapse,
        command=shlex.join(["isnad", *sys.argv[1:]]),
    )
    if args.cache_dir is not None:
        options.cache_root = args.cache_dir
    try:
        report = run_eval(options, settings)
    except (QAFileError, PeerUnavailable) as error:
        print(f"isnad eval: {error}", file=sys.stderr)
        return 2
    print(report["table"])
    if args.out:
        print(f"\nreport written to {args.out}", file=sys.stderr)
    return 0
