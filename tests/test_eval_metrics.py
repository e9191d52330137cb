"""Tests for the evaluation's pure parts: SQuAD reading, answer matching, ranks, summaries, sampling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.distractors import sample_articles
from evaluation.metrics import (
    Outcome,
    contains_answer,
    fusion_diagnostics,
    gold_rank,
    normalise,
    summarise,
    summarise_groups,
)
from evaluation.report import EVAL_COLUMNS, markdown_table
from evaluation.squad import QAFileError, gold_articles, load_qa_files
from indexer.models import Article


def write_squad(path: Path, paragraphs: list[tuple[str, str, list[tuple[str, str | None]]]]) -> Path:
    """A SQuAD file from (title, context, [(question, answer or None for unanswerable)])."""
    data = []
    for n, (title, context, qas) in enumerate(paragraphs):
        items = []
        for m, (question, answer) in enumerate(qas):
            item: dict[str, object] = {"id": f"{n}-{m}", "question": question}
            if answer is None:
                item.update(answers=[], is_impossible=True)
            else:
                item["answers"] = [{"text": answer, "answer_start": context.find(answer)}]
            items.append(item)
        data.append({"title": title, "paragraphs": [{"context": context, "qas": items}]})
    path.write_text(json.dumps({"version": "1.1", "data": data}, ensure_ascii=False), encoding="utf-8")
    return path


def test_normalise_folds_arabic_variants_and_harakat() -> None:
    assert normalise("الْقَاهِرَةُ، أَحمد ـ ١٩٩٠ [3]") == "القاهره احمد 1990"
    assert normalise("إلى مكّة") == "الي مكه"


@pytest.mark.parametrize(
    ("text", "answer", "found"),
    [
        ("ولد في القاهرة عام 1950.", "القاهرة", True),
        ("ولد وبالقاهرة نشأ", "القاهرة", True),  # proclitics و ب before the answer
        ("سافر إلى القاهرة", "الْقاهرة", True),  # harakat in the answer
        ("وُلد عام 150", "15", False),  # not inside a longer number
        ("المسافة 2150 كم", "150", False),
        ("الجواب [1] هنا", "1", False),  # citation markers are not text
        ("صحفي وإعلامي سعودي", "صحفي وإعلامي", True),
    ],
)
def test_contains_answer_at_word_boundaries(text: str, answer: str, found: bool) -> None:
    assert contains_answer(text, [answer]) is found


def test_gold_rank_counts_distinct_articles() -> None:
    assert gold_rank(["a", "a", "b", "gold"], "gold") == 3
    assert gold_rank(["a", "b"], "gold") is None
    assert gold_rank([f"x{i}" for i in range(10)] + ["gold"], "gold") is None  # beyond the top 10


def outcome(
    rank: int | None,
    answered: bool = True,
    in_answer: bool = False,
    impossible: bool = False,
    dataset: str = "d",
    mode: str = "keyword",
) -> Outcome:
    return Outcome(dataset, mode, "q", impossible, rank, False, answered, in_answer, False, asked=True)


def test_summary_recall_mrr_and_abstention() -> None:
    rows = [outcome(1, in_answer=True), outcome(3), outcome(None, answered=False), outcome(7)]
    summary = summarise(rows)
    assert summary["recall@1"] == 0.25
    assert summary["recall@5"] == 0.5
    assert summary["recall@10"] == 0.75
    assert summary["mrr@10"] == round((1 + 1 / 3 + 1 / 7) / 4, 4)
    assert summary["answer_in_answer"] == 0.25
    assert summary["abstention_rate"] == 0.25


def test_answer_figures_count_asked_questions_only() -> None:
    rows = [outcome(1, in_answer=True), outcome(2, answered=False)]
    rows.append(Outcome("d", "keyword", "q", False, 1, False, True, False, False))  # searched, not asked
    summary = summarise(rows)
    assert summary["questions"] == 3 and summary["asked"] == 2
    assert summary["recall@1"] == round(2 / 3, 4)
    assert summary["answer_in_answer"] == 0.5 and summary["abstention_rate"] == 0.5
    assert summarise(rows[2:])["answer_in_answer"] is None


def test_unanswerable_questions_are_correct_only_when_abstaining() -> None:
    rows = [
        outcome(None, answered=False, impossible=True),
        outcome(None, answered=True, impossible=True),
        outcome(2, in_answer=True),
    ]
    summary = summarise(rows)
    assert summary["answerable"] == 1 and summary["unanswerable"] == 2
    assert summary["recall@5"] == 1.0  # retrieval is scored on answerable questions only
    assert summary["answer_correct"] == round(2 / 3, 4)
    assert summary["unanswerable_abstained"] == 0.5


def test_groups_per_dataset_and_mode_plus_all() -> None:
    rows = [outcome(1, dataset="a"), outcome(None, dataset="b"), outcome(1, dataset="a", mode="hybrid")]
    groups = summarise_groups(rows, ["a", "b"], ["keyword", "hybrid"])
    keys = [(g["dataset"], g["mode"]) for g in groups]
    assert keys == [
        ("a", "keyword"),
        ("a", "hybrid"),
        ("b", "keyword"),
        ("all", "keyword"),
        ("all", "hybrid"),
    ]
    assert groups[3]["recall@1"] == 0.5
    table = markdown_table(groups, EVAL_COLUMNS)
    assert table.splitlines()[0].startswith("| dataset | mode |") and "50.0%" in table


def test_load_qa_files_dedupes_paragraphs_across_files(tmp_path: Path) -> None:
    context = "تقع مدينة فاس في شمال المغرب وقد تأسست في القرن الثامن."
    one = write_squad(tmp_path / "one.json", [("فاس", context, [("أين تقع فاس؟", "شمال المغرب")])])
    two = write_squad(
        tmp_path / "two.json",
        [
            ("فاس", "  " + context, [("متى تأسست فاس؟", "القرن الثامن")]),
            ("غير", "نص آخر تماما", [("سؤال بلا جواب؟", None)]),
        ],
    )
    qa = load_qa_files([one, two])
    assert qa.datasets() == ["one", "two"]
    assert len(qa.paragraphs) == 2
    assert qa.questions[0].gold_article_id == qa.questions[1].gold_article_id
    assert qa.questions[0].gold_article_id.startswith("gold-one-")
    assert qa.questions[2].impossible and qa.questions[2].answers == ()
    articles = gold_articles(qa)
    assert articles[0].title == "فاس" and articles[0].text == context


def test_bad_qa_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(QAFileError, match="missing.json: QA file not found"):
        load_qa_files([tmp_path / "missing.json"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [{"title": "x", "paragraphs": [{"qas": []}]}]}')
    with pytest.raises(QAFileError, match=r"bad.json: data\[0\].paragraphs\[0\] has no 'context'"):
        load_qa_files([bad])


def test_sample_is_deterministic_and_order_free() -> None:
    articles = [Article(id=f"a{i}", title="t", text="x") for i in range(100)]
    first = [a.id for a in sample_articles(articles, 10)]
    again = [a.id for a in sample_articles(list(reversed(articles)), 10)]
    assert first == again and len(set(first)) == 10
    assert first == [a.id for a in sample_articles(articles, None)][:10]
    assert len(sample_articles(articles, 500)) == 100


def test_fusion_diagnostics_counts_lost_and_gained_questions() -> None:
    def o(q: str, mode: str, rank: int | None) -> Outcome:
        return Outcome("d", mode, q, False, rank, False, True, False, False)

    outcomes = [
        o("1", "keyword", 1),
        o("1", "semantic", 9),
        o("1", "hybrid", 7),  # keyword only, lost
        o("2", "keyword", 2),
        o("2", "semantic", 3),
        o("2", "hybrid", 1),  # both, kept
        o("3", "keyword", None),
        o("3", "semantic", 8),
        o("3", "hybrid", 4),
    ]  # neither, gained
    row = fusion_diagnostics(outcomes, ["d"])[0]
    assert row["questions"] == 3 and row["either"] == 2 and row["hybrid"] == 2
    assert (row["both"], row["keyword_only"], row["semantic_only"], row["neither"]) == (1, 1, 0, 1)
    assert row["lost"] == 1 and row["gained"] == 1
