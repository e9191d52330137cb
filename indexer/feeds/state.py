"""What `isnad watch` remembers per feed (validators, items seen, failures, back-off), one JSON file each,
replaced atomically in <data dir>/feeds/."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from indexer.errors import IsnadError

FEEDS_DIR = "feeds"
LOCK_FILE = "watch.lock"
STATE_VERSION = 1
FORGET_AFTER_DAYS = 90  # items gone from the feed this long are forgotten (an old one coming back is
# fetched again and found unchanged by the indexer: nothing is indexed twice)


class WatchBusyError(IsnadError):
    """Another `isnad watch` follows feeds into the same data directory."""


class StateError(IsnadError):
    """A feed's state file cannot be read or written."""


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(slots=True)
class ItemState:
    """One feed item as last seen. `status`: "indexed" (its article is in the stores), "pending" (to be
    fetched again on the next poll: its page failed, or the stores were busy) or "failed" (given up)."""

    link: str | None
    digest: str  # the feed entry's fingerprint: a new one means the item changed
    status: str
    title: str = ""
    published: str | None = None
    article_id: str | None = None
    attempts: int = 0  # failed attempts since it last changed
    error: str | None = None
    seen: str = ""  # last poll that listed it


@dataclass(slots=True)
class FeedState:
    url: str
    etag: str | None = None
    modified: str | None = None  # Last-Modified, sent back as If-Modified-Since
    title: str = ""
    last_poll: str | None = None
    last_success: str | None = None
    failures: int = 0  # consecutive failed polls
    next_retry: str | None = None  # no poll before this while failing
    last_error: str | None = None
    items: dict[str, ItemState] = field(default_factory=dict)

    def backing_off(self, at: datetime) -> datetime | None:
        """When the next try is due, if that is still in the future."""
        due = _time(self.next_retry)
        return due if due is not None and due > at else None

    def record_failure(
        self, error: str, at: datetime, initial: float, longest: float, retry_after: float | None = None
    ) -> float:
        """Count a failed poll and set the next try: initial x 2^(failures-1), at most `longest`, never
        sooner than the server's Retry-After (up to `longest`). Returns the delay in seconds."""
        self.failures += 1
        self.last_poll = at.isoformat()
        self.last_error = error
        delay = min(float(longest), float(initial) * 2 ** (self.failures - 1))
        if retry_after is not None:
            delay = min(float(longest), max(delay, retry_after))
        self.next_retry = (at + timedelta(seconds=delay)).isoformat()
        return delay

    def record_success(self, at: datetime) -> None:
        self.failures = 0
        self.next_retry = None
        self.last_error = None
        self.last_poll = self.last_success = at.isoformat()

    def forget_old(self, at: datetime) -> None:
        """Drop items no poll has listed for FORGET_AFTER_DAYS, so the file does not grow for ever."""
        horizon = at - timedelta(days=FORGET_AFTER_DAYS)
        self.items = {
            key: item
            for key, item in self.items.items()
            if item.status == "pending" or (_time(item.seen) or at) >= horizon
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = STATE_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedState:
        items = {key: ItemState(**value) for key, value in data.get("items", {}).items()}
        fields = {k: v for k, v in data.items() if k not in ("items", "version")}
        return cls(**fields, items=items)


def state_path(data_dir: Path, url: str) -> Path:
    """The state file of one feed: named by a digest of its URL, which it also records."""
    name = hashlib.blake2b(url.encode("utf-8"), digest_size=8).hexdigest()
    return Path(data_dir) / FEEDS_DIR / f"{name}.json"


def load_state(data_dir: Path, url: str) -> FeedState:
    path = state_path(data_dir, url)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return FeedState(url)
    except (OSError, ValueError) as error:
        raise StateError(
            f"cannot read the state of feed {url} ({path}): {error}; move the file away to "
            "start that feed afresh (its articles stay indexed and are not duplicated)"
        ) from None
    try:
        state = FeedState.from_json(data)
    except (TypeError, AttributeError) as error:
        raise StateError(
            f"the state of feed {url} ({path}) is not in the expected form ({error}); move "
            "it away to start that feed afresh"
        ) from None
    if state.url != url:
        raise StateError(f"{path} holds the state of {state.url}, not {url}")
    return state


def save_state(data_dir: Path, state: FeedState) -> None:
    """Write the state atomically: a temporary file in the same folder, flushed to disk, then renamed over
    the old one (and the folder synced), so a crash leaves either the old state or the new, never half."""
    path = state_path(data_dir, state.url)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(state.to_json(), handle, ensure_ascii=False, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def take_watch_lock(data_dir: Path) -> IO[str]:
    """Hold <data dir>/feeds/watch.lock for this process's lifetime: two watchers on one data directory
    would fetch and write the same items. Closing the returned handle releases it."""
    folder = Path(data_dir) / FEEDS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise WatchBusyError(
            f"another `isnad watch` is already following feeds into {data_dir}; stop it "
            "first, or give this one another --data-dir"
        ) from None
    return handle
