"""`isnad analyze`: show how text is analyzed (the tokens the keyword index stores), like Elasticsearch's _analyze."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.commands import add_common_options
from indexer.analysis import ANALYZER_VERSION, analyze, analyze_exact
from indexer.models import Token


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="print the tokens of the Arabic analyzer with offsets and positions",
        description="Print the tokens Isnad indexes for TEXT: Lucene's ArabicAnalyzer chain (standard tokenizer, "
        "lowercase, digits to 0-9, Arabic stop words, normalization, light stemming) after folding "
        "alef wasla. Offsets count characters of TEXT; a gap in positions marks a removed stop word.",
    )
    parser.add_argument(
        "text",
        nargs="+",
        metavar="TEXT",
        help="text to analyze (several words are joined by spaces), or - to read standard input",
    )
    parser.add_argument(
        "--exact",
        action="store_true",
        help="the exact chain used for quoted phrases: no stop words, no stemming",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"tokens": [{"token", "start_offset", "end_offset", "position"}]} '
        "as Elasticsearch's _analyze does",
    )
    add_common_options(parser)
    parser.set_defaults(run=run)


def read_text(words: list[str]) -> str:
    """TEXT from the arguments, or all of standard input (UTF-8) for `-`."""
    if words == ["-"]:
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"standard input is not UTF-8 text (invalid byte at offset {error.start})"
            ) from None
    return " ".join(words)


def tokens_json(tokens: list[Token]) -> dict[str, Any]:
    """The _analyze response shape."""
    return {
        "tokens": [
            {"token": t.term, "start_offset": t.start, "end_offset": t.end, "position": t.position}
            for t in tokens
        ]
    }


def format_plain(text: str, tokens: list[Token]) -> str:
    """One token per line: position, offsets, the term, and the original word where it differs."""
    lines = []
    for t in tokens:
        original = text[t.start : t.end]
        shown = t.term if original == t.term else f"{t.term}\t({original})"
        lines.append(f"{t.position}\t{t.start}-{t.end}\t{shown}")
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    try:
        text = read_text(args.text)
    except ValueError as error:
        print(f"isnad analyze: {error}", file=sys.stderr)
        return 2
    tokens = analyze_exact(text) if args.exact else analyze(text)
    if args.json:
        print(json.dumps(tokens_json(tokens), ensure_ascii=False))
    elif tokens:
        print(format_plain(text, tokens))
    else:
        print(f"(no tokens; analyzer {ANALYZER_VERSION})", file=sys.stderr)
    return 0
