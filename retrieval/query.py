"""Query syntax people expect from a search box: plain words, "quoted phrases" and a leading -word to exclude.

Parsing is split from analysis: `parse_query` only finds the parts of the text, and `keyword_query` turns
them into analyzed terms for the keyword index with the same analyzer the index used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from indexer.models import Token
from indexer.stores.base import KeywordQuery

# Straight, curly and Arabic-typography quotes all open or close a phrase: Arabic keyboards and
# word processors produce «…» and “…” as often as "…".
_OPENING_QUOTES = '"«“„'
_CLOSING_QUOTES = '"»”“'
_QUOTE_CLASS = re.escape(_OPENING_QUOTES + _CLOSING_QUOTES)
# A part is: optional minus, then either a quoted run (closing quote optional at the end of the text)
# or a run of non-space characters that contains no quote.
_PART = re.compile(rf"(-?)(?:[{_QUOTE_CLASS}]([^{_QUOTE_CLASS}]*)[{_QUOTE_CLASS}]?|([^\s{_QUOTE_CLASS}]+))")

Analyzer = Callable[[str], list[Token]]


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """The parts of a query as typed (not yet analyzed)."""

    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    @property
    def positive_text(self) -> str:
        """What the query asks for, without exclusions: the text the semantic side embeds."""
        return " ".join((*self.words, *self.phrases)).strip()

    @property
    def is_empty(self) -> bool:
        return not self.positive_text


def parse_query(text: str) -> ParsedQuery:
    """Split a query into plain words, quoted phrases and excluded words.

    A minus excludes only when it starts a part ("-الحرب"); inside a word ("كوفيد-19") it is text.
    `-"two words"` excludes each of its words, since the keyword index excludes terms, not phrases.
    A lone "-" is ignored.
    """
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    for match in _PART.finditer(text):
        minus, quoted, bare = match.group(1), match.group(2), match.group(3)
        if quoted is not None:
            phrase = " ".join(quoted.split())
            if not phrase:
                continue
            if minus:
                excluded.extend(phrase.split())
            else:
                # A single quoted word is still a phrase: it means "exactly this form", unstemmed.
                phrases.append(phrase)
        elif bare and bare.strip("-"):
            (excluded if minus else words).append(bare)
    return ParsedQuery(tuple(words), tuple(phrases), tuple(excluded))


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def keyword_query(
    parsed: ParsedQuery,
    analyze: Analyzer,
    analyze_exact: Analyzer,
    *,
    sources: Sequence[str] = (),
    date_from: str | None = None,
    date_to: str | None = None,
    sort: str = "relevance",
    title_weight: float = 0.0,
) -> KeywordQuery:
    """Analyze the parts exactly as the index analyzed passages, then add the filters.

    Phrase words also count as ranked terms, so a passage matching the phrase and other words ranks first.
    A phrase whose words are all stop words analyzes to nothing and is dropped. Ranked terms keep their
    repeats (a word said twice weighs twice, as in Lucene); excluded terms need each word once.
    """
    terms = [t.term for t in analyze(" ".join(parsed.words))] if parsed.words else []
    phrases: list[tuple[str, ...]] = []
    for phrase in parsed.phrases:
        exact = tuple(t.term for t in analyze_exact(phrase))
        if exact:
            phrases.append(exact)
            terms.extend(t.term for t in analyze(phrase))
    excluded = [t.term for t in analyze(" ".join(parsed.excluded))] if parsed.excluded else []
    return KeywordQuery(
        terms=tuple(terms),
        phrases=tuple(dict.fromkeys(phrases)),
        excluded=_unique(excluded),
        sources=tuple(sources),
        date_from=date_from,
        date_to=date_to,
        sort=sort,
        title_weight=title_weight,
    )
