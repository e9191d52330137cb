"""What one indexing run did: the counts and timings behind the summary line and `--json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class IndexReport:
    """What one run did, for the summary line and `--json` output."""

    read: int = 0
    indexed: int = 0  # new or changed articles written
    replaced: int = 0  # of those, articles that were already indexed with other content
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    noted: dict[str, int] = field(
        default_factory=dict
    )  # input used with a note (encoding guessed, bytes replaced)
    problems: int = 0
    passages: int = 0  # passages written this run
    keyword_caught_up: int = 0  # articles re-indexed from the document store (interrupted runs)
    embedded: int = 0
    pending_vectors: int = 0
    keyword_seconds: float = 0.0
    embed_seconds: float = 0.0
    grouping_seconds: float = 0.0  # copy groups, inside the keyword phase (README "Stories")
    stories_seconds: float = 0.0  # stories, after the vectors
    stories_assigned: int = 0
    interrupted: bool = False
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
