"""Copy groups: near-duplicate articles (estimated Jaccard of word shingles over a threshold) share one
`copy_group`, found through LSH band keys stored per article, so joining a group costs a few lookups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from indexer.grouping.fingerprint import jaccard
from indexer.grouping.store import GroupStore


@dataclass(frozen=True, slots=True)
class NewArticle:
    """An article entering grouping: its metadata, fingerprint and lead passages."""

    article_id: str
    source: str | None
    published: str | None
    published_ts: int
    signature: bytes
    bands: tuple[int, ...]
    terms: tuple[str, ...]
    passages: tuple[int, ...]


def assign_copies(
    store: GroupStore, articles: Sequence[NewArticle], threshold: float, replaced: Sequence[str] = ()
) -> dict[str, str]:
    """Add a batch to the grouping ledger, each article joining the copy group of its most similar stored
    (or earlier in the batch) article above `threshold`; returns each article's copy group."""
    keys = {a.article_id: list(a.bands) for a in articles}
    gone = set(replaced)
    # A first run finds every pair inside the batch; only later ones need the stored keys.
    matches = store.band_matches([k for ks in keys.values() for k in ks]) if store.count() else {}
    candidate_ids = {aid for ids in matches.values() for aid in ids if aid not in gone}
    known = store.signatures(candidate_ids)
    batch_bands: dict[int, list[str]] = {}
    assigned: dict[str, str] = {}
    added = []
    for article in articles:
        group, similarity = _best_match(
            article, keys[article.article_id], matches, batch_bands, known, threshold
        )
        group = group or article.article_id
        assigned[article.article_id] = group
        known[article.article_id] = (article.signature, group)
        for key in keys[article.article_id]:
            batch_bands.setdefault(key, []).append(article.article_id)
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
    keys: list[int],
    matches: dict[int, list[str]],
    batch_bands: dict[int, list[str]],
    known: dict[str, tuple[bytes, str]],
    threshold: float,
) -> tuple[str | None, float]:
    best: tuple[float, str] | None = None
    seen: set[str] = set()
    for key in keys:
        for other in (*matches.get(key, ()), *batch_bands.get(key, ())):
            if other in seen or other == article.article_id or other not in known:
                continue
            seen.add(other)
            similarity = jaccard(article.signature, known[other][0])
            if similarity < threshold:
                continue
            # Ties go to the smaller group id: arbitrary, but the same in every run.
            if best is None or similarity > best[0] or (similarity == best[0] and known[other][1] < best[1]):
                best = (similarity, known[other][1])
    return (best[1], best[0]) if best else (None, 1.0)
