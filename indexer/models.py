"""The records that flow through the pipeline: tokens, articles, passages and index hits."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Token:
    """One analyzed term with its character span [start, end) in the original text."""

    term: str
    start: int
    end: int
    position: int


@dataclass(slots=True)
class Article:
    """A clean article as read from an input file; `id` is stable across re-reads of the same input."""

    id: str
    title: str
    text: str
    source: str | None = None
    published: str | None = None  # ISO 8601
    url: str | None = None
    author: str | None = None
    category: str | None = None
    origin: str = ""  # "path:line" or "path#n": where the article came from, for messages


@dataclass(frozen=True, slots=True)
class Passage:
    """A span of an article body, cut at paragraph or sentence boundaries; offsets index the body."""

    article_id: str
    ordinal: int
    text: str
    start: int
    end: int


# Not frozen: a query makes a few thousand of these, and a frozen dataclass's __init__ (object.__setattr__ per
# field) took 2.5 times as long; nothing assigns to them after they are made.
@dataclass(slots=True)
class Hit:
    """What every index returns: a passage id and its score; the document store owns the text."""

    passage_id: int
    score: float


@dataclass(slots=True)
class Problem:
    """Input that could not be read or used, with where it was and why.

    `skipped` is False for a note about input that was used anyway (an encoding guessed, invalid bytes
    replaced): the user should see it, but nothing was left out.
    """

    origin: str
    reason: str
    detail: str = ""
    skipped: bool = True

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


@dataclass(slots=True)
class IngestSummary:
    """Counts of one read: articles read, indexed, skipped by reason, and notes by reason."""

    read: int = 0
    indexed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    noted: dict[str, int] = field(default_factory=dict)  # notes about input that was still used

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def note(self, reason: str) -> None:
        self.noted[reason] = self.noted.get(reason, 0) + 1
