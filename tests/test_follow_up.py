"""A follow-up borrows at most a query's worth of its conversation, and borrows short turns whole as before."""

from __future__ import annotations

from indexer.analysis import analyze
from retrieval import compose
from retrieval.follow_up import bounded_history
from webapp.services import MAX_TURN_CHARS

IGNORE = compose.question_terms(analyze)
MAX_CHARS = 500
FOLLOW_UP = "ومتى حدث ذلك؟"
SUBJECT = "ما الذي اشتعل في مصفاة النفط في أزوف بعد هجوم المسيرات؟"
# Real sentences repeated to the longest turn history allows.
FILLER = (
    "وقال المتحدث باسم الوزارة إن الاجتماع المقبل سيبحث أسعار القمح والشحن البحري في الموانئ الجنوبية، "
    "مضيفا أن الوفود ستناقش كذلك خطط الطاقة المتجددة وتمويل مشاريع المياه في المدن الساحلية. "
)


def long_turn(head: str) -> str:
    text = head + " " + FILLER * (MAX_TURN_CHARS // len(FILLER) + 1)
    return text[:MAX_TURN_CHARS]


def test_turns_that_fit_are_borrowed_whole() -> None:
    history = [{"role": "user", "content": SUBJECT}, {"role": "assistant", "content": "اندلعت النيران."}]
    assert bounded_history(history, FOLLOW_UP, analyze, IGNORE, MAX_CHARS) == history
    context = compose.with_context(FOLLOW_UP, history, analyze, IGNORE)
    assert context == f"{SUBJECT} {FOLLOW_UP}"


def test_long_turns_give_their_key_words_within_the_query_limit() -> None:
    older = long_turn("كم بلغ سعر برميل النفط في الأسواق الآسيوية؟")
    newest = long_turn(SUBJECT)
    answer = "ج" * MAX_TURN_CHARS
    history = [
        {"role": "user", "content": older},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": newest},
        {"role": "assistant", "content": answer},
    ]
    bounded = bounded_history(history, FOLLOW_UP, analyze, IGNORE, MAX_CHARS)
    assert (
        len(compose.with_context(FOLLOW_UP, history, analyze, IGNORE)) > 2 * 4000
    )  # what it borrowed before
    context = compose.with_context(FOLLOW_UP, bounded, analyze, IGNORE)
    assert context.endswith(FOLLOW_UP) and len(context) <= MAX_CHARS
    # The newest turn keeps its subject, in order, without its question and stop words.
    newest_words = bounded[2]["content"].split()
    assert newest_words[:6] == ["اشتعل", "مصفاة", "النفط", "أزوف", "هجوم", "المسيرات؟"]
    assert "في" not in newest_words and "الذي" not in newest_words
    # Each kept word brings a term no earlier kept word had: repeated filler is borrowed once.
    terms = [frozenset(t.term for t in analyze(w)) - IGNORE for w in context.removesuffix(FOLLOW_UP).split()]
    assert all(t - frozenset().union(*terms[:i]) for i, t in enumerate(terms))
    # The assistant turns are not borrowed, so they stay as sent (answers use them to avoid repeating).
    assert bounded[1] == history[1] and bounded[3] == history[3]


def test_a_question_at_the_limit_borrows_nothing_rather_than_exceed_it() -> None:
    question = ("ومتى حدث ذلك " * 40)[:MAX_CHARS]
    history = [{"role": "user", "content": long_turn(SUBJECT)}]
    bounded = bounded_history(history, question, analyze, IGNORE, MAX_CHARS)
    assert bounded[0]["content"] == ""
    assert compose.with_context(question, bounded, analyze, IGNORE) == question
