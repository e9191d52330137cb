#!/usr/bin/env python3
"""What a long conversation costs an ask: a follow-up with short history against one whose two earlier user
turns are 5,000 characters each (the most `history` allows), through the service the API calls.

Beside it, the same long-history follow-up answered with the history passed whole to the answer pipeline, as
ask did before follow_up.bounded_history: the figure the bound removes. In process, on any data directory.

    .venv/bin/python -m evaluation.scripts.ask_history DATA_DIR [--repeats 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

from evaluation.loadgen import percentile
from indexer.settings import load_settings
from retrieval import answers
from webapp.services import MAX_TURN_CHARS, Services

FOLLOW_UP = "ومتى حدث ذلك؟"


def long_turns(services: Services) -> list[dict[str, str]]:
    """Two user turns of MAX_TURN_CHARS characters of indexed article text (answers in between)."""
    articles = services.stores.docs.get_articles(services.stores.docs.article_ids()[:40])
    text = " ".join(a.text for a in articles.values())
    while len(text) < 2 * MAX_TURN_CHARS:
        text += " " + text
    first, second = (
        text[:MAX_TURN_CHARS].rsplit(" ", 1)[0],
        text[MAX_TURN_CHARS : 2 * MAX_TURN_CHARS].rsplit(" ", 1)[0],
    )
    return [
        {"role": "user", "content": first},
        {"role": "assistant", "content": "…"},
        {"role": "user", "content": second},
        {"role": "assistant", "content": "…"},
    ]


def timed(call: Callable[[], object], repeats: int) -> list[float]:
    call()  # warm
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    settings = load_settings(overrides={"data.dir": str(args.data_dir)})
    services = Services.open(settings)
    try:
        services.warm_up()
        short = [
            {"role": "user", "content": "ما الذي اشتعل في مصفاة النفط بعد هجوم المسيرات؟"},
            {"role": "assistant", "content": "…"},
        ]
        long = long_turns(services)
        mode = str(settings["search.mode"])
        rows = [
            ("ask, short history", timed(lambda: services.ask(FOLLOW_UP, short), args.repeats)),
            ("ask, two 5,000-char user turns", timed(lambda: services.ask(FOLLOW_UP, long), args.repeats)),
            (
                "history passed whole (before the bound)",
                timed(
                    lambda: answers.answer(services.retriever, FOLLOW_UP, long, mode, settings), args.repeats
                ),
            ),
        ]
        print(f"{'case':<42} {'p50 ms':>8} {'max ms':>8}   ({args.repeats} asks each, {mode} mode)")
        for name, times in rows:
            print(f"{name:<42} {percentile(times, 50) or 0.0:>8.1f} {max(times):>8.1f}")
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
