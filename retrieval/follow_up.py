"""How much of a conversation a follow-up may borrow: its last user turns, within the query length limit.

A follow-up ("ومتى حدث ذلك؟") is retrieved and embedded together with the earlier user turns
(compose.with_context). Turns may be 5,000 characters each, and borrowing them whole made one ask cost
seconds of BM25 terms and embedding, whatever the question. So the text borrowed, with the question, never
exceeds `search.max_query_chars`, like any query: turns that fit are borrowed whole, as before; otherwise
each borrowed turn gives its key words (those carrying a term that is no stop or question word, each term
once), the newest turn first, until the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from indexer.models import Token
from retrieval.compose import HISTORY_TURNS

Analyzer = Callable[[str], list[Token]]


def key_words(text: str, analyze: Analyzer, ignore: Iterable[str], budget: int, seen: set[str]) -> list[str]:
    """Words of `text`, in order, that bring a topic term not in `seen` (which grows), within `budget`
    characters counting one space after each word."""
    skip = set(ignore)
    kept: list[str] = []
    used = 0
    for word in text.split():
        if used + len(word) + 1 > budget:
            break
        terms = {t.term for t in analyze(word)} - skip - seen
        if terms:
            kept.append(word)
            seen.update(terms)
            used += len(word) + 1
    return kept


def bounded_history(
    history: Sequence[dict[str, str]], question: str, analyze: Analyzer, ignore: Iterable[str], max_chars: int
) -> list[dict[str, str]]:
    """`history` with the user turns a follow-up would borrow cut so that they and `question` fit in
    `max_chars`; assistant turns and older user turns are left as they are."""
    turns = [dict(turn) for turn in history]
    borrowed = [i for i, turn in enumerate(turns) if turn.get("role") == "user" and turn.get("content")]
    borrowed = borrowed[-HISTORY_TURNS:]
    budget = max_chars - len(question) - 1
    if sum(len(turns[i]["content"]) + 1 for i in borrowed) <= budget:
        return turns
    ignored = frozenset(ignore)
    seen: set[str] = set()
    for i in reversed(borrowed):  # the newest turn is the likeliest subject of the follow-up
        words = key_words(turns[i]["content"], analyze, ignored, max(budget, 0), seen)
        turns[i]["content"] = " ".join(words)
        budget -= sum(len(w) + 1 for w in words)
    return turns
