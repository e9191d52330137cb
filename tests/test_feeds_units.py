"""The parts of `isnad watch` one by one: HTTP limits against a real local server, feed reading errors,
back-off arithmetic, the state file and its lock, and the [feeds] settings."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feed_server import FIXTURES, FeedServer, Served, copy_fixtures

from indexer.feeds.fetch import FetchError, check_url, get
from indexer.feeds.parse import FeedFormatError, parse_feed
from indexer.feeds.state import (
    FORGET_AFTER_DAYS,
    FeedState,
    ItemState,
    WatchBusyError,
    load_state,
    save_state,
    state_path,
    take_watch_lock,
)
from indexer.settings import SettingsError, load_settings

AGENT = "Isnad-test/1"


@pytest.fixture
def site(tmp_path: Path):
    server = FeedServer(tmp_path / "site")
    copy_fixtures(server.served.root, server.served.base)
    with server as served:
        yield served


def fetch(served: Served, path: str, **options) -> object:
    return get(
        served.base + path,
        timeout=options.pop("timeout", 10),
        max_bytes=options.pop("max_bytes", 1 << 20),
        user_agent=AGENT,
        **options,
    )


def test_conditional_get_answers_304_with_the_validators_it_was_given(site: Served) -> None:
    first = fetch(site, "/rss.xml")
    assert first.status == 200 and first.headers["etag"] and first.headers["last-modified"]
    assert fetch(site, "/rss.xml", etag=first.headers["etag"]).not_modified
    assert fetch(site, "/rss.xml", modified=first.headers["last-modified"]).not_modified
    assert fetch(site, "/rss.xml", etag='"another"').status == 200
    assert site.user_agents == {AGENT}


def test_size_cap_timeout_http_errors_and_redirects(site: Served) -> None:
    with pytest.raises(FetchError, match="more than feeds.max_bytes"):
        fetch(site, "/rss.xml", max_bytes=100)
    site.fail["/busy.xml"] = 429
    site.fail_headers["/busy.xml"] = {"Retry-After": "120"}
    with pytest.raises(FetchError, match="HTTP 429") as caught:
        fetch(site, "/busy.xml")
    assert caught.value.retry_after == 120
    site.redirect["/moved.xml"] = site.base + "/atom.xml"
    assert b"<feed" in fetch(site, "/moved.xml").body
    site.redirect["/sneaky.xml"] = "file:///etc/passwd"
    with pytest.raises(FetchError, match="only http:// and https://"):
        fetch(site, "/sneaky.xml")
    site.hold.add("/slow.xml")
    with pytest.raises(FetchError, match="no answer within feeds.timeout"):
        fetch(site, "/slow.xml", timeout=1)
    site.release.set()
    with pytest.raises(FetchError, match="cannot connect"):
        get("http://127.0.0.1:9/feed.xml", timeout=5, max_bytes=1000, user_agent=AGENT)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/feed.xml", "feed.xml", "http://"])
def test_only_http_addresses_are_fetched(url: str) -> None:
    assert check_url(url)
    with pytest.raises(FetchError):
        get(url, timeout=1, max_bytes=10, user_agent=AGENT)


def test_feed_documents_read_and_refused() -> None:
    rss = (FIXTURES / "rss.xml").read_bytes().replace(b"{BASE}", b"http://h")
    feed = parse_feed(rss, "http://h/rss.xml")
    assert feed.version == "rss20" and feed.title == "أخبار الواحة"
    assert [item.key for item in feed.items] == [
        "wahanews-1001",
        "http://h/articles/library.html",
        "http://h/articles/marathon.html",
        "wahanews-1004",
    ]
    atom = parse_feed(
        (FIXTURES / "atom.xml").read_bytes().replace(b"{BASE}", b"http://h"), "http://h/feeds/atom.xml"
    )
    # A relative link is made absolute against the feed's address.
    assert atom.items[0].link == "http://h/feeds/articles/port.html"
    # UTF-16 with a byte-order mark is read; the same text re-declared by a wrong header is refused.
    text = rss.decode("utf-8").replace('encoding="utf-8"', 'encoding="utf-16"')
    assert parse_feed(codecs.BOM_UTF16_LE + text.encode("utf-16-le"), "http://h/rss.xml").items
    with pytest.raises(FeedFormatError, match="server says windows-1256"):
        parse_feed(rss, "http://h/rss.xml", charset="windows-1256")
    with pytest.raises(FeedFormatError, match="wrong declared encoding"):
        parse_feed((FIXTURES / "wrong-encoding.xml").read_bytes(), "http://h/w.xml")
    with pytest.raises(FeedFormatError, match="truncated"):
        parse_feed((FIXTURES / "truncated.xml").read_bytes(), "http://h/t.xml")
    with pytest.raises(FeedFormatError, match="truncated"):
        parse_feed(rss[: rss.index("الواحة".encode()) + 1], "http://h/rss.xml")  # cut inside a letter
    with pytest.raises(FeedFormatError, match="HTML page"):
        parse_feed((FIXTURES / "articles" / "rain.html").read_bytes(), "http://h/rain.html")
    with pytest.raises(FeedFormatError, match="not XML at all"):
        parse_feed(b'{"items": []}', "http://h/feed.json")
    with pytest.raises(FeedFormatError, match="root element is <catalog>"):
        parse_feed(b'<?xml version="1.0"?><catalog><book/></catalog>', "http://h/c.xml")
    with pytest.raises(FeedFormatError, match="empty"):
        parse_feed(b"  \n", "http://h/e.xml")


def test_a_changed_entry_changes_its_digest_and_keeps_its_key() -> None:
    atom = (FIXTURES / "atom.xml").read_bytes()
    before = parse_feed(atom, "http://h/atom.xml").items
    after = parse_feed(
        atom.replace(b"<updated>2026-11-29T09:00:00Z</updated>", b"<updated>2026-12-01T09:00:00Z</updated>"),
        "http://h/atom.xml",
    ).items
    assert [i.key for i in before] == [i.key for i in after]
    assert [i.digest == j.digest for i, j in zip(before, after, strict=True)] == [False, True, True]


def test_back_off_doubles_up_to_its_longest_and_honours_retry_after() -> None:
    state = FeedState("http://h/feed.xml")
    at = datetime(2026, 12, 1, tzinfo=UTC)
    assert [state.record_failure("boom", at, 300, 3000) for _ in range(6)] == [
        300,
        600,
        1200,
        2400,
        3000,
        3000,
    ]
    assert state.backing_off(at) == at + timedelta(seconds=3000)
    assert state.backing_off(at + timedelta(seconds=3001)) is None
    state.record_success(at)
    assert state.failures == 0 and state.backing_off(at) is None
    assert state.record_failure("429", at, 300, 3000, retry_after=900) == 900
    assert state.record_failure("429", at, 300, 3000, retry_after=90000) == 3000


def test_state_file_round_trip_forgetting_and_the_watch_lock(tmp_path: Path) -> None:
    url = "http://h/feed.xml"
    at = datetime(2026, 12, 1, tzinfo=UTC)
    old = (at - timedelta(days=FORGET_AFTER_DAYS + 1)).isoformat()
    state = FeedState(
        url,
        etag='"x"',
        items={
            "recent": ItemState("http://h/a", "d1", "indexed", seen=at.isoformat()),
            "old": ItemState("http://h/b", "d2", "indexed", seen=old),
            "old-pending": ItemState("http://h/c", "d3", "pending", seen=old),
        },
    )
    state.forget_old(at)
    assert set(state.items) == {"recent", "old-pending"}
    save_state(tmp_path, state)
    assert load_state(tmp_path, url) == state
    assert [p.name for p in state_path(tmp_path, url).parent.iterdir()] == [state_path(tmp_path, url).name]
    assert load_state(tmp_path, "http://h/other.xml") == FeedState("http://h/other.xml")
    state_path(tmp_path, url).write_text("{broken", encoding="utf-8")
    with pytest.raises(Exception, match="move the file away"):
        load_state(tmp_path, url)
    held = take_watch_lock(tmp_path)
    try:
        with pytest.raises(WatchBusyError, match="another `isnad watch`"):
            take_watch_lock(tmp_path)
    finally:
        held.close()
    take_watch_lock(tmp_path).close()


def test_feeds_settings_from_environment_and_their_errors() -> None:
    values = load_settings(
        environ={"ISNAD_FEEDS_URLS": "http://a/rss.xml  http://b/atom.xml", "ISNAD_FEEDS_INTERVAL": "60"}
    )
    assert (
        values["feeds.urls"] == ["http://a/rss.xml", "http://b/atom.xml"] and values["feeds.interval"] == 60
    )
    assert load_settings(environ={})["feeds.urls"] == []
    with pytest.raises(SettingsError, match="feeds.urls must be a list of strings"):
        load_settings(overrides={"feeds.urls": [1, 2]}, environ={})


def test_a_feed_is_stored_and_recorded_a_batch_at_a_time(site: Served, tmp_path: Path, monkeypatch) -> None:
    """In process, with the real stores: batches of 2, a failing page in the second, and an item that repeats
    another's link."""
    import sqlite3

    from indexer.feeds import poll
    from indexer.ingest import stable_id

    monkeypatch.setattr(poll, "ITEMS_PER_BATCH", 2)
    rss = (site.root / "rss.xml").read_text(encoding="utf-8")
    site.write(
        "rss.xml",
        rss.replace(
            "  </channel>",
            f"""    <item>
      <title>أمطار غزيرة (تحديث)</title>
      <link>{site.base}/articles/rain.html</link>
      <guid isPermaLink="false">wahanews-1001-update</guid>
    </item>
  </channel>""",
        ),
    )
    site.fail["/articles/dates-cp1256.html"] = 500
    settings = load_settings(overrides={"data.dir": str(tmp_path / "data")}, environ={})
    events: list[poll.Event] = []
    url = site.base + "/rss.xml"
    watcher = poll.Watcher(
        settings, [url], poll.WatchOptions.from_settings(settings, embed=False), events.append
    )
    outcome = watcher.poll_feed(url)
    assert outcome.status == "ok" and outcome.counts == {"new": 3, "changed": 0, "unchanged": 1, "failed": 1}
    items = load_state(tmp_path / "data", url).items
    assert {key: item.status for key, item in items.items()} == {
        "wahanews-1001": "indexed",
        f"{site.base}/articles/library.html": "indexed",
        f"{site.base}/articles/marathon.html": "indexed",
        "wahanews-1004": "pending",
        "wahanews-1001-update": "indexed",
    }
    assert (
        items["wahanews-1001-update"].article_id
        == items["wahanews-1001"].article_id
        == stable_id(f"{site.base}/articles/rain.html")
    )
    assert "HTTP 500" in items["wahanews-1004"].error
    assert [e.kind for e in events if e.item] == ["new", "new", "new", "item-failed", "unchanged"]
    with sqlite3.connect(tmp_path / "data" / "documents.sqlite3") as db:
        runs = db.execute("SELECT paths FROM ingest_log ORDER BY id").fetchall()
        assert len(runs) == 2 and all(url in paths for (paths,) in runs)  # one pipeline run per batch
        assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 3


def test_storing_waits_for_the_write_lock_and_keeps_items_pending_when_it_stays_taken(
    site: Served, tmp_path: Path, monkeypatch
) -> None:
    """Another writer (`isnad index`, the server's write API) holds index.lock: watch waits for it, and when it
    stays taken the items are kept pending and stored on the next poll, though the feed then answers 304."""
    import fcntl
    import threading

    from indexer.feeds import poll

    data = tmp_path / "data"
    data.mkdir()
    settings = load_settings(overrides={"data.dir": str(data)}, environ={})
    events: list[poll.Event] = []
    url = site.base + "/atom.xml"
    watcher = poll.Watcher(
        settings, [url], poll.WatchOptions.from_settings(settings, embed=False), events.append
    )

    holder = open(data / "index.lock", "a+")  # noqa: SIM115 - the other writer's lock, released below
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    monkeypatch.setattr(poll, "LOCK_WAIT_SECONDS", 0.5)
    first = watcher.poll_round()[url]
    assert first.counts == {"new": 0, "changed": 0, "unchanged": 0, "failed": 0}
    assert [e.kind for e in events if e.kind == "store-busy"] == ["store-busy"]
    state = load_state(data, url)
    assert {item.status for item in state.items.values()} == {"pending"} and len(state.items) == 3
    assert all(item.attempts == 0 for item in state.items.values())  # busy is no failed attempt

    # The lock is released while the next poll waits for it: the pending items are stored, the feed is a 304.
    monkeypatch.setattr(poll, "LOCK_WAIT_SECONDS", 120.0)
    threading.Timer(1.0, holder.close).start()
    events.clear()
    second = watcher.poll_round()[url]
    assert second.status == "not-modified" and second.counts["new"] == 3
    assert not [e for e in events if e.kind == "store-busy"]
    assert {item.status for item in load_state(data, url).items.values()} == {"indexed"}
