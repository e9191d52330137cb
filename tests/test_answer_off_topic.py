"""Training asks each question against another question's evidence too (an off-topic unanswerable case), and
the threshold must refuse that kind as well as the built ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluation.scripts import train_answers as train
from evaluation.squad import Question
from retrieval import answers

KIM = "متى وصل كيم جونغ أون إلى روسيا؟"
AZOV = "ما الذي اشتعل في مصفاة النفط في أزوف بعد هجوم المسيرات؟"


def test_a_question_asked_against_another_questions_evidence_is_described_for_itself(
    indexed_seeds_dir: Path,
) -> None:
    from indexer.settings import load_settings
    from webapp.services import Services

    settings = load_settings(overrides={"data.dir": str(indexed_seeds_dir)}, environ={})
    services = Services.open(settings)
    try:
        retriever = services.retriever
        own = answers.gather(retriever, KIM, [], "hybrid", settings)
        other = answers.gather(retriever, AZOV, [], "hybrid", settings)
        assert own.sentences and other.sentences
        # describe() is gather's second half: the same evidence gives the same features.
        again = answers.describe(
            retriever,
            AZOV,
            other.context,
            other.passages,
            other.query_vector,
            other.keyword_ranks,
            other.semantic_ranks,
        )
        assert np.allclose(again.features, other.features, atol=1e-5)

        outside = {p.article.id for p in own.passages} - {p.article.id for p in other.passages}
        question = Question("seeds", "kim", KIM, ("الثلاثاء",), False, min(outside))
        case = train.off_topic_case(retriever, question, own, other)
        assert case is not None and case.variant == "offtopic"
        # The other question's sentences, each described for this question: its kind, its key terms, its vector.
        assert [s.text for s in case.found.sentences] == [s.text for s in other.sentences]
        assert case.found.kind == "date" and other.kind is None
        assert case.found.query_vector is own.query_vector
        assert not np.allclose(case.found.features, other.features)
        assert case.labels.tolist() == [int("الثلاثاء" in s.text) for s in other.sentences]

        # When that evidence holds the question's own article, it is not off-topic.
        inside = other.passages[0].article.id
        inside_question = Question("seeds", "k", KIM, ("x",), False, inside)
        assert train.off_topic_case(retriever, inside_question, own, other) is None
    finally:
        services.close()


def outcome(variant: str, probability: float) -> train.Outcome:
    found = answers.Candidates("q", None, [], [], [], None)
    question = Question("set", "q", "q", ("a",), False, "a")
    case = train.Case("set", variant, question, found, np.zeros(0, np.int8))
    return train.Outcome(case, probability, False)


def test_the_threshold_refuses_the_built_kinds_and_the_off_topic_ones_each_and_reports_them_apart() -> None:
    built = [outcome("absent", p) for p in (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.5, 0.6, 0.7)]
    # At 0.08 seven of ten built ones are refused; the off-topic ones need 0.16 for seven of ten.
    off_topic = [outcome("offtopic", p) for p in (0.01, 0.02, 0.03, 0.04, 0.11, 0.12, 0.15, 0.5, 0.6, 0.7)]
    assert train.choose_threshold(built) == 0.08
    assert train.choose_threshold([*built, *off_topic]) == 0.16
    measured = train.rates([*built, *off_topic], 0.16)
    # The built kinds alone make the pooled refusal figure; off-topic has its own.
    assert measured["unanswerable"] == 10 and measured["unanswerable_abstained"] == 0.7
    assert measured["unanswerable_offtopic"] == 10 and measured["unanswerable_offtopic_abstained"] == 0.7
    assert train.rates(built, 0.16)["unanswerable_offtopic_abstained"] is None
