"""Articles written while `isnad serve` runs: each batch goes to SQLite and a tantivy commit under the data
directory's write lock, the same `index.lock` that `isnad index` and `isnad delete` take, so they take turns.

Why per batch and not for the server's lifetime: `isnad index` must still be able to run beside a serving
instance (as it always could). One lock holder at a time is also what the stores need: tantivy allows one
IndexWriter per directory (ours is opened and closed inside each batch), SQLite one writing transaction, and
the FAISS file is written by `isnad index` only (the server's vectors live in SQLite's `embeddings` table,
from which every reader's FAISS index is synced).

A batch is acknowledged only after its tantivy commit, so an acknowledged article survives kill -9 and is
searchable by keyword at once. A crash before that leaves at most articles in SQLite marked pending for the
keyword index (`keyword_state = 0`), which the next writer (the server on start, or `isnad index`) indexes.
"""

from __future__ import annotations

import fcntl
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.errors import IsnadError
from indexer.grouping.store import GROUPS_FILE, GroupStore
from indexer.ingest.records import RecordError
from indexer.models import Article
from indexer.pipeline import analyze_articles, content_hash, expand, prepare_keyword
from indexer.stores.base import StoredPassage, Stores
from indexer.stores.data_dir import DOCUMENTS_FILE, KEYWORD_DIR, LOCK_FILE, analyzer_version
from indexer.stores.diskfull import DiskFullError, SpaceReserve, is_disk_full, write_refused_message
from indexer.stores.embedders import expected_name
from indexer.stores.ledger import IndexLedger
from indexer.stores.manifest import VECTORS_VERSION, read_manifest, write_manifest
from indexer.stores.sqlite_docstore import SQLiteDocumentStore
from indexer.stores.tantivy_index import SCHEMA_VERSION, KeywordDoc, TantivyKeywordIndex

LOCK_POLL_SECONDS = 0.05
CATCH_UP_BATCH = 200  # pending articles re-indexed per lock hold at start-up, so writes are not held up long
RESERVE_FILE = "space-reserve-writes"  # the server's own (`isnad index` gives up its own at the end of a run)


class WritesBusyError(IsnadError, RuntimeError):
    """The data directory's write lock stayed taken (a long `isnad index` run): the client should retry."""

    retry_after = 10


class WritesUnsupportedError(IsnadError, RuntimeError):
    """The configured store backend takes no writes through the server."""


@dataclass(slots=True)
class Outcome:
    """What happened to one article of a batch: `result` (created, updated, unchanged, deleted) or an error."""

    id: str | None
    status: int
    result: str | None = None
    error: RecordError | None = None

    @classmethod
    def failed(cls, article_id: str | None, error: RecordError) -> Outcome:
        return cls(article_id, error.status, None, error)


class DataDirLock:
    """The data directory's `index.lock` flock, taken for one batch at a time by this process's threads."""

    def __init__(self, data_dir: Path, wait_seconds: float):
        self.path = data_dir / LOCK_FILE
        self.wait_seconds = wait_seconds
        self._threads = threading.Lock()  # a flock is per open file, which all our threads share
        self._handle = open(self.path, "a+")  # noqa: SIM115 - kept open: locked and unlocked per batch

    @contextmanager
    def held(self, wait: float | None = None) -> Iterator[None]:
        wait = self.wait_seconds if wait is None else wait
        deadline = time.monotonic() + wait
        if not self._threads.acquire(timeout=max(wait, 0.001)):
            raise WritesBusyError(
                f"the server's writes to {self.path.parent} are queued for more than {wait:g} s; retry later"
            )
        try:
            while True:
                try:
                    fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise WritesBusyError(
                            f"another process (`isnad index` or `isnad delete`) is writing to {self.path.parent}; "
                            "retry when it has finished"
                        ) from None
                    time.sleep(LOCK_POLL_SECONDS)
            try:
                yield
            finally:
                fcntl.flock(self._handle, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        self._handle.close()


Prepared = tuple[Article, str, list[StoredPassage], list[KeywordDoc]]


@dataclass(slots=True, eq=False)
class _Waiting:
    """One request's batch in the group-commit queue."""

    items: list[Prepared]
    done: threading.Event = field(default_factory=threading.Event)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    error: BaseException | None = None


class ArticleWriter:
    """Stores, replaces and deletes articles of an embedded data directory while readers serve it.

    `stores` is the server's reader `Stores`: refreshed after every batch, so the next search sees the batch.
    """

    def __init__(self, settings: dict[str, Any], stores: Stores):
        if settings["store.backend"] != "embedded":
            raise WritesUnsupportedError(
                f"articles are written through the API only with store.backend = embedded; with "
                f"{settings['store.backend']}, index files with `isnad index`"
            )
        self.settings = settings
        self.stores = stores
        self.data_dir = Path(settings["data.dir"])
        self.min_words, self.max_words = settings["passages.min_words"], settings["passages.max_words"]
        self.lock = DataDirLock(self.data_dir, float(settings["writes.lock_wait_seconds"]))
        self.docs = SQLiteDocumentStore(
            self.data_dir / DOCUMENTS_FILE
        )  # its own connection: reads go on meanwhile
        self.ledger = IndexLedger(self.docs)
        # Room held back, as `isnad index` does for its run log, for a batch's last writes (marking it
        # indexed, the manifest that tells readers) and for deletions, which free space, on a full disk.
        self.reserve = SpaceReserve(self.data_dir, RESERVE_FILE)
        self._vectors_changed = True  # since the last manifest: readers must sync FAISS (first: unknown)
        self._queue: list[_Waiting] = []  # batches waiting for the next commit
        self._queue_lock = threading.Lock()

    # -- writing ------------------------------------------------------------------------------------

    def prepare(self, article: Article) -> Prepared:
        """Split and analyze one article exactly as `isnad index` does (no lock needed: pure)."""
        digest = content_hash(article, self.min_words, self.max_words)
        # No fingerprint: the server does not group; the next `isnad index` groups what the ledger lacks.
        (analyzed,) = analyze_articles(
            [(article, digest)], self.min_words, self.max_words, fingerprints=False
        )
        if isinstance(analyzed, str):
            raise RecordError("cannot_be_indexed", analyzed)
        passages, docs = expand(article, analyzed)
        if not passages:
            raise RecordError("empty_article", "'text' has no words to index")
        return article, digest, passages, docs

    def put(self, prepared: Sequence[Prepared]) -> dict[str, Outcome]:
        """Store prepared articles (unique ids) and commit them to the keyword index; id -> outcome.

        Group commit: a tantivy commit costs a few hundred milliseconds of fsync whatever it holds, so the
        thread that gets the lock stores every batch queued meanwhile in one commit (in arrival order, up to
        the first batch repeating an id already taken), and each waiting request gets its own outcomes.
        """
        if not prepared:
            return {}
        waiting = _Waiting(list(prepared))
        with self._queue_lock:
            self._queue.append(waiting)
        while not waiting.done.is_set():
            try:
                with self.lock.held():
                    if not waiting.done.is_set():
                        self._lead()
            except WritesBusyError:
                with self._queue_lock:
                    if waiting in self._queue:
                        self._queue.remove(waiting)
                        raise
                waiting.done.wait()  # a leader took it just now
        if waiting.error is not None:
            raise waiting.error
        return waiting.outcomes

    def _lead(self) -> None:
        """Store the queued batches whose ids do not collide, in one commit; wake their requests."""
        taken: list[_Waiting] = []
        ids: set[str] = set()
        with self._queue_lock:
            for queued in self._queue:
                mine = {article.id for article, _, _, _ in queued.items}
                if mine & ids:
                    break  # a later write of the same article waits for the next commit, keeping the order
                taken.append(queued)
                ids |= mine
            del self._queue[: len(taken)]
        try:
            outcomes = self._put_locked([item for queued in taken for item in queued.items])
        except BaseException as error:
            for queued in taken:
                queued.error = error
                queued.done.set()
            raise
        for queued in taken:
            queued.outcomes = {article.id: outcomes[article.id] for article, _, _, _ in queued.items}
            queued.done.set()

    def _put_locked(self, prepared: Sequence[Prepared]) -> dict[str, Outcome]:
        """Store prepared articles (unique ids) and commit them to the keyword index, the lock held."""
        outcomes: dict[str, Outcome] = {}
        if not prepared:
            return outcomes
        self._keep_reserve()
        ids = [article.id for article, _, _, _ in prepared]
        known = self.docs.article_hashes(ids)
        pending = set(self.ledger.keyword_pending_ids()) if known else set()
        changed: list[Prepared] = []
        for item in prepared:
            article, digest = item[0], item[1]
            if known.get(article.id) == digest:
                outcomes[article.id] = Outcome(article.id, 200, "unchanged")
                if article.id in pending:  # stored by a batch a crash cut short: index it now
                    changed.append(item)
            else:
                changed.append(item)
        if any(item[0].id in known for item in changed):
            self._vectors_changed = True  # a replaced article's changed passages lose their vectors
        stored = self._store(changed, outcomes) if changed else []
        marks = [(item[0].id, item[1]) for item in stored]
        if stored:
            try:
                self._commit_keyword(stored, [a for a, _ in marks if a in known])
            except Exception as error:
                if is_disk_full(error, self.data_dir):
                    raise DiskFullError(
                        write_refused_message(self.data_dir, f"the keyword index ({KEYWORD_DIR}/)")
                    ) from error
                raise

            def record() -> None:
                self.ledger.mark_keyword_done(marks)
                self._forget_groups([a for a, digest in marks if known.get(a, digest) != digest])
                self.publish()

            self._with_reserve(record, "the document store's marks and the manifest")
        for article, _, _, _ in stored:
            outcomes.setdefault(
                article.id,
                Outcome(article.id, 200, "updated")
                if article.id in known
                else Outcome(article.id, 201, "created"),
            )
        return outcomes

    def _keep_reserve(self) -> None:
        """Hold the reserve again if a full disk took it (on a disk still full: what is left)."""
        if not self.reserve.held():
            self.reserve.hold()

    def _with_reserve(self, write: Any, what: str) -> None:
        """Run `write`; if the disk is full, give up the reserve and run it once more (it is idempotent)."""
        try:
            write()
            return
        except Exception as error:
            if not is_disk_full(error, self.data_dir):
                raise
        self.reserve.release()
        try:
            write()
        except Exception as error:
            if is_disk_full(error, self.data_dir):
                raise DiskFullError(write_refused_message(self.data_dir, what)) from error
            raise

    def _store(self, items: list[Prepared], outcomes: dict[str, Outcome]) -> list[Prepared]:
        """One SQLite transaction; if SQLite refuses it, article by article so only the bad ones fail."""
        import sqlite3

        rows = [(article, digest, passages) for article, digest, passages, _ in items]
        try:
            self.docs.put_articles(rows)
            return list(items)
        except (sqlite3.Error, UnicodeError, ValueError) as error:
            self._raise_if_full(error)
        stored = []
        for item, row in zip(items, rows, strict=True):
            try:
                self.docs.put_articles([row])
                stored.append(item)
            except (sqlite3.Error, UnicodeError, ValueError) as error:
                self._raise_if_full(error)  # the disk's fault, not the article's
                outcomes[item[0].id] = Outcome.failed(item[0].id, RecordError("cannot_be_stored", str(error)))
        return stored

    def _raise_if_full(self, error: BaseException) -> None:
        if is_disk_full(error, self.data_dir):
            raise DiskFullError(
                write_refused_message(self.data_dir, f"the document store ({DOCUMENTS_FILE})")
            ) from error

    def _commit_keyword(self, stored: list[Prepared], replaced: list[str]) -> None:
        """Add `stored` to tantivy (replacing older versions), apply pending deletions, commit, release the writer."""
        deletes = self.ledger.pending_keyword_deletes()
        keyword = TantivyKeywordIndex(self.data_dir / KEYWORD_DIR)
        try:
            keyword.delete_articles([*replaced, *deletes])
            for _, _, _, docs in stored:
                keyword.add_prepared(docs)
            keyword.commit()
            self._keyword_count = keyword.count()
        finally:
            keyword.close()  # drops the IndexWriter: tantivy's own lock goes with it
        self.ledger.clear_keyword_deletes(deletes)

    def delete(self, article_ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Remove articles from SQLite and the keyword index; (deleted ids, ids that were not stored)."""
        with self.lock.held():
            present = set(self.docs.article_hashes(article_ids))
            deleted = [a for a in dict.fromkeys(article_ids) if a in present]
            missing = [a for a in dict.fromkeys(article_ids) if a not in present]

            def remove() -> None:
                # Again after a full disk: SQLite rolled back or committed (then only the keyword index's
                # pending deletions are left to apply), so a second run finishes what the first began.
                self.docs.delete_articles(deleted)  # embeddings go too; readers drop those vectors on refresh
                self._commit_keyword([], [])
                self._forget_groups(deleted)
                self.publish()

            if deleted:
                self._vectors_changed = True
                self._keep_reserve()
                self._with_reserve(remove, "a deletion")
        return deleted, missing

    def _forget_groups(self, article_ids: Sequence[str]) -> None:
        """Replaced and deleted articles leave the grouping ledger (`groups.sqlite`, when there is one): its
        signature, copy group and story were the old text's. The server does not group; the next
        `isnad index` groups a replaced article again (its backfill adds what the ledger lacks)."""
        if not article_ids or not (self.data_dir / GROUPS_FILE).exists():
            return
        store = GroupStore(self.data_dir)
        try:
            with store.transaction() as tx:
                tx.forget(article_ids)
        finally:
            store.close()

    def catch_up(self) -> int:
        """Index what SQLite holds but tantivy lacks (a crash between the two commits); returns articles done."""
        done = 0
        while True:
            with self.lock.held():
                chunk = self.ledger.keyword_pending_ids()[:CATCH_UP_BATCH]
                if not chunk and not self.ledger.pending_keyword_deletes():
                    return done
                items = self.ledger.load_for_keyword(chunk)
                docs_per_article = prepare_keyword([(article, passages) for article, _, passages in items])
                stored = [
                    (article, digest, passages, docs)
                    for (article, digest, passages), docs in zip(items, docs_per_article, strict=True)
                ]
                self._commit_keyword(stored, [article.id for article, _, _ in items])
                self.ledger.mark_keyword_done([(article.id, digest) for article, digest, _ in items])
                self.publish()
                done += len(items)
                if not chunk:
                    return done

    def put_embeddings(self, ids: Sequence[int], vectors: Any, wait: float) -> None:
        """Commit one batch of passage vectors (passages deleted meanwhile are skipped)."""
        with self.lock.held(wait):
            self.ledger.put_embeddings(ids, vectors)
            self._vectors_changed = True

    # -- telling readers ----------------------------------------------------------------------------

    def publish(self, *, locked: bool = True) -> None:
        """Write the manifest (its generation tells every reader to reload) and refresh this server's readers.

        Called with the lock held, as every manifest write is; `locked=False` takes it."""
        if not locked:
            with self.lock.held():
                self.publish()
            return
        manifest = read_manifest(self.data_dir)
        passages, embedded = self.docs.count_passages(), self.docs.count_embeddings()
        keyword = getattr(self, "_keyword_count", None)
        counts = dict(manifest.get("counts") or {})
        counts.update(
            articles=self.docs.count_articles(),
            passages=passages,
            vectors=embedded,
            pending_vectors=passages - embedded,
        )
        if keyword is not None:
            counts["keyword"] = keyword
        manifest.update(
            analyzer_version=analyzer_version(),
            keyword_schema=SCHEMA_VERSION,
            store_backend="embedded",
            counts=counts,
        )
        manifest.setdefault("vector_index", "flat")
        if self._vectors_changed or VECTORS_VERSION not in manifest:
            manifest[VECTORS_VERSION] = uuid.uuid4().hex
        if embedded:
            manifest.update(embedder=expected_name(self.settings), dim=self.stores.vectors.dim)
        write_manifest(self.data_dir, manifest)
        self._vectors_changed = False
        self.stores.refresh()

    def pending_vectors(self) -> int:
        return self.ledger.count_to_embed()

    def close(self) -> None:
        self.reserve.release()
        self.docs.close()
        self.lock.close()
