"""The shipped answer model loads, scores in [0, 1], and a missing, malformed or stale model file is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval import answer_model, evidence


def test_the_shipped_model_matches_the_features_this_code_computes() -> None:
    model = answer_model.load()
    assert model.cheap.features == evidence.RANKING_FEATURES
    assert model.full.features == evidence.FULL_FEATURES
    assert 0.0 < model.threshold < 1.0
    # The first: every key term, the fact asked for (new to the question), in the best passage; the second:
    # none of them, in a passage about something else.
    rows = evidence.with_gaps(
        [
            [0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 2.5, 0.0, 0.4, 1.0, 0.7, 0.5, 0.5, 1.0, 0.0],
            [0.7, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.2, 0.0, 0.0, 2.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.1],
        ]
    )
    cheap = model.cheap.probability(rows)
    assert ((cheap > 0) & (cheap < 1)).all()
    assert cheap[0] > cheap[1], "the sentence with every key term and the fact asked for ranks first"
    full = model.full.probability(evidence.with_sentence(rows, [0.92, 0.75]))
    assert full[0] > full[1]


def test_a_missing_or_malformed_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(answer_model.AnswerModelError, match="missing.*make train-answers"):
        answer_model.load(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(answer_model.AnswerModelError, match="broken.json"):
        answer_model.load(broken)
    with pytest.raises(answer_model.AnswerModelError, match="not an answer model"):
        answer_model.parse({"version": "x"}, broken)


def test_a_model_trained_on_other_features_is_refused(tmp_path: Path) -> None:
    data = json.loads(answer_model.MODEL_FILE.read_text(encoding="utf-8"))
    data["cheap"]["features"] = data["cheap"]["features"][:-1]
    with pytest.raises(answer_model.AnswerModelError, match="retrain"):
        answer_model.parse(data, tmp_path / "stale.json")
