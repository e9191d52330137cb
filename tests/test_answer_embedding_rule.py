"""Only the candidates the answer model's rule names are embedded at question time, and training ships the
rule that embeds the fewest tokens without losing right answers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import answer_model, answers, evidence


def test_a_clear_winner_is_embedded_alone_and_close_ones_together() -> None:
    ranking = np.array([0.9, 0.2, 0.85, 0.1])
    assert answers.embedded(ranking, 3, 1.0) == [0, 2, 1]
    assert answers.embedded(ranking, 3, 0.1) == [0, 2]
    assert answers.embedded(ranking, 3, 0.01) == [0]
    assert answers.embedded(ranking, 1, 1.0) == [0]
    assert answers.embedded(ranking, 0, 1.0) == []
    assert answers.embedded(np.zeros(0), 3, 1.0) == []


def test_the_shipped_model_names_its_rule_and_an_older_file_means_the_best_three() -> None:
    model = answer_model.load()
    assert 1 <= model.embed_most <= 6 and 0.0 <= model.embed_within <= 1.0
    data = json.loads(answer_model.MODEL_FILE.read_text(encoding="utf-8"))
    for key in ("embed_sentences", "embed_within"):
        data.pop(key, None)
    older = answer_model.parse(data)
    assert (older.embed_most, older.embed_within) == (3, 1.0)


def test_an_ask_embeds_exactly_the_candidates_the_rule_names(indexed_seeds_dir: Path) -> None:
    from indexer.settings import load_settings
    from webapp.services import Services

    settings = load_settings(overrides={"data.dir": str(indexed_seeds_dir)}, environ={})
    services = Services.open(settings)
    try:
        found = answers.gather(services.retriever, "متى وصل كيم جونغ أون إلى روسيا؟", [], "hybrid", settings)
        assert len(found.sentences) > 3
        model = answer_model.load()
        ranking = model.cheap.probability(evidence.with_gaps(found.features))
        scored = answers.probabilities(services.retriever, found, model, 3)
        assert list(scored.final) == answers.embedded(ranking, model.embed_most, model.embed_within)
        # The rule before this one: always the best three; a rule of one: the first stage's best alone.
        wide = dataclasses.replace(model, embed_most=3, embed_within=1.0)
        assert len(answers.probabilities(services.retriever, found, wide, 3).final) == 3
        alone = answers.probabilities(services.retriever, found, wide, 1).final
        assert list(alone) == [int(np.argmax(ranking))]
        # answer.embed_sentences = 0: nothing embedded, every candidate keeps its first-stage probability.
        cheap = answers.probabilities(services.retriever, found, model, 0)
        assert len(cheap.final) == len(found.sentences)
        assert cheap.final[0] == pytest.approx(float(ranking[0]))
    finally:
        services.close()


def test_training_keeps_the_reference_rule_unless_a_cheaper_one_is_as_right_on_every_fold() -> None:
    from evaluation.scripts import train_answers as train

    def result(rule: train.Rule, rights: list[float], tokens: float) -> train.CrossValidation:
        folds = [{"right": r, "abstained": 0.05} for r in rights]
        pooled = {"right": float(np.mean(rights)), "abstained": 0.05}
        return train.CrossValidation(rule, folds, [], [], 0.1, [], {"embedded_tokens": tokens}, pooled)

    reference = result(train.Rule(3, 1.0), [0.70, 0.40, 0.75], 165.0)
    as_right = result(train.Rule(3, 0.1), [0.70, 0.395, 0.76], 90.0)
    loses_a_fold = result(train.Rule(1, 1.0), [0.72, 0.37, 0.77], 55.0)
    assert train.choose_rule([reference, as_right, loses_a_fold]).rule == train.Rule(3, 0.1)
    assert train.choose_rule([reference, loses_a_fold]).rule == train.Rule(3, 1.0)


def test_each_held_out_set_is_reported_with_the_rule_chosen_without_it() -> None:
    from evaluation.scripts import train_answers as train
    from evaluation.squad import Question

    def case(dataset: str) -> train.Case:
        question = Question(dataset, "q", "q", ("a",), False, "a")
        found = answers.Candidates("q", None, [], [], [], None)
        return train.Case(dataset, "present", question, found, np.zeros(0))

    cases = {d: case(d) for d in ("a", "b")}
    model = answer_model.load()

    def result(rule: train.Rule, rights: dict[str, float]) -> train.CrossValidation:
        folds = [{"held_out": d, "right": r, "abstained": 0.0} for d, r in rights.items()]
        scores: list[tuple[train.Case, answers.Scores | None]] = [(cases[d], None) for d in rights]
        return train.CrossValidation(rule, folds, scores, [model] * len(scores), 0.1, [], {}, {})

    wide, narrow = train.Rule(3, 1.0), train.Rule(1, 1.0)
    results = [result(wide, {"a": 0.6, "b": 0.5}), result(narrow, {"a": 0.7, "b": 0.4})]
    held = train.combined(results, {"a": narrow, "b": wide}, 3, len, 3)
    assert [(f["held_out"], f["right"], f["rule"]) for f in held.folds] == [
        ("a", 0.7, narrow.name),
        ("b", 0.5, wide.name),
    ]
    # Every case once, scored by the fold that held it out under that fold's rule.
    assert [c.dataset for c, _ in held.scores] == ["a", "b"]
    assert len(held.out_of_fold) == 2 and held.pooled["answerable"] == 2
