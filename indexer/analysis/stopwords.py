"""Lucene's Arabic stop words, matched after lowercasing and before normalization, as ArabicAnalyzer does."""

from __future__ import annotations

# The word list of org/apache/lucene/analysis/ar/stopwords.txt in lucene-analyzers-common 8.7.0
# (Jacques Savoy's list, BSD licence, http://members.unine.ch/jacques.savoy/clef/). It is not normalized:
# forms with and without hamza are both listed because the stop filter runs before normalization.
ARABIC_STOP_WORDS: tuple[str, ...] = (
    "من", "ومن", "منها", "منه", "في", "وفي", "فيها", "فيه", "و", "ف", "ثم", "او", "أو", "ب", "بها", "به",
    "ا", "أ", "اى", "اي", "أي", "أى", "لا", "ولا", "الا", "ألا", "إلا", "لكن", "ما", "وما", "كما", "فما",
    "عن", "مع", "اذا", "إذا", "ان", "أن", "إن", "انها", "أنها", "إنها", "انه", "أنه", "إنه", "بان", "بأن",
    "فان", "فأن", "وان", "وأن", "وإن", "التى", "التي", "الذى", "الذي", "الذين", "الى", "الي", "إلى", "إلي",
    "على", "عليها", "عليه", "اما", "أما", "إما", "ايضا", "أيضا", "كل", "وكل", "لم", "ولم", "لن", "ولن", "هى",
    "هي", "هو", "وهى", "وهي", "وهو", "فهى", "فهي", "فهو", "انت", "أنت", "لك", "لها", "له", "هذه", "هذا",
    "تلك", "ذلك", "هناك", "كانت", "كان", "يكون", "تكون", "وكانت", "وكان", "غير", "بعض", "قد", "نحو", "بين",
    "بينما", "منذ", "ضمن", "حيث", "الان", "الآن", "خلال", "بعد", "قبل", "حتى", "عند", "عندما", "لدى", "جميع",
)

STOP_SET: frozenset[str] = frozenset(ARABIC_STOP_WORDS)
