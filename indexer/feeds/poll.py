"""Poll feeds: fetch each (conditionally), fetch its new and changed items' pages, store the articles
through the indexing pipeline, then record what was stored in the feed's state.

Order is what makes a crash or Ctrl-C harmless: a feed's state (its ETag, the items seen) is written only
after the pipeline has committed the articles, and an article's id comes from its link. A run killed at
any point fetches again what it had not recorded, and the pipeline finds those articles unchanged.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from indexer.feeds import fetch
from indexer.feeds.page import PageError, page_article
from indexer.feeds.parse import FeedFormatError, FeedItem, parse_feed
from indexer.feeds.state import FeedState, ItemState, load_state, now, save_state, state_path
from indexer.models import Article, Problem
from indexer.stores.diskfull import RESERVE_BYTES, SpaceReserve, is_disk_full

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
# How long storing waits for the data directory's write lock: `isnad serve`'s write API and embedder hold it
# for one batch at a time (seconds), so waiting beats a skipped poll; a long `isnad index` holds it longer,
# and then the items wait for the next poll (and later feeds of the same round do not wait again).
LOCK_WAIT_SECONDS = 30.0
LOCK_POLL_SECONDS = 0.5
ITEMS_PER_BATCH = 50  # items fetched, then stored and recorded together (most feeds list fewer)
RESERVE_FILE = "space-reserve-watch"  # the watcher's own, beside the one `isnad index` holds for its run
RESERVE_PER_ITEM = 2 << 10  # what one more item adds to a feed's state file, generously


def default_user_agent() -> str:
    from indexer.stores.manifest import package_version

    return f"Isnad/{package_version()} (+isnad watch; feed reader)"


@dataclass(frozen=True, slots=True)
class WatchOptions:
    timeout: float
    max_bytes: int
    user_agent: str
    backoff_initial: float
    backoff_max: float
    item_attempts: int
    interval: float
    embed: bool = True
    force: bool = False  # poll feeds that are backing off too

    @classmethod
    def from_settings(cls, settings: dict[str, Any], **changes: Any) -> WatchOptions:
        options = cls(
            timeout=settings["feeds.timeout"],
            max_bytes=settings["feeds.max_bytes"],
            user_agent=settings["feeds.user_agent"] or default_user_agent(),
            backoff_initial=settings["feeds.backoff_initial"],
            backoff_max=settings["feeds.backoff_max"],
            item_attempts=max(1, settings["feeds.item_attempts"]),
            interval=settings["feeds.interval"],
        )
        return dataclasses.replace(options, **changes)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing worth a log line. kind: new, changed, unchanged, item-failed, item-given-up (items);
    feed-done, not-modified, feed-failed, backing-off, store-busy, embedded, message (feeds and runs)."""

    kind: str
    feed: str
    item: str | None = None  # the item's link (or key, when it has no link)
    title: str = ""
    detail: str = ""


@dataclass(slots=True)
class FeedOutcome:
    status: str  # "ok", "not-modified", "failed", "backing-off", "interrupted"
    counts: dict[str, int] = field(default_factory=dict)  # new / changed / unchanged / failed items


@dataclass(slots=True)
class _Candidate:
    key: str
    item: FeedItem
    old: ItemState | None
    article: Article | None = None
    error: str | None = None
    same_as: str | None = None  # key of an earlier candidate with the same link


class Watcher:
    """Polls a list of feeds into one data directory, logging every item it stores or fails on."""

    def __init__(
        self,
        settings: dict[str, Any],
        urls: Sequence[str],
        options: WatchOptions,
        log: Callable[[Event], None],
    ):
        self.settings = settings
        self.urls = list(dict.fromkeys(urls))
        self.options = options
        self.log = log
        self.data_dir = Path(settings["data.dir"])
        self.stored_since_embedding = True  # embed once at start: an earlier run may have left passages
        self.busy_this_round = False  # the write lock stayed taken once this round: do not wait again

    # -- one feed ---------------------------------------------------------------------------------------

    def poll_feed(self, url: str) -> FeedOutcome:
        state = load_state(self.data_dir, url)
        at = now()
        due = state.backing_off(at)
        if due is not None and not self.options.force:
            self.log(
                Event(
                    "backing-off",
                    url,
                    detail=f"after {state.failures} failed "
                    f"poll{'s' * (state.failures != 1)} ({state.last_error}); next try at "
                    f"{due:%Y-%m-%d %H:%M:%S} UTC (--force tries now)",
                )
            )
            return FeedOutcome("backing-off")
        try:
            response = fetch.get(
                url,
                timeout=self.options.timeout,
                max_bytes=self.options.max_bytes,
                user_agent=self.options.user_agent,
                etag=state.etag,
                modified=state.modified,
                accept=FEED_ACCEPT,
            )
            feed = (
                None if response.not_modified else parse_feed(response.body, response.url, response.charset)
            )
        except (fetch.FetchError, FeedFormatError) as error:
            retry_after = getattr(error, "retry_after", None)
            delay = state.record_failure(
                _reason(error, url), at, self.options.backoff_initial, self.options.backoff_max, retry_after
            )
            save_state(self.data_dir, state)
            self.log(
                Event(
                    "feed-failed",
                    url,
                    detail=f"{_reason(error, url)}; next try in {_duration(delay)} "
                    f"(failure {state.failures})",
                )
            )
            return FeedOutcome("failed")
        if feed is not None:
            state.title = feed.title or state.title  # the articles' source where a page names none
        candidates = self._candidates(state, feed.items if feed else None, at)
        counts = {"new": 0, "changed": 0, "unchanged": 0, "failed": 0}
        firsts = [c for c in candidates if c.same_as is None]
        for start in range(0, len(firsts), ITEMS_PER_BATCH):
            # A big feed is stored and recorded a batch at a time, so an interrupted first poll of a feed
            # with hundreds of items keeps what it had done.
            self._store_batch(url, state, firsts[start : start + ITEMS_PER_BATCH], at, counts)
        self._settle_same_links(url, state, candidates, at, counts)
        state.record_success(at)
        if feed is not None:
            # Only now that every item is recorded: a 304 from here on skips nothing unrecorded.
            state.etag = response.headers.get("etag") or None
            state.modified = response.headers.get("last-modified") or None
        elif response.headers.get("etag"):
            state.etag = response.headers["etag"]
        state.forget_old(at)
        save_state(self.data_dir, state)
        if feed is None:
            retried = sum(counts.values())
            self.log(
                Event(
                    "not-modified",
                    url,
                    detail="304 not modified"
                    + (
                        f"; retried {retried} pending item{'s' * (retried != 1)}: {_counts(counts)}"
                        if retried
                        else ""
                    ),
                )
            )
            return FeedOutcome("not-modified", counts)
        self.log(Event("feed-done", url, detail=f"{len(feed.items)} items: {_counts(counts)}"))
        return FeedOutcome("ok", counts)

    def _store_batch(
        self, url: str, state: FeedState, batch: list[_Candidate], at: datetime, counts: dict[str, int]
    ) -> None:
        """Fetch the pages of a batch of items, store their articles, record each in the state and save it."""
        self._fetch_pages(url, state, batch)
        committed: dict[str, str] = {}
        problems: dict[str, Problem] = {}
        busy: str | None = None
        complete = False
        # Room for this batch's state file, held back while its articles are stored: on a disk that fills
        # meanwhile, what was committed is still recorded (else it is fetched and logged as new again).
        reserve = self._reserve(url)
        reserve.hold()
        try:
            busy = self._store(url, [c.article for c in batch if c.article], committed, problems)
            complete = True
        finally:
            # Also after Ctrl-C or a failed write: the pipeline committed what `committed` holds, and that
            # much is recorded. The feed's validators are not touched, so the next run fetches the feed
            # again and meets the items whose fate is unknown.
            self._settle(url, state, batch, committed, problems, busy, at, counts, complete)
            try:
                self._save_with_reserve(state, reserve)
            except OSError:
                if complete:
                    raise
                # Already failing (a full disk): that error is the one to report, and an unsaved state
                # only means fetching these items again.
            finally:
                reserve.release()

    def _reserve(self, url: str) -> SpaceReserve:
        try:
            now_bytes = state_path(self.data_dir, url).stat().st_size
        except OSError:
            now_bytes = 0
        size = max(RESERVE_BYTES, now_bytes + ITEMS_PER_BATCH * RESERVE_PER_ITEM)
        return SpaceReserve(self.data_dir, RESERVE_FILE, size)

    def _save_with_reserve(self, state: FeedState, reserve: SpaceReserve) -> None:
        """Save the state; on a full disk, give up the reserve (held for exactly this) and save again."""
        try:
            save_state(self.data_dir, state)
        except OSError as error:
            if not is_disk_full(error, self.data_dir):
                raise
            reserve.release()
            save_state(self.data_dir, state)

    def _settle_same_links(
        self, url: str, state: FeedState, candidates: list[_Candidate], at: datetime, counts: dict[str, int]
    ) -> None:
        """Items whose link an earlier item of the feed already has share that item's fate."""
        by_key = {c.key: c for c in candidates}
        for candidate in candidates:
            if candidate.same_as is None:
                continue
            first = state.items.get(by_key[candidate.same_as].key)
            status = first.status if first is not None else "pending"
            state.items[candidate.key] = self._item_state(
                candidate.item,
                status,
                candidate.old,
                at,
                article_id=first.article_id if first else None,
                attempts=first.attempts if first else 0,
                error=first.error if first else None,
            )
            if status == "indexed":
                counts["unchanged"] += 1
                self.log(
                    Event(
                        "unchanged",
                        url,
                        candidate.item.link,
                        candidate.item.title,
                        f"same link as item {candidate.same_as}: indexed once, as "
                        f"{first.article_id if first else '?'}",
                    )
                )

    def _candidates(self, state: FeedState, items: list[FeedItem] | None, at: datetime) -> list[_Candidate]:
        """Items to fetch: new or changed in the feed, and those left pending by an earlier poll (also
        when the feed answered 304: they are retried from the state)."""
        chosen: dict[str, _Candidate] = {}
        for item in items or []:
            if item.key in chosen:
                continue  # the same guid twice in one feed: the first wins
            old = state.items.get(item.key)
            if old is not None:
                old.seen = at.isoformat()
                if old.digest == item.digest and old.status != "pending":
                    continue
                if old.digest != item.digest:
                    old.attempts = 0  # a changed item gets its full number of attempts again
            chosen[item.key] = _Candidate(item.key, item, old)
        for key, old in state.items.items():
            if old.status == "pending" and key not in chosen:
                chosen[key] = _Candidate(
                    key, FeedItem(key, old.link, old.title, old.published, old.digest), old
                )
        links: dict[str, str] = {}
        for candidate in chosen.values():
            link = candidate.item.link
            if link and link in links:
                candidate.same_as = links[link]
            elif link:
                links[link] = candidate.key
        return list(chosen.values())

    def _fetch_pages(self, url: str, state: FeedState, candidates: Iterable[_Candidate]) -> None:
        for candidate in candidates:
            if candidate.same_as is not None:
                continue
            link = candidate.item.link
            if not link:
                candidate.error = "the item has no link to fetch"
                continue
            problem = fetch.check_url(link)
            if problem:
                candidate.error = f"{link}: {problem}"
                continue
            try:
                response = fetch.get(
                    link,
                    timeout=self.options.timeout,
                    max_bytes=self.options.max_bytes,
                    user_agent=self.options.user_agent,
                    accept=PAGE_ACCEPT,
                )
                candidate.article = page_article(
                    response,
                    link,
                    title=candidate.item.title,
                    published=candidate.item.published,
                    source=state.title or None,
                )
            except (fetch.FetchError, PageError) as error:
                candidate.error = _reason(error, link)

    def _store(
        self, url: str, articles: list[Article], committed: dict[str, str], problems: dict[str, Problem]
    ) -> str | None:
        """Index the articles through the pipeline (keyword phase; vectors follow after the round),
        filling `committed` (outcome by article id, as each is committed) and `problems` (by origin).
        Returns why nothing could be written when the data directory is busy, else None."""
        from indexer.pipeline import index_paths
        from indexer.stores.data_dir import StoreBusyError

        if not articles:
            return None

        def on_article(article: Article, outcome: str) -> None:
            committed[article.id] = outcome

        def on_problem(problem: Problem) -> None:
            problems[problem.origin] = problem

        try:
            report = self._when_unlocked(
                lambda: index_paths(
                    [],
                    self.settings,
                    embed=False,
                    progress=False,
                    on_problem=on_problem,
                    articles=articles,
                    sources=[f"feed {url}"],
                    on_article=on_article,
                )
            )
        except StoreBusyError as error:
            return str(error)
        finally:
            if committed:
                self.stored_since_embedding = True
        for message in report.messages:
            self.log(Event("message", url, detail=message))
        return None

    def _settle(
        self,
        url: str,
        state: FeedState,
        candidates: list[_Candidate],
        outcomes: dict[str, str],
        problems: dict[str, Problem],
        busy: str | None,
        at: datetime,
        counts: dict[str, int],
        complete: bool,
    ) -> None:
        """Record each candidate in the state and log it. Items whose fate is unknown because the run
        stopped before the pipeline got to them are left as they were: the next run meets them again."""
        if busy:
            self.log(
                Event(
                    "store-busy",
                    url,
                    detail=f"{busy}; the new items are kept and fetched again on the next poll",
                )
            )
        for candidate in candidates:
            item, old = candidate.item, candidate.old
            article = candidate.article
            error = candidate.error
            outcome = outcomes.get(article.id) if article is not None else None
            if article is not None and outcome is None:
                problem = problems.get(article.origin)
                if problem is not None:
                    error = f"{problem.reason}" + (f" ({problem.detail})" if problem.detail else "")
                elif busy or complete:
                    # Not written (the data directory was busy): fetched again on the next poll, without
                    # counting as a failed attempt.
                    state.items[candidate.key] = self._item_state(
                        item,
                        "pending",
                        old,
                        at,
                        attempts=old.attempts if old else 0,
                        error="not stored: " + (busy or "the indexer did not take it"),
                    )
                    continue
                else:
                    continue  # stopped before the pipeline reached it: nothing recorded
            if error is not None:
                attempts = (old.attempts if old else 0) + 1
                gave_up = attempts >= self.options.item_attempts
                state.items[candidate.key] = self._item_state(
                    item, "failed" if gave_up else "pending", old, at, attempts=attempts, error=error
                )
                counts["failed"] += 1
                tries = f"attempt {attempts} of {self.options.item_attempts}"
                self.log(
                    Event(
                        "item-given-up" if gave_up else "item-failed",
                        url,
                        item.link or item.key,
                        item.title,
                        f"{error}; {tries}, " + ("given up" if gave_up else "tried again on the next poll"),
                    )
                )
                continue
            assert article is not None and outcome is not None
            state.items[candidate.key] = self._item_state(item, "indexed", old, at, article_id=article.id)
            if outcome == "new":
                kind, detail = "new", f"indexed as {article.id}"
            elif outcome == "replaced":
                kind, detail = "changed", f"re-indexed as {article.id} (the page's article had changed)"
            elif old is not None and old.digest != item.digest and old.status == "indexed":
                kind, detail = (
                    "unchanged",
                    (f"changed in the feed, but its article {article.id} is the same: nothing to re-index"),
                )
            else:
                kind, detail = "unchanged", f"already indexed as {article.id}"
            counts[kind] += 1
            self.log(Event(kind, url, item.link, article.title or item.title, detail))

    @staticmethod
    def _item_state(
        item: FeedItem,
        status: str,
        old: ItemState | None,
        at: datetime,
        *,
        attempts: int = 0,
        error: str | None = None,
        article_id: str | None = None,
    ) -> ItemState:
        return ItemState(
            link=item.link,
            digest=item.digest,
            status=status,
            title=item.title,
            published=item.published,
            article_id=article_id or (old.article_id if old else None),
            attempts=attempts,
            error=error,
            seen=at.isoformat(),
        )

    # -- rounds -----------------------------------------------------------------------------------------

    def embed(self) -> int:
        """Embed the passages the round stored (and any an earlier run left): one model load per round."""
        if not self.options.embed or not self.stored_since_embedding:
            return 0
        from indexer.pipeline import IndexReport, index_paths
        from indexer.stores.data_dir import StoreBusyError
        from indexer.stores.manifest import holds_index

        if self.settings["store.backend"] == "embedded" and not holds_index(self.data_dir):
            return 0  # nothing was ever stored here: do not create an empty index
        report = IndexReport()
        try:
            self._when_unlocked(
                lambda: index_paths(
                    [],
                    self.settings,
                    embed=True,
                    progress=False,
                    report=report,
                    sources=["isnad watch: embeddings"],
                )
            )
        except StoreBusyError as error:
            self.log(Event("store-busy", "", detail=f"{error}; embedding waits for the next round"))
            return 0
        self.stored_since_embedding = False
        if report.embedded:
            self.log(
                Event(
                    "embedded",
                    "",
                    detail=f"embedded {report.embedded} passages"
                    + (f", {report.pending_vectors} still pending" if report.pending_vectors else ""),
                )
            )
        return report.embedded

    def _when_unlocked(self, write: Callable[[], Any]) -> Any:
        """Run `write` (which opens the stores for writing), retrying while another process holds the write
        lock, up to LOCK_WAIT_SECONDS once per round; StoreBusyError when it stays taken."""
        from indexer.stores.data_dir import StoreBusyError

        deadline = time.monotonic() + (0.0 if self.busy_this_round else LOCK_WAIT_SECONDS)
        while True:
            try:
                return write()
            except StoreBusyError:
                if time.monotonic() >= deadline:
                    self.busy_this_round = True
                    raise
                time.sleep(LOCK_POLL_SECONDS)

    def due(self, url: str, at: datetime) -> datetime:
        """When `url` should next be polled: after its back-off while failing, else an interval after its
        last poll."""
        state = load_state(self.data_dir, url)
        if state.next_retry:
            return datetime.fromisoformat(state.next_retry)
        if state.last_poll:
            return datetime.fromisoformat(state.last_poll) + timedelta(seconds=self.options.interval)
        return at

    def poll_round(self, urls: Sequence[str] | None = None) -> dict[str, FeedOutcome]:
        self.busy_this_round = False
        outcomes = {url: self.poll_feed(url) for url in (self.urls if urls is None else urls)}
        self.embed()
        return outcomes

    def run_forever(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Poll every feed when due, for ever (until Ctrl-C); the first round polls them all."""
        self.poll_round()
        while True:
            at = now()
            due = [url for url in self.urls if self.due(url, at) <= at]
            if due:
                self.poll_round(due)
                continue
            upcoming = min(self.due(url, at) for url in self.urls)
            sleep(max(1.0, min(60.0, (upcoming - at).total_seconds())))


def _reason(error: Exception, url: str) -> str:
    """The error's message without the URL it starts with: the log line names the feed and item already."""
    return str(error).removeprefix(f"{url}: ")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[name]} {name}" for name in ("new", "changed", "unchanged", "failed"))
