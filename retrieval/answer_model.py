"""The learned answer-sentence model: logistic weights read from a small versioned JSON file, numpy only.

Three logistic regressions over standardized features (trained by `make train-answers`,
`evaluation/scripts/train_answers.py`): the first ranks every candidate sentence with features that cost nothing,
the second re-scores the best few with their own embedding as well (those whose first-stage probability is
within `embed_within` of the best one's, at most `embed_most`: the rule the model was trained with); its output is the probability that
the sentence holds the answer, calibrated on held-out folds, and the answer abstains below `threshold`.
The third says how likely the sentence next to the best one holds the answer, so the answer can quote both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import IsnadError
from retrieval.evidence import FULL_FEATURES, NEIGHBOUR_FEATURES, RANKING_FEATURES

MODEL_FILE = Path(__file__).with_name("answer_model.json")


class AnswerModelError(IsnadError, ValueError):
    """The answer model file is missing, malformed, or was trained on other features."""


@dataclass(frozen=True, slots=True)
class Stage:
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def probability(self, rows: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0)
        x = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        odds: np.ndarray = np.exp(-(x @ self.coef + self.intercept))
        return 1.0 / (1.0 + odds)

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }


@dataclass(frozen=True, slots=True)
class AnswerModel:
    version: str
    cheap: Stage  # over RANKING_FEATURES, for every candidate
    full: Stage  # over FULL_FEATURES, for the best few with their sentence vectors
    neighbour: Stage  # over NEIGHBOUR_FEATURES, for the sentences next to the best one
    threshold: float  # answer when the best probability reaches this
    # Which candidates the second stage re-scores (answers.embedded): at most `embed_most`, those whose
    # first-stage probability is within `embed_within` of the best's. Chosen by cross-validation.
    embed_most: int = 3
    embed_within: float = 1.0


def _stage(data: dict[str, Any], expected: tuple[str, ...], path: Path) -> Stage:
    features = tuple(data.get("features", ()))
    if features != expected:
        raise AnswerModelError(
            f"{path}: trained on features {list(features)}, this code computes "
            f"{list(expected)}; retrain with `make train-answers`"
        )
    arrays = [np.asarray(data[key], dtype=np.float64) for key in ("mean", "scale", "coef")]
    if any(a.shape != (len(expected),) for a in arrays):
        raise AnswerModelError(f"{path}: weights do not have one value per feature")
    return Stage(
        features, arrays[0], np.where(arrays[1] == 0, 1.0, arrays[1]), arrays[2], float(data["intercept"])
    )


def parse(data: dict[str, Any], path: Path = MODEL_FILE) -> AnswerModel:
    try:
        return AnswerModel(
            str(data["version"]),
            _stage(data["cheap"], RANKING_FEATURES, path),
            _stage(data["full"], FULL_FEATURES, path),
            _stage(data["neighbour"], NEIGHBOUR_FEATURES, path),
            float(data["threshold"]),
            int(data.get("embed_sentences", 3)),
            float(data.get("embed_within", 1.0)),
        )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, AnswerModelError):
            raise
        raise AnswerModelError(f"{path}: not an answer model ({type(error).__name__}: {error})") from error


@cache
def load(path: Path = MODEL_FILE) -> AnswerModel:
    """The model shipped beside this module (read once per process)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnswerModelError(f"{path}: answer model missing; build it with `make train-answers`") from None
    except (OSError, json.JSONDecodeError) as error:
        raise AnswerModelError(f"{path}: cannot read the answer model: {error}") from error
    return parse(data, path)
