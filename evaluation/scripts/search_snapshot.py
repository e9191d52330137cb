#!/usr/bin/env python3
"""Whether a change moved any search result: the bench queries' whole responses saved, two saves compared.

A speed change must not change what users get. `save` sends the queries `isnad bench` draws from its cached
index through the app (Flask's test client) in every mode, collapsed by story and not collapsed, and writes
each response without its `took_ms`; `compare` tells how many responses are identical, how many have the
same first ten articles, and which fields differ in the others (with the largest score difference).

    .venv/bin/python -m evaluation.scripts.search_snapshot save BEFORE.json [--queries 200] [INDEX]
    .venv/bin/python -m evaluation.scripts.search_snapshot compare BEFORE.json AFTER.json
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

from evaluation import indexing
from evaluation.queries import draw_queries
from evaluation.scripts.ask_evidence import newest_bench_index

MODES = ("keyword", "semantic", "hybrid")
COLLAPSES = ("story", "none")
TOP = 10


def save(out: Path, queries: int, folder: Path) -> int:
    from webapp.app import create_app
    from webapp.services import services_of

    articles = list(indexing.read_articles(folder / "embedded.jsonl"))
    app = create_app({"data.dir": str(folder / "data"), "limits.enabled": False})
    client = app.test_client()
    responses: dict[str, Any] = {}
    for mode in MODES:
        for collapse in COLLAPSES:
            for query in draw_queries(articles, queries):
                params = {"q": query, "mode": mode, "collapse": collapse}
                reply = client.get("/api/v1/search?" + urllib.parse.urlencode(params))
                if reply.status_code != 200:
                    raise SystemExit(f"search {params}: HTTP {reply.status_code} {reply.data[:200]!r}")
                body = reply.get_json()
                body.pop("took_ms", None)
                responses[f"{mode}|{collapse}|{query}"] = body
    services_of(app).close()
    out.write_text(json.dumps(responses, ensure_ascii=False), encoding="utf-8")
    print(f"{len(responses)} responses ({folder.name}) -> {out}")
    return 0


def top_ids(body: dict[str, Any]) -> list[str]:
    return [result["article_id"] for result in body["results"][:TOP]]


def compare(before_path: Path, after_path: Path) -> int:
    before = json.loads(before_path.read_text(encoding="utf-8"))
    after = json.loads(after_path.read_text(encoding="utf-8"))
    if before.keys() != after.keys():
        raise SystemExit("the two files hold different queries: save both with the same --queries and index")
    identical = same_top = 0
    fields: Counter[str] = Counter()
    by_mode: Counter[str] = Counter()
    largest = 0.0
    for key, old in before.items():
        new = after[key]
        identical += old == new
        same_top += top_ids(old) == top_ids(new)
        if old == new:
            continue
        by_mode[key.split("|")[0]] += 1
        fields.update(name for name in old if old[name] != new.get(name))
        for old_result, new_result in zip(old["results"], new["results"], strict=False):
            fields.update(
                f"results.{name}" for name in old_result if old_result[name] != new_result.get(name)
            )
            if old_result["article_id"] == new_result["article_id"]:
                largest = max(largest, abs(old_result["score"] - new_result["score"]))
    print(f"{len(before)} responses: {identical} identical, {same_top} with the same top {TOP} articles")
    if by_mode:
        print(f"  differing by mode: {dict(by_mode)}; fields: {dict(fields)}")
        print(f"  largest score difference of one article: {largest:.6g}")
    return 0 if same_top == len(before) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    saving = commands.add_parser("save", help="save the responses")
    saving.add_argument("out", type=Path)
    saving.add_argument("index", type=Path, nargs="?", help="a cached benchmark folder (default: the newest)")
    saving.add_argument("--queries", type=int, default=200, help="queries per mode (default 200)")
    comparing = commands.add_parser("compare", help="compare two saves")
    comparing.add_argument("before", type=Path)
    comparing.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "save":
        return save(args.out, args.queries, args.index or newest_bench_index())
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
