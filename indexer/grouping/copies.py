"""Copy groups: near-duplicate articles (estimated Jaccard of word shingles over a threshold) share one
`copy_group`, found through LSH band keys stored per article, so joining a group costs a few lookups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from indexer.grouping.fingerprint import band_keys, jaccard
from indexer.grouping.store import HOT_BAND, GroupStore

RUN_INDEX_LIMIT = 100_000  # articles a run keeps in memory for finding copies (about 1.5 kB each)


@dataclass(frozen=True, slots=True)
class NewArticle:
    """An article entering grouping: its metadata, fingerprint and lead passages."""

    article_id: str
    source: str | None
    published: str | None
    published_ts: int
    signature: bytes
    bands: tuple[int, ...]
    terms: str  # space-separated
    passages: tuple[int, ...]


class RunIndex:
    """The band keys and signatures of the articles one run has grouped, kept in memory so that the run's
    later articles find their copies among them without asking the ledger. The ledger is asked only
    for what was there before the run (`archive`), and for everything once the index outgrows
    RUN_INDEX_LIMIT (a very long run: memory stays bounded)."""

    def __init__(self, archive: bool) -> None:
        self.archive = archive
        self.bands: dict[int, list[str]] = {}
        self.known: dict[str, tuple[bytes, str]] = {}

    def add(self, article: NewArticle, group: str) -> None:
        if len(self.known) >= RUN_INDEX_LIMIT:
            self.archive = True  # from now on the ledger answers for the run's earlier articles too
            self.bands.clear()
            self.known.clear()
        article_id, bands = article.article_id, self.bands
        self.known[article_id] = (article.signature, group)
        for key in article.bands:
            sharing = bands.get(key)
            if sharing is None:  # nearly every key: no list made and thrown away by setdefault
                bands[key] = [article_id]
            elif len(sharing) < HOT_BAND:  # as in the ledger: a key that many share is boilerplate
                sharing.append(article_id)

    def forget(self, article_ids: Iterable[str]) -> None:
        for article_id in article_ids:
            found = self.known.pop(article_id, None)
            if found is not None:  # replaced twice in one run: its earlier text's keys go
                for key in band_keys(found[0]):
                    if article_id in self.bands.get(key, ()):
                        self.bands[key].remove(article_id)


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
    matches: dict[int, list[str]] = {}
    known: dict[str, tuple[bytes, str]] = {}
    if run.archive and store.count():
        matches = store.band_matches([k for a in articles for k in a.bands])
        known = store.signatures({aid for ids in matches.values() for aid in ids if aid not in gone})
    assigned: dict[str, str] = {}
    added = []
    for article in articles:
        group, similarity = _best_match(article, matches, run, known, threshold)
        group = group or article.article_id
        assigned[article.article_id] = group
        run.add(article, group)
        added.append((article, group, similarity))
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
                    a.terms,
                    a.passages,
                    group,
                    similarity,
                    a.bands,
                )
                for a, group, similarity in added
            ]
        )
    return assigned


def _best_match(
    article: NewArticle,
    matches: dict[int, list[str]],
    run: RunIndex,
    known: dict[str, tuple[bytes, str]],
    threshold: float,
) -> tuple[str | None, float]:
    if not any(map(run.bands.__contains__, article.bands)) and not matches:
        return None, 1.0  # most articles: no key shared with anything (one pass in C to find out)
    others = [other for key in article.bands for other in run.bands.get(key, ())]
    if matches:
        others += [other for key in article.bands for other in matches.get(key, ())]
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
