"""Extractive answer composition: follow-up context, sentence scoring and selection, pure functions.

The answer is never generated text: it is 1-3 sentences copied from retrieved passages, each then cited.
Sentences are scored elsewhere (evidence.py features, answer_model.py weights); this module finds the
question's key terms and its follow-up context, and picks the answer's sentences from scored candidates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from indexer.models import Token

Analyzer = Callable[[str], list[Token]]

ABSTAIN_TEXT = "لم أجد في المقالات المفهرسة ما يجيب عن هذا السؤال."

# Interrogatives and question fillers: they say what kind of answer is wanted, not what it is about,
# so they never count as key terms (Lucene's stop list keeps some of them, e.g. متى and كيف).
QUESTION_WORDS = (
    "ما",
    "ماذا",
    "من",
    "متى",
    "أين",
    "اين",
    "كيف",
    "كم",
    "لماذا",
    "لما",
    "هل",
    "أي",
    "أية",
    "اي",
    "ماهو",
    "ماهي",
    "هو",
    "هي",
    "الذي",
    "التي",
    "الذين",
    "يكون",
    "تكون",
    "كان",
    "كانت",
    "تم",
    "ذلك",
    "هذا",
    "هذه",
    "عن",
    "ومتى",
    "ومن",
    "وما",
    "وأين",
    "وكيف",
    "وكم",
    "ولماذا",
    "وهل",
)
# Words pointing back to an earlier turn ("ومتى حدث ذلك؟", "ومن قال ذلك؟"); a leading و or ف is
# stripped before the lookup.
ANAPHORA = frozenset(
    {
        "ذلك",
        "ذاك",
        "تلك",
        "هذا",
        "هذه",
        "هؤلاء",
        "أولئك",
        "هو",
        "هي",
        "هم",
        "هن",
        "عنه",
        "عنها",
        "عنهم",
        "فيه",
        "فيها",
        "له",
        "لها",
        "لهم",
        "منه",
        "منها",
        "حينها",
        "عندها",
        "بعدها",
        "قبلها",
        "الأمر",
        "الحادث",
        "الحدث",
    }
)
# Verbs that say something happened or was said without saying what: with only these left, a question
# ("ومن قال ذلك؟") has no subject of its own.
GENERIC_VERBS = ("قال", "قالت", "حدث", "جرى", "وقع", "تم", "صار", "فعل", "ذكر", "أعلن", "حصل")
FOLLOW_UP_MAX_TERMS = 2  # a question with this few key terms cannot stand alone after earlier turns
HISTORY_TURNS = 2  # earlier user turns whose terms a follow-up borrows

DUPLICATE_JACCARD = 0.6  # term-set overlap above which two sentences say the same thing (agency copy)
MIN_NEW_TERMS = 0.3  # an added sentence must bring at least this share of terms not yet in the answer
SECOND_MARGIN = 0.04  # an added sentence scores within this of the best one
MIN_SENTENCE_TERMS = 4  # shorter "sentences" are captions, datelines or headings
MAX_SENTENCE_CHARS = 600

_WORD = re.compile(r"\w+")


def _bare(word: str) -> str:
    """A raw word without a leading conjunction و/ف, for looking it up in a word list."""
    return word[1:] if len(word) > 3 and word[0] in "وف" else word


def question_terms(analyze: Analyzer) -> frozenset[str]:
    """The analyzed forms of the question words, so they match what the analyzer makes of a question."""
    return frozenset(t.term for w in QUESTION_WORDS for t in analyze(w))


def key_terms(text: str, analyze: Analyzer, ignore: Iterable[str] = ()) -> list[str]:
    """Analyzed terms of `text` that carry its topic: no stop words, no question words, in order, unique."""
    skip = set(ignore)
    return list(dict.fromkeys(t.term for t in analyze(text) if t.term not in skip))


def is_follow_up(question: str, analyze: Analyzer, ignore: Iterable[str] = ()) -> bool:
    """True when a question needs an earlier turn: very few key terms, or a word pointing back."""
    if len(key_terms(question, analyze, ignore)) <= FOLLOW_UP_MAX_TERMS:
        return True
    return any(_bare(w) in ANAPHORA or w in ANAPHORA for w in _WORD.findall(question))


def has_no_subject(question: str, analyze: Analyzer, ignore: Iterable[str] = ()) -> bool:
    """True for a question that only points back ("ومتى حدث ذلك؟"): nothing to retrieve without history."""
    generic = {t.term for verb in GENERIC_VERBS for t in analyze(verb)}
    return not [t for t in key_terms(question, analyze, ignore) if t not in generic]


def with_context(
    question: str, history: Sequence[dict[str, str]], analyze: Analyzer, ignore: Iterable[str] = ()
) -> str:
    """The text to retrieve with: the question, preceded by the last user turns when it is a follow-up.

    Only user turns are borrowed: an assistant turn may be an abstention or quote unrelated sentences,
    while the user's earlier question names the subject the follow-up refers to.
    """
    earlier = [turn["content"] for turn in history if turn.get("role") == "user" and turn.get("content")]
    if not earlier or not is_follow_up(question, analyze, ignore):
        return question
    return " ".join([*earlier[-HISTORY_TURNS:], question])


@dataclass(frozen=True, slots=True)
class Sentence:
    """A candidate answer sentence: where it is (passage rank and span in the passage) and its terms."""

    passage: int
    start: int
    end: int
    text: str
    terms: frozenset[str]
    index: int = 0  # among its passage's sentences (usable or not): neighbours differ by one


def usable(text: str, terms: frozenset[str]) -> bool:
    return len(terms) >= MIN_SENTENCE_TERMS and len(text) <= MAX_SENTENCE_CHARS


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def choose(
    sentences: Sequence[Sentence],
    scores: Sequence[float],
    max_sentences: int,
    cues: Sequence[bool] | None = None,
    margin: float = SECOND_MARGIN,
    floor: float = float("-inf"),
) -> list[int]:
    """Indices of the 1..max_sentences sentences forming the answer, best first.

    After the best sentence, another is added only if it comes from a passage not used yet, scores
    within `margin` of the best and at least `floor`, is not a near-duplicate of a chosen one, and
    brings new terms; and when the best one has the fact asked for (`cues`: a date for متى), only if
    it has one too.
    """
    order = sorted(range(len(sentences)), key=lambda i: -scores[i])
    chosen: list[int] = []
    for i in order:
        if len(chosen) >= max_sentences:
            break
        candidate = sentences[i]
        if chosen:
            if scores[i] < scores[chosen[0]] - margin or scores[i] < floor:
                break
            if any(sentences[j].passage == candidate.passage for j in chosen):
                continue
            if cues is not None and cues[chosen[0]] and not cues[i]:
                continue
            if any(jaccard(sentences[j].terms, candidate.terms) >= DUPLICATE_JACCARD for j in chosen):
                continue
            known = frozenset().union(*(sentences[j].terms for j in chosen))
            if len(candidate.terms - known) < MIN_NEW_TERMS * len(candidate.terms):
                continue
        chosen.append(i)
    return chosen
