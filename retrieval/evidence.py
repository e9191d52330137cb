"""Answer evidence features: what a reader looks for in a candidate sentence, as numbers a model combines.

Pure functions. A question asks for a kind of fact (متى a date, كم a number, من a person, أين a place,
لماذا a reason); patterns over the raw sentence say whether it holds one, and where (for marking it).
Key-term overlap is weighted by how rare a term is among the evidence passages: a word every passage
shares (the topic) tells sentences apart less than one only the answering sentence has.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

# The features in the order the model's weights use; `answer_model.json` records this list and a model
# trained on another list is refused.
CHEAP_FEATURES = (
    "passage_similarity",  # question · stored passage vector
    "overlap",  # share of the question's key terms in the sentence
    "idf_overlap",  # the same, each term weighted by its rarity among the evidence passages
    "type_asked",  # the question asks for a date, number, person, place or reason
    "type_found",  # ... and the sentence holds one
    "first_sentence",  # the passage's first sentence (a lead often holds the fact)
    "position",  # the sentence's place in its passage, 0 (first) to 1 (last)
    "passage_rank",  # 1 / (1 + rank of the passage in the fused list)
    "keyword_rank",  # 1 / (1 + rank in the BM25 list), 0 when it is not in that list
    "semantic_rank",  # 1 / (1 + rank in the dense list), 0 when it is not in that list
    "length",  # log(1 + number of terms)
    "repeated",  # already quoted earlier in the conversation
    # What the sentence adds to the question, and what surrounds it (bench error analysis: half the wrong
    # picks were the passage's lead or a sentence restating the question, the answer one sentence away):
    "novel",  # share of the sentence's terms that are not the question's key terms
    "type_new",  # a fact of the kind asked for whose words are not all in the question
    "type_count",  # log(1 + facts of that kind found)
    "previous_overlap",  # key-term share of the sentence before it in its passage
    "next_overlap",  # ... and of the one after it
    "passage_overlap",  # key-term share of the whole passage
    "passage_overlap_gap",  # how far the sentence's share is behind the passage's best sentence
)
# Relative to the question's other candidates (computed when scoring, over the candidates at hand): how far
# a sentence is behind the best one. A classifier over sentences of many questions otherwise learns
# absolute levels, which vary from question to question, rather than which sentence of this one is best.
GAP_FEATURES = ("passage_similarity_gap", "overlap_gap", "idf_overlap_gap")
_GAPPED = tuple(CHEAP_FEATURES.index(name.removesuffix("_gap")) for name in GAP_FEATURES)
SENTENCE_FEATURES = ("sentence_similarity", "sentence_gap")  # question · the sentence's own vector
RANKING_FEATURES = (*CHEAP_FEATURES, *GAP_FEATURES)
FULL_FEATURES = (*RANKING_FEATURES, *SENTENCE_FEATURES)

_DIGITS = "0-9٠-٩۰-۹"
_NUMBER_WORDS = (
    "واحد",
    "اثنين",
    "اثنان",
    "ثلاث",
    "أربع",
    "اربع",
    "خمس",
    "ست",
    "سبع",
    "ثمان",
    "تسع",
    "عشر",
    "عشرين",
    "مئة",
    "مائة",
    "مئات",
    "ألف",
    "الف",
    "آلاف",
    "ألفين",
    "مليون",
    "ملايين",
    "مليار",
    "نصف",
    "ربع",
    "ثلث",
    "عشرات",
    "ثلاثين",
    "أربعين",
    "خمسين",
    "ستين",
    "سبعين",
    "ثمانين",
    "تسعين",
)
_MONTHS = (
    "يناير",
    "فبراير",
    "مارس",
    "أبريل",
    "ابريل",
    "مايو",
    "يونيو",
    "يوليو",
    "أغسطس",
    "اغسطس",
    "سبتمبر",
    "أكتوبر",
    "اكتوبر",
    "نوفمبر",
    "ديسمبر",
    "كانون",
    "شباط",
    "آذار",
    "نيسان",
    "أيار",
    "حزيران",
    "تموز",
    "آب",
    "أيلول",
    "تشرين",
    "محرم",
    "صفر",
    "ربيع",
    "جمادى",
    "رجب",
    "شعبان",
    "رمضان",
    "شوال",
    "القعدة",
    "الحجة",
)
_DAYS = (
    "السبت",
    "الأحد",
    "الاحد",
    "الاثنين",
    "الإثنين",
    "الثلاثاء",
    "الأربعاء",
    "الاربعاء",
    "الخميس",
    "الجمعة",
)
_PERSON_CUES = (
    "الرئيس",
    "الملك",
    "الأمير",
    "الامير",
    "الشيخ",
    "الدكتور",
    "السيد",
    "السيدة",
    "الإمام",
    "الامام",
    "الخليفة",
    "السلطان",
    "الوزير",
    "الكاتب",
    "الشاعر",
    "اللاعب",
    "المدرب",
    "الفنان",
    "الفنانة",
    "المخرج",
    "العالم",
    "القائد",
    "الفيلسوف",
    "المؤرخ",
    "النبي",
    "البابا",
    "الجنرال",
    "المهندس",
    "الأستاذ",
    "الاستاذ",
)
_NAME_PARTICLES = ("بن", "ابن", "بنت", "أبو", "ابو", "أبي", "ابي", "آل")
_PLACE_CUES = (
    "مدينة",
    "محافظة",
    "ولاية",
    "دولة",
    "منطقة",
    "جزيرة",
    "عاصمة",
    "العاصمة",
    "بلدة",
    "قرية",
    "إقليم",
    "اقليم",
    "قارة",
    "شمال",
    "جنوب",
    "شرق",
    "غرب",
    "شمالي",
    "جنوبي",
    "شرقي",
    "غربي",
    "وسط",
    "بلاد",
    "مملكة",
    "جمهورية",
    "إمارة",
    "امارة",
    "حي",
    "نهر",
    "جبل",
    "بحر",
    "خليج",
    "ساحل",
    "سواحل",
    "حدود",
    "يقع",
    "تقع",
    "مقر",
)
_REASON_CUES = (
    "بسبب",
    "لأن",
    "لان",
    "لأنه",
    "لأنها",
    "نتيجة",
    "بهدف",
    "إثر",
    "اثر",
    "جراء",
    "أجل",
    "بغية",
    "لكي",
    "كي",
    "بفعل",
    "نظرا",
    "نظراً",
    "بداعي",
    "سبب",
)


def _alternation(words: Sequence[str]) -> str:
    return "|".join(sorted({re.escape(w) for w in words}, key=len, reverse=True))


# A word may carry a leading و ف ب ل ك (and ال after them); patterns match the bare word after them.
_PREFIX = r"(?<!\w)(?:[وفبلك]{0,2})"
_END = r"(?!\w)"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "date": re.compile(
        rf"(?<![{_DIGITS}])(?:1[0-9]{{3}}|20[0-9]{{2}}|[١٢][٠-٩]{{3}})(?![{_DIGITS}])"
        rf"|[{_DIGITS}]{{1,2}}\s*[/-]\s*[{_DIGITS}]{{1,2}}"
        rf"|{_PREFIX}(?:{_alternation(_MONTHS + _DAYS)}){_END}"
        rf"|{_PREFIX}(?:ال)?(?:قرن|عام|سنة|العام|السنة)\s+[{_DIGITS}]+"
        rf"|[{_DIGITS}]+\s*(?:هـ|م|ه){_END}"
    ),
    "number": re.compile(
        rf"[{_DIGITS}]+(?:[.,٫][{_DIGITS}]+)?(?:\s*(?:%|٪|في المئة|بالمئة|بالمائة))?"
        rf"|{_PREFIX}(?:ال)?(?:{_alternation(_NUMBER_WORDS)})(?:ة|ه|ات|ين|ون|ا)?{_END}"
    ),
    "person": re.compile(
        rf"{_PREFIX}(?:{_alternation(_PERSON_CUES)})\s+\w+"
        rf"(?:\s+(?:{_alternation(_NAME_PARTICLES)})\s+\w+|\s+\w+)?"
        rf"|\w+\s+(?:{_alternation(_NAME_PARTICLES)})\s+\w+"
        rf"|{_PREFIX}عبد\s?ال\w+"
    ),
    "place": re.compile(rf"{_PREFIX}(?:ال)?(?:{_alternation(_PLACE_CUES)})(?:\s+\w+)?{_END}"),
    "reason": re.compile(rf"{_PREFIX}(?:{_alternation(_REASON_CUES)}){_END}(?:\s+\w+){{0,4}}"),
}

_WORD = re.compile(r"\w+")
_DATE_NOUNS = (
    "عام",
    "سنة",
    "يوم",
    "شهر",
    "تاريخ",
    "قرن",
    "العام",
    "السنة",
    "اليوم",
    "الشهر",
    "التاريخ",
    "القرن",
)
_PLACE_NOUNS = ("مدينة", "دولة", "بلد", "منطقة", "مكان", "محافظة", "ولاية", "قارة", "عاصمة", "جزيرة", "قرية")
_NUMBER_NOUNS = ("عدد", "مساحة", "طول", "عمر", "نسبة", "مدة", "حجم", "وزن", "ارتفاع", "سعر", "قيمة", "مبلغ")
_PERSON_NOUNS = ("اسم", "مؤسس", "مخترع", "مؤلف", "رئيس", "ملك", "كاتب", "مكتشف", "مخرج", "مدرب", "قائد")


def _bare(word: str) -> str:
    return word[1:] if len(word) > 2 and word[0] in "وف" else word


def answer_type(question: str) -> str | None:
    """The kind of fact the question asks for, from its question word and the noun after it."""
    words = [_bare(w) for w in _WORD.findall(question)]
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else ""
        if word == "متى":
            return "date"
        if word == "كم":
            return "number"
        if word in ("أين", "اين"):
            return "place"
        if word in ("لماذا", "لم") and i == 0:
            return "reason"
        if word in ("أي", "اي", "أية", "اية"):
            if following in _DATE_NOUNS:
                return "date"
            if following in _PLACE_NOUNS:
                return "place"
        if word in ("ما", "ماذا", "ماهو", "ماهي", "هو", "هي") and following:
            noun = following.removeprefix("ال")
            if noun in _NUMBER_NOUNS:
                return "number"
            if noun in _PLACE_NOUNS:
                return "place"
            if noun in _DATE_NOUNS or noun == "تاريخ":
                return "date"
            if noun in _PERSON_NOUNS:
                return "person"
        if word == "من" and i == 0:
            return "person"
    return None


def type_spans(text: str, kind: str | None) -> list[tuple[int, int]]:
    """[start, end) spans of `text` holding the kind of fact asked for (a date, a number, a name...)."""
    if kind is None:
        return []
    return [m.span() for m in _PATTERNS[kind].finditer(text) if m.end() > m.start()]


def term_weights(passage_terms: Sequence[frozenset[str]]) -> dict[str, float]:
    """log(1 + N / df) for every term of the evidence passages: rare among them means telling."""
    count = len(passage_terms)
    frequency: dict[str, int] = {}
    for terms in passage_terms:
        for term in terms:
            frequency[term] = frequency.get(term, 0) + 1
    return {term: math.log(1.0 + count / df) for term, df in frequency.items()}


def overlap(terms: frozenset[str], question_keys: Sequence[str]) -> float:
    """The share of the question's key terms the sentence contains."""
    return sum(1 for t in question_keys if t in terms) / len(question_keys) if question_keys else 0.0


def weighted_overlap(terms: frozenset[str], question_keys: Sequence[str], weights: dict[str, float]) -> float:
    """The weighted share of the question's key terms the sentence contains; unseen terms weigh the most."""
    if not question_keys:
        return 0.0
    default = max(weights.values(), default=1.0)
    total = sum(weights.get(t, default) for t in question_keys)
    return sum(weights.get(t, default) for t in question_keys if t in terms) / total if total else 0.0


@dataclass(frozen=True, slots=True)
class Position:
    """Where a candidate sentence sits: its passage's ranks, and its place among the passage's sentences."""

    passage_rank: int
    keyword_rank: int | None
    semantic_rank: int | None
    index: int  # the sentence's index among its passage's sentences
    count: int  # how many sentences the passage has


def reciprocal(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / (1.0 + rank)


@dataclass(frozen=True, slots=True)
class Surroundings:
    """The sentence against the question and its passage: new terms, new facts, its neighbours' overlap."""

    novel: float
    type_new: bool
    type_count: int
    previous_overlap: float
    next_overlap: float
    passage_overlap: float
    passage_best_overlap: float


def new_fact(text: str, spans: Sequence[tuple[int, int]], question: str) -> bool:
    """True when a span of the kind asked for has a word the question does not (the fact, not the subject)."""
    asked = set(_WORD.findall(question))
    return any(not set(_WORD.findall(text[a:b])) <= asked for a, b in spans)


@dataclass(frozen=True, slots=True)
class PassageOverlap:
    """The question's key-term share in each sentence of one passage, and in the passage as a whole."""

    shares: list[float]
    whole: float


def passage_overlap(passage_terms: Sequence[frozenset[str]], question_keys: Sequence[str]) -> PassageOverlap:
    """Computed once per passage (its sentences' term sets, in order), shared by its sentences."""
    return PassageOverlap(
        [overlap(terms, question_keys) for terms in passage_terms],
        overlap(frozenset().union(*passage_terms), question_keys),
    )


def surroundings(
    terms: frozenset[str],
    index: int,
    passage: PassageOverlap,
    question_keys: Sequence[str],
    spans: Sequence[tuple[int, int]],
    text: str,
    question: str,
) -> Surroundings:
    """Surroundings of sentence `index` (its `terms`, `text`, facts found at `spans`) in its passage."""
    keys = set(question_keys)
    shares = passage.shares
    return Surroundings(
        novel=1.0 - len(terms & keys) / len(terms) if terms else 0.0,
        type_new=new_fact(text, spans, question),
        type_count=len(spans),
        previous_overlap=shares[index - 1] if index > 0 else 0.0,
        next_overlap=shares[index + 1] if index + 1 < len(shares) else 0.0,
        passage_overlap=passage.whole,
        passage_best_overlap=max(shares),
    )


def cheap_features(
    similarity: float,
    overlap: float,
    idf_overlap: float,
    kind: str | None,
    found: bool,
    where: Position,
    terms: int,
    repeated: bool,
    around: Surroundings,
) -> list[float]:
    """One row of CHEAP_FEATURES."""
    return [
        similarity,
        overlap,
        idf_overlap,
        1.0 if kind else 0.0,
        1.0 if kind and found else 0.0,
        1.0 if where.index == 0 else 0.0,
        where.index / (where.count - 1) if where.count > 1 else 0.0,
        reciprocal(where.passage_rank),
        reciprocal(where.keyword_rank),
        reciprocal(where.semantic_rank),
        math.log1p(terms),
        1.0 if repeated else 0.0,
        around.novel,
        1.0 if around.type_new else 0.0,
        math.log1p(around.type_count),
        around.previous_overlap,
        around.next_overlap,
        around.passage_overlap,
        around.passage_best_overlap - overlap,
    ]


def with_gaps(rows: Sequence[Sequence[float]]) -> list[list[float]]:
    """CHEAP_FEATURES rows of one question's candidates, extended to RANKING_FEATURES."""
    best = [max((row[i] for row in rows), default=0.0) for i in _GAPPED]
    return [[*row, *(top - row[i] for top, i in zip(best, _GAPPED, strict=True))] for row in rows]


def with_sentence(rows: Sequence[Sequence[float]], similarities: Sequence[float]) -> list[list[float]]:
    """RANKING_FEATURES rows extended to FULL_FEATURES with each sentence's own similarity and its gap."""
    best = max(similarities, default=0.0)
    return [[*row, s, best - s] for row, s in zip(rows, similarities, strict=True)]


# The sentence next to the answer's best one, in the same passage (bench error analysis: in 226 of the 650
# out-of-fold wrong picks the answer was in the sentence just before or after the one picked, most often the
# one after a passage's lead). A third small model says how likely that neighbour holds the answer, given
# the best sentence and its probability; the answer then quotes both, in reading order.
NEIGHBOUR_FEATURES = (
    "neighbour_ranking",  # log-odds of the neighbour's first-stage probability
    "best_probability",  # log-odds of the best sentence's final probability
    "neighbour_follows",  # the neighbour is the sentence after the best one (else the one before)
    "best_first",  # the best sentence is its passage's first (a lead, often followed by the fact)
    "neighbour_overlap",
    "neighbour_idf_overlap",
    "neighbour_type_found",
    "neighbour_type_new",
    "neighbour_type_count",
    "neighbour_novel",
    "neighbour_length",
    "best_type_found",
    "best_type_new",
    "best_overlap",
    "best_idf_overlap",
    "type_asked",
    "idf_overlap_over_best",  # the neighbour's weighted key-term share minus the best sentence's
)
_C = {name: i for i, name in enumerate(CHEAP_FEATURES)}


def log_odds(p: float) -> float:
    p = min(max(p, 1e-4), 1.0 - 1e-4)
    return math.log(p / (1.0 - p))


def neighbour_features(
    neighbour: Sequence[float],
    best: Sequence[float],
    neighbour_ranking: float,
    best_probability: float,
    follows: bool,
) -> list[float]:
    """One row of NEIGHBOUR_FEATURES from the two sentences' CHEAP_FEATURES rows and their probabilities."""
    return [
        log_odds(neighbour_ranking),
        log_odds(best_probability),
        1.0 if follows else 0.0,
        best[_C["first_sentence"]],
        neighbour[_C["overlap"]],
        neighbour[_C["idf_overlap"]],
        neighbour[_C["type_found"]],
        neighbour[_C["type_new"]],
        neighbour[_C["type_count"]],
        neighbour[_C["novel"]],
        neighbour[_C["length"]],
        best[_C["type_found"]],
        best[_C["type_new"]],
        best[_C["overlap"]],
        best[_C["idf_overlap"]],
        neighbour[_C["type_asked"]],
        neighbour[_C["idf_overlap"]] - best[_C["idf_overlap"]],
    ]
