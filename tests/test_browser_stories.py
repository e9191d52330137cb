"""Stories in a real browser (Chromium through Playwright, `isnad serve` on the stories corpus): a story is
one result whose «نُشر في N مصادر» opens to the other outlets, each a link; the timeline's bars filter to
their period; the article page lists related articles. Desktop and phone screenshots of each state go to
test-artifacts/screenshots/ (stories-*.png) for a person to look at."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# `browser` is the page tests' Chromium fixture, shared by importing it (its parameter below is that fixture).
from tests.test_browser_pages import DESKTOP, PHONE, Server, browser, new_page, shot  # noqa: F401

pytestmark = pytest.mark.browser

QUERY = "أمطار النخيل"


@pytest.fixture(scope="module")
def stories_server(indexed_stories_dir: Path) -> Iterator[Server]:
    running = Server(indexed_stories_dir)
    yield running
    running.stop()


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width}"


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_a_story_folds_its_outlets_and_the_timeline_filters(
    browser: Any,  # noqa: F811
    stories_server: Server,
    name: str,
    viewport: dict[str, int],
) -> None:
    page = new_page(browser, viewport)
    page.goto(stories_server.base + "/?" + urllib.parse.urlencode({"q": QUERY, "mode": "keyword"}))
    story = page.locator(".result", has=page.locator(".result__story")).first
    summary = story.locator(".result__story-summary")
    assert re.fullmatch(r"نُشر في \d+ مصادر", summary.inner_text().strip())
    outlets = story.locator(".story-list__item")
    assert not outlets.first.is_visible()  # folded until asked for
    no_sideways_scroll(page)
    shot(page, f"stories-collapsed-{name}", full_page=name == "desktop")

    summary.click()
    assert outlets.first.is_visible()
    assert outlets.count() >= 3
    assert story.locator(".story-list__copy").count() >= 1  # the agency copy is marked as the same text
    story.scroll_into_view_if_needed()
    no_sideways_scroll(page)
    shot(page, f"stories-expanded-{name}", full_page=False)

    # Each outlet is a link to its article here.
    href = outlets.first.locator("a").get_attribute("href")
    assert href and href.startswith("/articles/")

    timeline = page.locator(".timeline")
    timeline.scroll_into_view_if_needed()
    shot(page, f"stories-timeline-{name}", full_page=False)
    bars = timeline.locator("a")
    assert bars.count() >= 2
    busiest = max(
        range(bars.count()), key=lambda i: int(bars.nth(i).get_attribute("aria-label").rsplit(":", 1)[1])
    )
    expected = int(bars.nth(busiest).get_attribute("aria-label").rsplit(":", 1)[1])
    bars.nth(busiest).click()
    page.wait_for_url(re.compile(r"from=\d{4}-\d\d-\d\d.*to=\d{4}-\d\d-\d\d"))
    assert page.locator("#from").input_value() and page.locator("#to").input_value()
    shown = page.locator(".result").count() + sum(
        page.locator(".result").nth(i).locator(".story-list__item").count()
        for i in range(page.locator(".result").count())
    )
    assert shown >= expected  # every matching article of the period is a result or listed under one
    low, high = page.locator("#from").input_value(), page.locator("#to").input_value()
    dates = page.locator(".result__meta time").evaluate_all("els => els.map(e => e.getAttribute('datetime'))")
    assert dates and all(low <= d[:10] <= high for d in dates)
    assert not page.errors, page.errors


def test_the_article_page_lists_related_articles_with_why(browser: Any, stories_server: Server) -> None:  # noqa: F811
    page = new_page(browser, DESKTOP)
    page.goto(stories_server.base + "/articles/rain-khaleej")
    related = page.locator(".related-articles .story-list__item")
    assert related.count() >= 2
    assert "من القصة نفسها" in related.first.inner_text()
    related.first.scroll_into_view_if_needed()
    shot(page, "stories-related-desktop", full_page=True)
    related.first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/articles/"))
    assert page.locator(".article__title").count() == 1
    assert not page.errors, page.errors
