"""The best sentence is quoted with its neighbour when the shipped model says the neighbour holds the answer."""

from __future__ import annotations

import numpy as np

from indexer.analysis import analyze
from indexer.models import Article
from indexer.stores.base import StoredPassage
from retrieval import answer_model, answers, compose, evidence
from retrieval.search import Candidate
from retrieval.sentences import split_sentences

QUESTION = "كم دار نشر شاركت في معرض الكتاب في الرياض؟"
# The lead names the fair (most of the question's words), the next sentence holds the number asked for.
TEXT = (
    "افتتح معرض الكتاب الدولي في الرياض أبوابه أمام الزوار وسط حضور كبير من المثقفين.\n"
    "وشاركت في دورته هذا العام 450 دار نشر قدمت من 30 دولة.\n"
    "ويستمر المعرض عشرة أيام تتخلله ندوات وأمسيات شعرية وتوقيع كتب جديدة."
)


def candidates() -> answers.Candidates:
    """The passage's sentences with their features, computed by the evidence functions as `gather` does."""
    ignore = compose.question_terms(analyze)
    keys = compose.key_terms(QUESTION, analyze, ignore)
    kind = evidence.answer_type(QUESTION)
    spans = split_sentences(TEXT)
    pieces = [
        compose.Sentence(0, a, b, TEXT[a:b], frozenset(t.term for t in analyze(TEXT[a:b])), i)
        for i, (a, b) in enumerate(spans)
    ]
    weights = evidence.term_weights([frozenset().union(*(s.terms for s in pieces))])
    around = evidence.passage_overlap([s.terms for s in pieces], keys)
    features = []
    for s in pieces:
        found = evidence.type_spans(s.text, kind)
        features.append(
            evidence.cheap_features(
                0.88,
                evidence.overlap(s.terms, keys),
                evidence.weighted_overlap(s.terms, keys, weights),
                kind,
                bool(found),
                evidence.Position(0, 0, 0, s.index, len(pieces)),
                len(s.terms),
                False,
                evidence.surroundings(s.terms, s.index, around, keys, found, s.text, QUESTION),
            )
        )
    passage = Candidate(StoredPassage(1, "fair", 0, TEXT, 0, len(TEXT)), Article("fair", "المعرض", TEXT), 1.0)
    return answers.Candidates(QUESTION, kind, [passage], pieces, features, None)


def test_the_sentence_after_the_lead_joins_it_verbatim_in_reading_order() -> None:
    found = candidates()
    model = answer_model.load()
    assert model.neighbour.features == evidence.NEIGHBOUR_FEATURES
    # The lead scored best (as it often does), the sentence with the number second.
    scores = answers.Scores(np.array([0.55, 0.40, 0.05]), {0: 0.55})
    near = answers.neighbour_of(found, scores, 0, model)
    assert near is not None and near[0] == 1, "the neighbour offered is the sentence after the lead"

    chosen = answers.quotes(found, scores, model, 3, floor=0.1)
    assert chosen == [[0, 1]]
    quote = answers.quoted(found, chosen[0])
    assert quote.text == TEXT[quote.start : quote.end] and quote.text.startswith("افتتح")
    assert "450 دار نشر" in quote.text and "ويستمر" not in quote.text
    # The number asked for is marked inside the two-sentence quote.
    marked = [quote.text[a:b] for a, b in evidence.type_spans(quote.text, found.kind)]
    assert "450" in marked


def test_the_neighbour_stays_out_below_the_floor_or_when_one_sentence_is_allowed() -> None:
    found = candidates()
    model = answer_model.load()
    scores = answers.Scores(np.array([0.55, 0.40, 0.05]), {0: 0.55})
    near = answers.neighbour_of(found, scores, 0, model)
    assert near is not None
    assert answers.quotes(found, scores, model, 3, floor=near[1] + 0.01) == [[0]]
    assert answers.quotes(found, scores, model, 1, floor=0.1) == [[0]]
    assert answers.quotes(found, scores, model, 3, floor=0.1, neighbours=False) == [[0]]


def test_training_counts_an_answer_right_only_when_the_gold_text_is_quoted_and_reports_its_length() -> None:
    from evaluation.scripts import train_answers
    from evaluation.squad import Question

    found = candidates()
    model = answer_model.load()
    question = Question("test", "q1", QUESTION, ("450 دار نشر",), False, "fair")
    case = train_answers.make_cases(question, found)[0]
    scores = answers.Scores(np.array([0.55, 0.40, 0.05]), {0: 0.55})
    joined, alone = (
        train_answers.compose_all([(case, scores)], model, 3, 0.1, neighbours)[0]
        for neighbours in (True, False)
    )
    assert joined.right and joined.joined and joined.sentences == 2
    assert not alone.right and not alone.joined and alone.sentences == 1
    assert joined.words == len(answers.quoted(found, [0, 1]).text.split()) > alone.words
    given = train_answers.lengths([joined], 0.1)
    assert given["neighbour_joined"] == 1.0 and given["answer_sentences"] == 2.0
    # Below the threshold the question counts as abstained and its answer's length is not counted.
    assert train_answers.lengths([joined], 0.6)["answer_words"] is None
