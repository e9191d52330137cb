"""How far the model's choice is from the answer: the answer sentence's rank and the headroom rows it feeds."""

from __future__ import annotations

import numpy as np

from evaluation.scripts import train_answers as train
from evaluation.squad import Question
from retrieval import answers


def case(labels: list[int]) -> train.Case:
    found = answers.Candidates("q", None, [], [], [], None)
    question = Question("set", "q", "q", ("a",), False, "a")
    return train.Case("set", "present", question, found, np.array(labels, dtype=np.int8))


def test_rescored_sentences_come_first_by_their_probability_then_the_rest_by_the_first_stage() -> None:
    # Sentence 3 ranks best by the first stage but was not re-scored: it comes after the re-scored 0 and 2.
    scores = answers.Scores(np.array([0.6, 0.2, 0.5, 0.9, 0.1]), {0: 0.3, 2: 0.7})
    assert train.first_answer_rank(np.array([0, 0, 1, 0, 0]), scores) == 0
    assert train.first_answer_rank(np.array([1, 0, 0, 0, 0]), scores) == 1
    assert train.first_answer_rank(np.array([0, 0, 0, 1, 0]), scores) == 2
    assert train.first_answer_rank(np.array([0, 1, 0, 0, 0]), scores) == 3
    assert train.first_answer_rank(np.array([0, 0, 0, 0, 0]), scores) is None


def test_headroom_counts_answered_questions_whose_answer_is_among_the_best_k() -> None:
    outcomes = [
        train.Outcome(case([1]), 0.8, True, answer_rank=0),
        train.Outcome(case([0, 1]), 0.6, False, answer_rank=1),
        train.Outcome(case([0, 0, 1]), 0.5, False, answer_rank=2),
        train.Outcome(case([0, 0, 0, 1]), 0.4, False, answer_rank=3),
        train.Outcome(case([1]), 0.05, False, answer_rank=0),  # abstained: counts nowhere
        train.Outcome(case([0]), 0.9, False),  # no candidate holds the answer
    ]
    row = train.errors(outcomes, 0.1)["by_set"]["all"]
    assert row["answerable"] == 6
    assert [row[f"best_{k}_hold"] for k in train.HEADROOM_SENTENCES] == [1 / 6, 2 / 6, 3 / 6]
    assert row["answered_ceiling"] == 4 / 6
    assert row["candidate_ceiling"] == 5 / 6
