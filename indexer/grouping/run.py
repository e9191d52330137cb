"""The indexing pipeline's hooks into grouping: copy groups per written batch, stories once vectors
exist, and (scale-out) the groups sent to the engine; the pipeline calls these and nothing else."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from indexer.grouping.copies import NewArticle, RunIndex, assign_copies
from indexer.grouping.fingerprint import FINGERPRINT_VERSION, LEAD_PASSAGES, fingerprints
from indexer.grouping.lookup import grouping_enabled
from indexer.grouping.store import GROUPS_FILE, GroupStore
from indexer.grouping.stories import StoryRules, assign_stories
from indexer.models import Article
from indexer.stores.base import Stores, require_ledger
from indexer.stores.dates import to_epoch
from indexer.stores.ledger import IndexLedger

log = logging.getLogger(__name__)
FLUSH_ARTICLES = 5000  # articles whose copy groups are assigned together (see `Grouping.add`)
BACKFILL_BATCH = 256  # articles fingerprinted per step when an older index is grouped for the first time


def fingerprint_docs(docs: Sequence[Any]) -> bytes:
    """An article's signature from its keyword documents (analyzer output; runs in the workers)."""
    return fingerprint_batch([docs])[0]


def fingerprint_batch(articles: Sequence[Sequence[Any]]) -> list[bytes]:
    """The signatures of many articles' keyword documents, computed together."""
    return fingerprints(
        [(docs[0].title_exact, [d.text_exact for d in docs]) if docs else ("", ()) for docs in articles]
    )


class Grouping:
    """Grouping during one `isnad index` run, over the data directory's grouping ledger.

    With `groups.enabled` false nothing is fingerprinted or added, and a data directory without
    `groups.sqlite` gets none; a ledger made earlier still loses replaced and deleted articles, so turning
    grouping on again (whose `backfill` adds what the ledger lacks) never leaves an old text in a group.
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.enabled = grouping_enabled(settings)
        self.threshold = float(settings["copies.threshold"])
        self.rules = StoryRules.from_settings(settings)
        data_dir = Path(settings["data.dir"])
        self.store: GroupStore | None = (
            GroupStore(data_dir) if self.enabled or (data_dir / GROUPS_FILE).exists() else None
        )
        if (
            self.store is not None
            and self.enabled
            and self.store.get_meta("fingerprint_version") != FINGERPRINT_VERSION
        ):
            # Signatures made another way cannot be compared with new ones: group everything again
            # (`backfill`, at the end of this run), from the stored articles.
            with self.store.transaction() as tx:
                tx.clear()
                tx.set_meta("fingerprint_version", FINGERPRINT_VERSION)
        # What the ledger held before this run: only that is looked up there (see RunIndex).
        self.run = RunIndex(archive=self.store is not None and self.store.count() > 0)
        self.assigned_stories = 0
        self._waiting: list[NewArticle] = []
        self._replaced: set[str] = set()
        self.deleted: list[str] = []  # forgotten this run: the engine's group documents go too

    def add(self, items: Iterable[tuple[Article, Sequence[Any], bytes]], replaced: Iterable[str]) -> None:
        """Copy groups for a batch just written: (article, its stored passages, its signature).

        Kept until FLUSH_ARTICLES are waiting (or `flush`): one transaction and one pass over many
        articles cost a fraction of one per analysis batch. A run stopped before its flush leaves those
        articles ungrouped, and the next run's `backfill` groups them from the store.
        """
        self._replaced.update(replaced)
        if not self.enabled:
            if len(self._replaced) >= FLUSH_ARTICLES:
                self.flush()
            return
        self._waiting.extend(
            NewArticle(
                a.id,
                a.source,
                a.published,
                to_epoch(a.published),
                signature,
                tuple(p.id for p in passages[:LEAD_PASSAGES]),
            )
            for a, passages, signature in items
        )
        if len(self._waiting) >= FLUSH_ARTICLES:
            self.flush()

    def flush(self) -> None:
        if self._waiting:
            assert self.store is not None
            assign_copies(
                self.store, self._waiting, self.threshold, replaced=sorted(self._replaced), run=self.run
            )
        elif self._replaced and self.store is not None:  # grouping off: replaced texts leave the ledger
            self.forget(sorted(self._replaced))
        self._waiting, self._replaced = [], set()

    def forget(self, article_ids: Sequence[str]) -> None:
        if self.store is not None:
            with self.store.transaction() as tx:
                tx.forget(article_ids)
            self.deleted.extend(article_ids)

    def complete(self, stores: Stores, *, with_stories: bool) -> None:
        """The end of a run: group what the ledger lacks (an index built before grouping, or while it was
        off), then `finish`."""
        if self.enabled and self.store is not None and self.store.count() < stores.docs.count_articles():
            self.backfill(require_ledger(stores))
        self.finish(stores, with_stories=with_stories)

    def backfill(self, ledger: IndexLedger) -> int:
        """Fingerprint stored articles the grouping ledger lacks (an index built before grouping)."""
        from indexer.stores.tantivy_index import prepare_docs

        assert self.store is not None, "backfill runs with grouping on"
        stored = ledger.docs.article_ids()
        grouped = self.store.rows(stored)
        missing = [a for a in stored if a not in grouped]
        for start in range(0, len(missing), BACKFILL_BATCH):
            loaded = ledger.load_for_keyword(missing[start : start + BACKFILL_BATCH])
            prints = fingerprint_batch([prepare_docs(article, passages) for article, _, passages in loaded])
            self.add(
                ((article, passages, fp) for (article, _, passages), fp in zip(loaded, prints, strict=True)),
                (),
            )
        self.flush()
        return len(missing)

    def finish(self, stores: Stores, *, with_stories: bool) -> None:
        """Stories for articles whose vectors are committed, then the engine told (scale-out)."""
        if self.store is None:
            return
        if with_stories and self.enabled:
            dim = stores.vectors.dim
            if dim:
                self.assigned_stories = assign_stories(self.store, stores.docs, dim, self.rules)
        if stores.engine is not None:  # scale-out: app servers read groups from the engine
            from indexer.grouping.engine import publish, unpublish

            if self.enabled:
                publish(self.store, stores.engine, self.deleted)
            elif self.deleted:
                unpublish(stores.engine, self.deleted)
            self.deleted = []

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
