"""Stories: articles about one event, within a date window, whose vectors are close and which share
rare key terms. Assigned incrementally: a new article joins the story of its best linked neighbour
(or of its copy group), else starts one; stories already assigned never move."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.grouping.fingerprint import article_terms
from indexer.grouping.store import GroupStore, StoryCandidate
from indexer.stores.base import DocumentStore
from indexer.stores.dates import UNDATED

DAY = 86_400


@dataclass(frozen=True, slots=True)
class StoryRules:
    """When two articles are about one event (the `stories.*` settings)."""

    window_days: float = 3.0
    min_similarity: float = 0.89
    min_shared_terms: int = 2
    rare_fraction: float = 0.01  # a key term is rare when at most this share of articles has it,
    rare_min_df: int = 4  # or at most this many (on a small index every share is large)

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> StoryRules:
        return cls(
            float(settings["stories.window_days"]),
            float(settings["stories.min_similarity"]),
            int(settings["stories.min_shared_terms"]),
            float(settings["stories.rare_fraction"]),
            int(settings["stories.rare_min_df"]),
        )


def story_id(first_article: str) -> str:
    """A story's id: short, URL-safe, derived from its first article so reruns agree."""
    return "s" + hashlib.blake2b(first_article.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


def article_vector(passages: Sequence[int], vectors: dict[int, np.ndarray]) -> np.ndarray | None:
    """The normalised mean of the lead passages' vectors; None while none is embedded."""
    found = [vectors[p] for p in passages if p in vectors]
    if not found:
        return None
    mean = np.mean(found, axis=0).astype(np.float32)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else None


class _Pool:
    """Articles that already have a story, as arrays for vectorised date and cosine tests."""

    def __init__(self, capacity: int, dim: int) -> None:
        self.ts = np.zeros(capacity, dtype=np.int64)
        self.vectors = np.zeros((capacity, dim), dtype=np.float32)
        self.terms: list[frozenset[str]] = []
        self.stories: list[str] = []
        self.size = 0

    def add(self, ts: int, vector: np.ndarray, terms: frozenset[str], story: str) -> None:
        self.ts[self.size] = ts
        self.vectors[self.size] = vector
        self.terms.append(terms)
        self.stories.append(story)
        self.size += 1

    def best(self, ts: int, vector: np.ndarray, rare: frozenset[str], rules: StoryRules) -> str | None:
        """The story of the most similar linked article, or None. An undated article has no window to
        look in: it joins a story only through its copy group."""
        if not self.size or ts == UNDATED:
            return None
        times = self.ts[: self.size]
        near = np.flatnonzero((times != UNDATED) & (np.abs(times - ts) <= rules.window_days * DAY))
        if not len(near):
            return None
        similarities = self.vectors[near] @ vector
        for index in np.argsort(-similarities, kind="stable"):
            if similarities[index] < rules.min_similarity:
                break
            candidate = int(near[index])
            if len(rare & self.terms[candidate]) >= rules.min_shared_terms:
                return self.stories[candidate]
        return None


def add_key_terms(docs: DocumentStore, candidates: Sequence[StoryCandidate]) -> None:
    """Give articles about to get their story their key terms, from their stored title and lead passages.

    Only stories use key terms, and a story waits for the article's vectors: computed here, once per
    article, rather than for every article in the keyword phase (where they cost more than the
    signature; an index without vectors never needs them). An article no longer stored keeps what the
    ledger has (terms an older version computed at index time, or none).
    """
    articles = docs.get_articles(c.article_id for c in candidates)
    passages = docs.get_passages(p for c in candidates for p in c.passages)
    for candidate in candidates:
        article = articles.get(candidate.article_id)
        if article is not None:
            lead = [passages[p].text for p in candidate.passages if p in passages]
            candidate.terms = tuple(article_terms(article.title, lead).split())


def assign_stories(store: GroupStore, docs: DocumentStore, dim: int, rules: StoryRules) -> int:
    """Give every article waiting for a story (whose lead passages are embedded) its story; returns how
    many were assigned. `docs` holds the committed passage vectors and the texts key terms come from."""
    pending = store.story_pending()
    if not pending:
        return 0
    ids, matrix = docs.get_embeddings([p for c in pending for p in c.passages], dim)
    by_passage = {int(pid): matrix[i] for i, pid in enumerate(np.asarray(ids).tolist())}
    ready = [(c, v) for c in pending if (v := article_vector(c.passages, by_passage)) is not None]
    if not ready:
        return 0
    add_key_terms(docs, [c for c, _ in ready])
    dated = [c.published_ts for c, _ in ready if c.published_ts != UNDATED]
    window = int(rules.window_days * DAY)
    neighbours = (
        store.story_neighbours(min(dated, default=0) - window, max(dated, default=0) + window)
        if dated
        else []
    )
    pool = _Pool(len(neighbours) + len(ready), dim)
    story_of_copy: dict[str, str] = {}
    for neighbour in neighbours:
        if neighbour.vector is not None and neighbour.story is not None:
            pool.add(
                neighbour.published_ts,
                np.frombuffer(neighbour.vector, dtype=np.float32),
                frozenset(neighbour.terms),
                neighbour.story,
            )
            story_of_copy.setdefault(neighbour.copy_group, neighbour.story)
    assigned = []
    with store.transaction() as tx:
        # Key terms count towards document frequencies once their article is in a story: counted here,
        # in one statement per distinct term, rather than per article in the keyword phase.
        tx.count_terms(Counter(t for c, _ in ready for t in set(c.terms)))
        frequencies = store.document_frequencies({t for c, _ in ready for t in c.terms})
        limit = max(float(rules.rare_min_df), rules.rare_fraction * store.count_with_story() + len(ready))
        for candidate, vector in ready:
            rare = frozenset(t for t in candidate.terms if frequencies.get(t, 0) <= limit)
            story = story_of_copy.get(candidate.copy_group) or pool.best(
                candidate.published_ts, vector, rare, rules
            )
            story = story or story_id(candidate.article_id)
            story_of_copy.setdefault(candidate.copy_group, story)
            pool.add(candidate.published_ts, vector, frozenset(candidate.terms), story)
            assigned.append(
                (candidate.article_id, story, vector.astype(np.float32).tobytes(), " ".join(candidate.terms))
            )
        tx.set_stories(assigned)
    return len(ready)
