"""Scoring one question's search and answer, and averaging scores per dataset and mode (pure functions).

Answer text is matched after a light normalisation in the spirit of the analyzer (Lucene's
ArabicNormalizer): harakat and tatweel removed, أ إ آ ٱ → ا, ى → ي, ة → ه, Arabic-Indic digits → 0-9,
punctuation → space. A match must start at a word boundary, optionally after up to two of the one-letter
proclitics و ف ب ل ك (so "القاهرة" is found in "وبالقاهرة"), and end at a word boundary (so "15" is not
found in "150").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from indexer.stores.registry import SEARCH_MODES

# The modes in the order evaluation measures and reports them: each list alone, then their fusion.
MODES = tuple(sorted(SEARCH_MODES, key=lambda mode: mode == "hybrid"))

_HARAKAT = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        **{chr(0x0660 + d): str(d) for d in range(10)},
        **{chr(0x06F0 + d): str(d) for d in range(10)},
    }
)
_NON_WORD = re.compile(r"[\W_]+")
_CITATION = re.compile(r"\[\d+\]")
_PROCLITICS = "وفبلك"


def normalise(text: str) -> str:
    """Text folded for answer matching: words separated by single spaces, no punctuation."""
    # Citation markers ([1] in composed answers, [2] in Wikipedia paragraphs) are not words.
    text = _HARAKAT.sub("", _CITATION.sub(" ", text)).translate(_FOLD).lower()
    return " ".join(_NON_WORD.sub(" ", text).split())


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """Whether any answer occurs in text, at word boundaries (see the module docstring)."""
    haystack = f" {normalise(text)} "
    for answer in answers:
        needle = normalise(answer)
        if not needle:
            continue
        pattern = rf"(?:(?<= )|(?<= [{_PROCLITICS}])|(?<= [{_PROCLITICS}]{{2}})){re.escape(needle)}(?= )"
        if re.search(pattern, haystack):
            return True
    return False


def gold_rank(article_ids: Sequence[str], gold_id: str, depth: int = 10) -> int | None:
    """1-based rank of the gold article among the first `depth` distinct articles, or None."""
    seen: list[str] = []
    for article_id in article_ids:
        if article_id not in seen:
            seen.append(article_id)
            if article_id == gold_id:
                return len(seen)
            if len(seen) >= depth:
                break
    return None


@dataclass(slots=True)
class Outcome:
    """What happened to one question in one mode."""

    dataset: str
    mode: str
    question_id: str
    impossible: bool
    rank: int | None  # gold article's rank in search results (1-based, within the top 10)
    answer_in_top5: bool  # an answer text is in the passages of the first five results
    answered: bool  # False when the system abstained
    answer_in_answer: bool  # an answer text is in the composed answer
    cited_gold: bool  # a citation points at the gold article
    search_ms: float = 0.0
    ask_ms: float = 0.0
    asked: bool = False  # whether an answer was composed (answer figures count these questions only)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def summarise(outcomes: Sequence[Outcome]) -> dict[str, object]:
    """Averages over a group of outcomes.

    Retrieval figures (Recall@k, MRR@10, answer in top-5) are over answerable questions: an unanswerable
    question has no gold answer to retrieve. Answer figures are over the questions that were asked (`asked`;
    composing is slow, so a run may ask a subset): `answer_correct` counts an answerable question correct
    when the composed answer contains its answer text, an unanswerable one only when the system abstains.
    """
    answerable = [o for o in outcomes if not o.impossible]
    impossible = [o for o in outcomes if o.impossible]
    n = len(answerable)
    asked = [o for o in outcomes if o.asked]
    asked_answerable = [o for o in asked if not o.impossible]
    asked_impossible = [o for o in asked if o.impossible]

    def recall(k: int) -> float | None:
        return _share(sum(1 for o in answerable if o.rank is not None and o.rank <= k), n)

    mrr = round(sum(1.0 / o.rank for o in answerable if o.rank is not None) / n, 4) if n else None
    correct = sum(1 for o in asked_answerable if o.answered and o.answer_in_answer)
    correct += sum(1 for o in asked_impossible if not o.answered)
    search_ms = sorted(o.search_ms for o in outcomes)
    ask_ms = sorted(o.ask_ms for o in asked)
    return {
        "questions": len(outcomes),
        "answerable": n,
        "unanswerable": len(impossible),
        "recall@1": recall(1),
        "recall@5": recall(5),
        "recall@10": recall(10),
        "mrr@10": mrr,
        "answer_in_top5": _share(sum(1 for o in answerable if o.answer_in_top5), n),
        "asked": len(asked),
        "answer_in_answer": _share(
            sum(1 for o in asked_answerable if o.answered and o.answer_in_answer), len(asked_answerable)
        ),
        "answer_correct": _share(correct, len(asked)),
        "cited_gold": _share(
            sum(1 for o in asked_answerable if o.answered and o.cited_gold), len(asked_answerable)
        ),
        "abstention_rate": _share(sum(1 for o in asked if not o.answered), len(asked)),
        "unanswerable_abstained": _share(
            sum(1 for o in asked_impossible if not o.answered), len(asked_impossible)
        ),
        "search_ms_median": round(search_ms[len(search_ms) // 2], 1) if search_ms else None,
        "ask_ms_median": round(ask_ms[len(ask_ms) // 2], 1) if ask_ms else None,
    }


def summarise_groups(
    outcomes: Sequence[Outcome], datasets: Sequence[str], modes: Sequence[str]
) -> list[dict[str, object]]:
    """One summary row per (dataset, mode), then one per mode over all datasets ("all")."""
    rows: list[dict[str, object]] = []
    for dataset in [*datasets, "all"]:
        for mode in modes:
            group = [o for o in outcomes if o.mode == mode and dataset in ("all", o.dataset)]
            if group:
                rows.append({"dataset": dataset, "mode": mode, **summarise(group)})
    return rows


def fusion_diagnostics(
    outcomes: Sequence[Outcome], datasets: Sequence[str], k: int = 5
) -> list[dict[str, object]]:
    """How hybrid fares where keyword and semantic search agree or disagree (answerable questions, top k).

    Fusion can only rank well what one of its lists found: `either` is its ceiling, and `lost` counts
    questions one single mode had in its top k but hybrid did not.
    """
    by_key = {(o.dataset, o.question_id, o.mode): o for o in outcomes if not o.impossible}
    rows: list[dict[str, object]] = []
    for dataset in [*datasets, "all"]:
        counts = {
            "both": 0,
            "keyword_only": 0,
            "semantic_only": 0,
            "neither": 0,
            "either": 0,
            "hybrid": 0,
            "lost": 0,
            "gained": 0,
        }
        questions = {(d, q) for d, q, m in by_key if m == "hybrid" and dataset in ("all", d)}
        for d, q in questions:
            found = {
                m: (o := by_key.get((d, q, m))) is not None and o.rank is not None and o.rank <= k
                for m in ("keyword", "semantic", "hybrid")
            }
            kind = (
                "both"
                if found["keyword"] and found["semantic"]
                else "keyword_only"
                if found["keyword"]
                else "semantic_only"
                if found["semantic"]
                else "neither"
            )
            counts[kind] += 1
            counts["either"] += kind != "neither"
            counts["hybrid"] += found["hybrid"]
            counts["lost"] += kind != "neither" and not found["hybrid"]
            counts["gained"] += kind == "neither" and found["hybrid"]
        if questions:
            rows.append({"dataset": dataset, "k": k, "questions": len(questions), **counts})
    return rows
