"""Copy groups: near-duplicate articles (estimated Jaccard of word shingles over a threshold) share one
`copy_group`, found through LSH band keys stored per article, so joining a group costs a few lookups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.grouping.fingerprint import NUM_PERM, band_key_matrix, band_keys, jaccard
from indexer.grouping.store import HOT_BAND, GroupStore

RUN_INDEX_LIMIT = 100_000  # articles a run keeps in memory for finding copies (about 1.5 kB each)


@dataclass(frozen=True, slots=True)
class NewArticle:
    """An article entering grouping: its metadata, signature and lead passages."""

    article_id: str
    source: str | None
    published: str | None
    published_ts: int
    signature: bytes
    passages: tuple[int, ...]


class RunIndex:
    """The band keys and signatures of the articles one run has grouped, kept in memory so that the run's
    later articles find their copies among them without asking the ledger. The ledger is asked only
    for what was there before the run (`archive`), and for everything once the index would outgrow
    RUN_INDEX_LIMIT (a very long run: memory stays bounded)."""

    def __init__(self, archive: bool) -> None:
        self.archive = archive
        # Each band key's first article, and (for the few keys shared) the others after it: one list per
        # key would be a few hundred thousand small objects for the garbage collector to walk.
        self.first: dict[int, str] = {}
        self.more: dict[int, list[str]] = {}
        self.known: dict[str, tuple[bytes, str]] = {}

    def sharing(self, key: int) -> list[str]:
        """The run's articles with this band key, oldest first."""
        first = self.first.get(key)
        return [] if first is None else [first, *self.more.get(key, ())]

    def make_room(self, incoming: int) -> None:
        if len(self.known) + incoming > RUN_INDEX_LIMIT:
            self.archive = True  # from now on the ledger answers for the run's earlier articles too
            self.first.clear()
            self.more.clear()
            self.known.clear()

    def add(self, article_id: str, signature: bytes, keys: Sequence[int], group: str) -> None:
        """One article that shares a band key with another (the few that go through `_best_match`)."""
        self.known[article_id] = (signature, group)
        for key in keys:
            if self.first.setdefault(key, article_id) != article_id:
                more = self.more.setdefault(key, [])
                if len(more) < HOT_BAND - 1:  # as in the ledger: a key that many share is boilerplate
                    more.append(article_id)

    def add_alone(self, articles: Sequence[NewArticle], keys: Sequence[Sequence[int]]) -> None:
        """Articles sharing no band key with anything (nearly all): each its own group, its keys new."""
        self.known.update((a.article_id, (a.signature, a.article_id)) for a in articles)
        self.first.update(
            (key, a.article_id)
            for a, article_keys in zip(articles, keys, strict=True)
            for key in article_keys
        )

    def forget(self, article_ids: Iterable[str]) -> None:
        for article_id in article_ids:
            found = self.known.pop(article_id, None)
            if found is None:
                continue
            for key in band_keys(found[0]):  # replaced twice in one run: its earlier text's keys go
                rest = [a for a in self.sharing(key) if a != article_id]
                self.first.pop(key, None)
                self.more.pop(key, None)
                if rest:
                    self.first[key] = rest[0]
                    if rest[1:]:
                        self.more[key] = rest[1:]


def assign_copies(
    store: GroupStore,
    articles: Sequence[NewArticle],
    threshold: float,
    replaced: Sequence[str] = (),
    run: RunIndex | None = None,
) -> dict[str, str]:
    """Add a batch to the grouping ledger, each article joining the copy group of its most similar stored
    (or earlier in the batch) article above `threshold`; returns each article's copy group. `run` holds
    the run's earlier batches (and gets this one)."""
    run = run if run is not None else RunIndex(archive=True)
    gone = set(replaced)
    run.forget(gone)
    run.make_room(len(articles))
    signatures = np.frombuffer(b"".join(a.signature for a in articles), dtype="<u4")
    keys = band_key_matrix(signatures.reshape(len(articles), NUM_PERM))  # all at once: a few array passes
    key_lists: list[list[int]] = keys.tolist()
    flat: list[int] = keys.ravel().tolist()
    matches: dict[int, list[str]] = {}
    known: dict[str, tuple[bytes, str]] = {}
    if run.archive and store.count():
        matches = store.band_matches(flat)
        known = store.signatures({aid for ids in matches.values() for aid in ids if aid not in gone})
    # The keys some other article has too: in this batch, earlier in the run, or in the ledger. Only
    # the articles holding one can have a copy; the others (nearly all) skip the per-article search.
    unique, counts = np.unique(keys, return_counts=True)
    shared = set(unique[counts > 1].tolist())
    shared.update(filter(run.first.__contains__, flat))
    shared.update(matches)
    sharing = (
        np.isin(keys, np.fromiter(shared, dtype=np.int64, count=len(shared))).any(axis=1)
        if shared
        else np.zeros(len(articles), dtype=bool)
    )
    groups = [a.article_id for a in articles]
    similarities = [1.0] * len(articles)
    alone = np.flatnonzero(~sharing).tolist()
    run.add_alone([articles[i] for i in alone], [key_lists[i] for i in alone])
    for i in np.flatnonzero(sharing).tolist():  # in batch order: an article finds the earlier ones
        article = articles[i]
        group, similarity = _best_match(article, key_lists[i], matches, run, known, threshold)
        groups[i] = group = group or article.article_id
        similarities[i] = similarity
        run.add(article.article_id, article.signature, key_lists[i], group)
    with store.transaction() as tx:
        if replaced:
            tx.forget(list(replaced))
        tx.add_many(
            [
                (
                    a.article_id,
                    a.source,
                    a.published,
                    a.published_ts,
                    a.signature,
                    a.passages,
                    group,
                    similarity,
                )
                for a, group, similarity in zip(articles, groups, similarities, strict=True)
            ],
            key_lists,
        )
    return dict(zip((a.article_id for a in articles), groups, strict=True))


def _best_match(
    article: NewArticle,
    keys: Sequence[int],
    matches: dict[int, list[str]],
    run: RunIndex,
    known: dict[str, tuple[bytes, str]],
    threshold: float,
) -> tuple[str | None, float]:
    others = [other for key in keys for other in run.sharing(key)]
    if matches:
        others += [other for key in keys for other in matches.get(key, ())]
    best: tuple[float, str] | None = None
    for other in dict.fromkeys(others):
        if other == article.article_id:
            continue
        found = run.known.get(other) or known.get(other)
        if found is None:
            continue
        similarity = jaccard(article.signature, found[0])
        if similarity < threshold:
            continue
        # Ties go to the smaller group id: arbitrary, but the same in every run.
        if best is None or similarity > best[0] or (similarity == best[0] and found[1] < best[1]):
            best = (similarity, found[1])
    return (best[1], best[0]) if best else (None, 1.0)
