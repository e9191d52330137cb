"""`isnad watch` end to end: our Arabic RSS 2.0 and Atom feeds and article pages (tests/fixtures/feeds), served
by a real HTTP server on 127.0.0.1, polled by the real command into a real data directory, then searched.

Covers: new items indexed and searchable (keyword and semantic), a second poll answered 304 that fetches and
duplicates nothing, a changed item re-indexed, an item whose page fails retried on a later poll, broken feeds
(wrong declared encoding, truncated, not XML, 404) reported and backed off while the others proceed, a
running `isnad serve` seeing what watch stores, and SIGINT / SIGKILL mid-run followed by a rerun that loses
and duplicates nothing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from feed_server import FeedServer, Served, copy_fixtures

from indexer.feeds.state import load_state
from indexer.ingest import stable_id

REPO_ROOT = Path(__file__).resolve().parents[1]
BACKOFF = 3600  # seconds: longer than any test, so a failed feed is still backing off on the next run
# (unique word, title) of every article the two good feeds lead to.
ARTICLES = {
    "rain": ("الأمطار", "أمطار غزيرة تغلق طرق مدينة الواحة"),
    "library": ("المكتبة", "افتتاح المكتبة العامة الجديدة في حي النخيل"),
    "marathon": ("الماراثون", "ألفا عداء في ماراثون الواحة السنوي"),
    "dates-cp1256": ("التمور", "سوق التمور الموسمي يفتح أبوابه في الواحة"),
    "port": ("الحاويات", "توسعة ميناء الساحل تستقبل أول سفينة حاويات"),
    "olive": ("الزيتون", "موسم الزيتون يبدأ مبكرا في قرى الساحل"),
}

BRIDGE = """<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>جسر جديد يربط ضفتي النهر</title>
<meta property="og:site_name" content="أخبار الواحة"></head>
<body><nav><a href="/">الرئيسية</a></nav><article><h1>جسر جديد يربط ضفتي النهر</h1>
<p>افتتحت وزارة النقل صباح الثلاثاء الجسر المعلق الجديد فوق النهر بين قرية الضفة الشرقية ومدينة الواحة، بعد
أربع سنوات من العمل، ليختصر الطريق بين الضفتين من ساعة كاملة بالعبارة إلى عشر دقائق بالسيارة.</p>
<p>ويبلغ طول الجسر ستمئة متر، ويضم مسارين للسيارات في كل اتجاه وممرا للمشاة والدراجات، وقال المهندس المسؤول
إن تصميمه يتحمل فيضانات النهر الموسمية التي كانت تقطع الطريق القديم كل شتاء.</p>
</article><footer>جميع الحقوق محفوظة</footer></body></html>
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Served]:
    server = FeedServer(tmp_path / "site")
    copy_fixtures(server.served.root, server.served.base)
    with server as served:
        yield served


def feed(served: Served, name: str) -> str:
    return f"{served.base}/{name}"


def page(served: Served, name: str) -> str:
    return f"{served.base}/articles/{name}.html"


def watch(data: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", "watch", "--data-dir", str(data), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "ISNAD_FEEDS_BACKOFF_INITIAL": str(BACKOFF), **(env or {})},
    )


def start_watch(data: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "watch", "--data-dir", str(data), *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ISNAD_FEEDS_BACKOFF_INITIAL": str(BACKOFF)},
    )


def search(data: Path, query: str, mode: str = "keyword") -> list[dict]:
    """The real `isnad search --json` over the data directory."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "search",
            "--data-dir",
            str(data),
            "--json",
            "--mode",
            mode,
            "--size",
            "50",
            query,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["results"]


def stored(data: Path) -> list[tuple[str, str, str]]:
    """(id, url, content hash) of every stored article, read-only."""
    with sqlite3.connect(f"file:{data / 'documents.sqlite3'}?mode=ro", uri=True) as db:
        return sorted(db.execute("SELECT id, url, content_hash FROM articles").fetchall())


def counts(data: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "stats", "--json", "--data-dir", str(data)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["counts"]


def item_line(stderr: str, kind: str, link: str) -> str:
    """The log line of `kind` ("new item", "changed item", ...) for the item at `link`."""
    lines = [line for line in stderr.splitlines() if f" {kind} " in line and f" {link} " in line]
    assert len(lines) == 1, f"expected one {kind!r} line for {link}:\n{stderr}"
    return lines[0]


def assert_each_article_once(data: Path, served: Served) -> None:
    """Every article of the good feeds stored exactly once, under its link's id, and found by its word."""
    rows = stored(data)
    assert [row[0] for row in rows] == sorted(stable_id(page(served, name)) for name in ARTICLES)
    assert len({row[1] for row in rows}) == len(rows)
    for name, (word, title) in ARTICLES.items():
        hits = [hit for hit in search(data, word) if hit["title"] == title]
        assert [hit["article_id"] for hit in hits] == [stable_id(page(served, name))], word
    numbers = counts(data)
    assert numbers["articles"] == len(ARTICLES)
    assert numbers["keyword"] == numbers["passages"] and numbers["pending_keyword_articles"] == 0


def test_watch_once_indexes_both_feeds_reports_broken_ones_and_a_second_poll_is_304(
    site: Served, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    good = [feed(site, "rss.xml"), feed(site, "atom.xml")]
    broken = [
        feed(site, "wrong-encoding.xml"),
        feed(site, "truncated.xml"),
        page(site, "rain"),
        feed(site, "missing.xml"),
    ]
    first = watch(data, "--once", *good, *broken)
    assert first.returncode == 1, first.stderr  # some feeds failed; the others were read
    for name in ("rain", "library", "marathon", "dates-cp1256"):
        assert f"(feed {good[0]})" in item_line(first.stderr, "new item", page(site, name))
    for name in ("port", "olive"):
        assert f"(feed {good[1]})" in item_line(first.stderr, "new item", page(site, name))
    # The library article is in both feeds: the Atom feed's copy lands on the same article.
    assert "already indexed" in item_line(first.stderr, "unchanged item", page(site, "library"))
    failed = {
        line.split("failed feed ")[1].split(": ", 1)[0]: line
        for line in first.stderr.splitlines()
        if "failed feed " in line
    }
    assert set(failed) == set(broken)
    assert "wrong declared encoding" in failed[broken[0]] and "utf-8" in failed[broken[0]]
    assert "truncated" in failed[broken[1]]
    assert "not an RSS or Atom feed" in failed[broken[2]]
    assert "HTTP 404" in failed[broken[3]]
    assert "6 new, 0 changed, 1 unchanged, 0 failed items" in first.stdout
    assert all(agent.startswith("Isnad/") and "isnad watch" in agent for agent in site.user_agents)
    assert_each_article_once(data, site)
    # The Windows-1256 page was decoded, not garbled: its title is the Arabic one.
    assert search(data, "التمور")[0]["title"] == ARTICLES["dates-cp1256"][1]
    # Embedded too: a question in other words finds the port article by meaning.
    numbers = counts(data)
    assert numbers["vectors"] == numbers["passages"] and numbers["pending_vectors"] == 0
    semantic = search(data, "رصيف بحري جديد لسفن الشحن الكبيرة", mode="semantic")
    assert semantic[0]["article_id"] == stable_id(page(site, "port"))

    before = stored(data)
    site.log.clear()
    second = watch(data, "--once", *good, *broken)
    assert second.returncode == 0, second.stderr
    # Only the two good feeds were asked for, conditionally, and answered 304; no page was fetched again.
    assert site.log == [("/rss.xml", 304), ("/atom.xml", 304)], site.log
    assert stored(data) == before
    for url in broken:
        assert f"skipped feed {url}: backing off" in second.stderr
    assert "0 new, 0 changed, 0 unchanged, 0 failed items" in second.stdout


def test_changed_item_reindexed_failed_page_retried_and_failing_feed_backs_off(
    site: Served, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    rss, atom, missing = feed(site, "rss.xml"), feed(site, "atom.xml"), feed(site, "missing.xml")
    first = watch(data, "--once", "--no-embed", rss, atom, missing)
    assert first.returncode == 1 and "HTTP 404" in first.stderr
    state = load_state(data, missing)
    assert state.failures == 1 and state.etag is None
    assert (
        datetime.fromisoformat(state.next_retry) - datetime.fromisoformat(state.last_poll)
    ).total_seconds() == BACKOFF
    olive_id = stable_id(page(site, "olive"))
    old_hash = {row[0]: row[2] for row in stored(data)}[olive_id]

    # The olive article is updated on the site and in the Atom feed; the RSS feed gains an item whose page
    # is not there yet.
    olive = (site.root / "articles" / "olive.html").read_text(encoding="utf-8")
    site.write(
        "articles/olive.html",
        olive.replace(
            "</article>",
            "<p>وأعلنت النقابة لاحقا افتتاح المعصرة التعاونية الجديدة في القرية الكبرى لعصر ثمار "
            "صغار المزارعين بأجور مخفضة طوال الموسم.</p>\n</article>",
        ),
    )
    atom_text = (site.root / "atom.xml").read_text(encoding="utf-8")
    olive_dates = "<published>2026-11-30T07:45:00Z</published>\n    <updated>2026-11-30T07:45:00Z</updated>"
    assert olive_dates in atom_text
    site.write(
        "atom.xml",
        atom_text.replace(
            olive_dates, olive_dates.replace("<updated>2026-11-30T07:45", "<updated>2026-12-01T10:00")
        ),
    )
    bridge = page(site, "bridge")
    rss_text = (site.root / "rss.xml").read_text(encoding="utf-8")
    site.write(
        "rss.xml",
        rss_text.replace(
            "    <item>",
            f"""    <item>
      <title>جسر جديد يربط ضفتي النهر</title>
      <link>{bridge}</link>
      <guid isPermaLink="false">wahanews-1005</guid>
      <pubDate>Tue, 01 Dec 2026 09:00:00 GMT</pubDate>
    </item>
    <item>""",
            1,
        ),
    )
    site.log.clear()
    second = watch(data, "--once", "--no-embed", rss, atom, missing)
    assert second.returncode == 1  # the bridge page is missing
    assert "re-indexed" in item_line(second.stderr, "changed item", page(site, "olive"))
    assert f"(feed {atom})" in item_line(second.stderr, "changed item", page(site, "olive"))
    failed = item_line(second.stderr, "failed item", bridge)
    assert "HTTP 404" in failed and "attempt 1 of 5" in failed and f"(feed {rss})" in failed
    assert f"skipped feed {missing}: backing off" in second.stderr
    assert ("/missing.xml", 404) not in site.log  # backing off: not even asked
    # Only the changed page was fetched again (and the missing one tried).
    pages = [path for path, _ in site.log if path.startswith("/articles/")]
    assert sorted(pages) == ["/articles/bridge.html", "/articles/olive.html"]
    rows = {row[0]: row[2] for row in stored(data)}
    assert len(rows) == len(ARTICLES) and rows[olive_id] != old_hash
    assert [hit["article_id"] for hit in search(data, "المعصرة")] == [olive_id]

    # The bridge page appears; the feed itself has not changed (304), yet the pending item is fetched again.
    # --force also polls the failing feed now, which doubles its back-off.
    site.write("articles/bridge.html", BRIDGE)
    site.log.clear()
    third = watch(data, "--once", "--no-embed", "--force", rss, atom, missing)
    assert ("/rss.xml", 304) in site.log and ("/missing.xml", 404) in site.log
    assert f"(feed {rss})" in item_line(third.stderr, "new item", bridge)
    assert "retried 1 pending item" in third.stderr
    state = load_state(data, missing)
    assert state.failures == 2
    assert (
        datetime.fromisoformat(state.next_retry) - datetime.fromisoformat(state.last_poll)
    ).total_seconds() == 2 * BACKOFF
    assert len(stored(data)) == len(ARTICLES) + 1
    assert [hit["article_id"] for hit in search(data, "الجسر")] == [stable_id(bridge)]

    # The failing feed starts to work: its failures are forgotten, and its item (already indexed) is not
    # indexed twice.
    site.write("missing.xml", rss_text.replace("أخبار الواحة", "مرآة الواحة"))
    fourth = watch(data, "--once", "--no-embed", "--force", missing)
    assert fourth.returncode == 0, fourth.stderr
    assert load_state(data, missing).failures == 0
    assert "already indexed" in item_line(fourth.stderr, "unchanged item", page(site, "rain"))
    assert len(stored(data)) == len(ARTICLES) + 1


def test_watch_writes_while_isnad_serve_runs_and_the_server_finds_the_new_articles(
    site: Served, tmp_path: Path
) -> None:
    from evaluation.server import ServedIndex

    data = tmp_path / "data"
    rss, atom = feed(site, "rss.xml"), feed(site, "atom.xml")
    assert watch(data, "--once", "--no-embed", rss).returncode == 0
    server = ServedIndex(data, log_path=tmp_path / "serve.log", startup_timeout=120.0)
    server.start()
    try:

        def found(word: str) -> list[str]:
            query = urllib.parse.urlencode({"q": word, "mode": "keyword"})
            with urllib.request.urlopen(
                f"http://127.0.0.1:{server.port}/api/v1/search?{query}", timeout=60
            ) as response:
                return [hit["article_id"] for hit in json.loads(response.read())["results"]]

        assert found("الزيتون") == []
        # The server only reads: watch takes the data directory's write lock and stores the Atom feed's items.
        done = watch(data, "--once", "--no-embed", rss, atom)
        assert done.returncode == 0, done.stderr
        assert found("الزيتون") == [stable_id(page(site, "olive"))]
        assert found("الحاويات") == [stable_id(page(site, "port"))]
    finally:
        server.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_watch_reruns_without_loss_or_duplicates(site: Served, tmp_path: Path, sig: int) -> None:
    data = tmp_path / "data"
    rss, atom = feed(site, "rss.xml"), feed(site, "atom.xml")
    # The Atom feed's first page is held: the RSS feed is done (stored and recorded), the Atom feed is not.
    site.hold.add("/articles/port.html")
    process = start_watch(data, "--once", "--no-embed", rss, atom)
    try:
        assert site.reached.wait(300), "watch never asked for the held page"
        os.kill(process.pid, sig)
        _, stderr = process.communicate(timeout=120)
    finally:
        site.release.set()
        if process.poll() is None:
            process.kill()
            process.wait()
    if sig == signal.SIGINT:
        assert process.returncode == 130 and "stopped" in stderr, stderr
    else:
        assert process.returncode == -signal.SIGKILL
    assert {row[0] for row in stored(data)} == {
        stable_id(page(site, name)) for name in ("rain", "library", "marathon", "dates-cp1256")
    }
    assert {item.status for item in load_state(data, rss).items.values()} == {"indexed"}
    assert not load_state(data, atom).items  # nothing recorded for the feed it was in the middle of

    site.hold.clear()
    site.log.clear()
    rerun = watch(data, "--once", "--no-embed", rss, atom)
    assert rerun.returncode == 0, rerun.stderr
    assert ("/rss.xml", 304) in site.log
    fetched = {path for path, _ in site.log if path.startswith("/articles/")}
    assert fetched == {"/articles/port.html", "/articles/olive.html", "/articles/library.html"}, site.log
    for name in ("port", "olive"):
        item_line(rerun.stderr, "new item", page(site, name))
    assert_each_article_once(data, site)


def test_watch_without_once_polls_again_after_its_interval_and_stops_cleanly_on_sigterm(
    site: Served, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    rss = feed(site, "rss.xml")
    process = start_watch(data, "--no-embed", "--interval", "1", rss)
    try:
        # Poll until the server has been asked for the feed twice: the second time conditionally (304).
        for _ in range(600):
            if site.requests("/rss.xml")[:2] == [200, 304] or process.poll() is not None:
                break
            site.reached.wait(0.5)
        assert site.requests("/rss.xml")[:2] == [200, 304], site.log
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130 and "stopped" in stderr, stderr
    assert "following 1 feed" in stderr and "each polled every 1 s" in stderr
    assert len(stored(data)) == 4
    assert "304 not modified" in stderr
