"""The pages in a real browser: Debian's Chromium driven by Playwright against `isnad serve` on indexed data.

Search → source filter → next page → the article at its passage; chat → cited answer → follow-up in context
→ reload keeps it; a hostile article stays inert; a 375 px phone never scrolls sideways. Screenshots of every
page, desktop and phone, go to test-artifacts/screenshots/ (ignored by git) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evaluation.server import ServedIndex

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
TARGET_BACKGROUND = "rgb(255, 246, 210)"  # --target in isnad.css: the cited passage's highlight
QUESTION = "أين اندلع حريق مصفاة النفط؟"
FOLLOW_UP = "ومتى حدث ذلك؟"  # abstains on its own; answerable only with the first question as context

if not CHROMIUM.exists():
    pytest.skip(
        f"browser tests need Debian's chromium at {CHROMIUM} (make test installs it)", allow_module_level=True
    )
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need Playwright (the dev extra)"
)


class Server:
    """`isnad serve` on a data directory, as a user runs it, polled until it answers (evaluation.server)."""

    def __init__(self, data_dir: Path) -> None:
        self.served = ServedIndex(
            data_dir, log_path=data_dir.parent / f"browser-serve-{data_dir.name}.log", startup_timeout=120.0
        ).start()
        self.base = f"http://127.0.0.1:{self.served.port}"

    def stop(self) -> None:
        self.served.stop()


@pytest.fixture(scope="module")
def server(indexed_seeds_dir: Path) -> Iterator[Server]:
    running = Server(indexed_seeds_dir)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def hostile_server(hostile_data_dir: Path) -> Iterator[Server]:
    running = Server(hostile_data_dir)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def new_page(browser: Any, viewport: dict[str, int]) -> Any:
    """A fresh context (own sessionStorage) whose page fails the test on any dialog, script error or CSP refusal."""
    context = browser.new_context(viewport=viewport, locale="ar")
    page = context.new_page()
    page.set_default_timeout(60_000)  # an answer embeds and ranks on a shared 2-core machine
    page.dialogs = []
    page.errors = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    # Whatever the Content-Security-Policy blocks (an inline style or script, a foreign load) fails the
    # test like a script error: Chromium reports each refusal on the console.
    page.on(
        "console",
        lambda message: (
            page.errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return page


def shot(page: Any, name: str, full_page: bool = True) -> None:
    """Save a screenshot; phone shots show the screen as the user sees it (a full phone page is too tall to read)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def target_passage(page: Any) -> dict[str, Any]:
    """The element the URL's #fragment points at: its id, class, highlight colour and place on screen."""
    return page.evaluate("""() => {
        const el = document.querySelector(':target');
        if (!el) return null;
        const box = el.getBoundingClientRect();
        return {id: el.id, cls: el.className, background: getComputedStyle(el).backgroundColor,
                top: box.top, bottom: box.bottom, viewport: window.innerHeight};
    }""")


def assert_passage_in_view(page: Any) -> None:
    fragment = page.url.split("#", 1)[1]
    target = target_passage(page)
    assert target is not None and target["id"] == fragment and "passage" in target["cls"]
    assert target["background"] == TARGET_BACKGROUND
    assert 0 <= target["top"] < target["viewport"], "the cited passage is scrolled into view"


def test_search_filter_by_source_next_page_and_open_the_article(browser: Any, server: Server) -> None:
    page = new_page(browser, DESKTOP)
    page.goto(server.base + "/?size=2")  # two a page, so a source's results run to a second page
    page.get_by_label("كلمات البحث").fill("حريق")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=%D8%AD"))
    assert page.locator(".result").count() == 2
    shot(page, "search-desktop")

    # The first source with at least three articles: filtering keeps the query and spans two pages.
    facets = page.locator("a.facet__item")
    counts = [
        int(facets.nth(i).locator(".facet__count").inner_text().split()[-1]) for i in range(facets.count())
    ]
    chosen = next(i for i, n in enumerate(counts) if n >= 3)
    source = facets.nth(chosen).locator(".facet__name").inner_text().strip()
    facets.nth(chosen).click()
    page.wait_for_url(re.compile(r"source="))
    assert page.get_by_label("كلمات البحث").input_value() == "حريق"
    assert {s.strip() for s in page.locator(".result__source").all_inner_texts()} == {source}
    shot(page, "search-filtered-desktop")

    page.get_by_role("link", name="التالية").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.locator(".pagination__page[aria-current=page]").inner_text().strip().endswith("2")
    assert {s.strip() for s in page.locator(".result__source").all_inner_texts()} == {source}

    title = page.locator(".result__title a").first
    href = title.get_attribute("href")
    assert re.fullmatch(r"/articles/[^#]+#p-\d+", href or "")
    title.click()
    page.wait_for_url(re.compile(r"/articles/.+#p-\d+$"))
    assert_passage_in_view(page)
    assert page.locator(".article__meta").inner_text().find(source) >= 0
    shot(page, "article-desktop")
    assert not page.dialogs and not page.errors


def test_chat_cites_follows_up_in_context_and_survives_reload(browser: Any, server: Server) -> None:
    page = new_page(browser, DESKTOP)
    page.goto(server.base + "/ask")
    # Remember whether the "searching" state ever showed, however fast the answer comes.
    page.evaluate("""() => { window.sawPending = false;
        new MutationObserver(() => { if (document.querySelector('.turn--pending')) window.sawPending = true; })
          .observe(document.getElementById('thread'), {childList: true, subtree: true}); }""")
    box = page.get_by_label("سؤالك")
    box.fill(QUESTION)
    with page.expect_request("**/api/v1/ask") as first_request:
        box.press("Enter")
    assert first_request.value.post_data_json == {"question": QUESTION, "history": []}
    first = page.locator(".turn--assistant").nth(0)
    first.wait_for()
    assert page.evaluate("window.sawPending")
    assert not first.locator(".answer__hint").count(), "the first question is answered, not abstained"

    # A citation chip opens its passage with the quoted sentence marked, and links to the article.
    chip = first.locator(".cite-chip").first
    assert chip.get_attribute("aria-expanded") == "false"
    chip.click()
    card = page.locator("#" + chip.get_attribute("aria-controls"))
    assert card.get_attribute("open") is not None and chip.get_attribute("aria-expanded") == "true"
    assert card.locator("mark").inner_text().strip()
    article_href = card.locator(".source-card__link").get_attribute("href")
    assert re.fullmatch(r"/articles/[^#]+#p-\d+", article_href or "")
    shot(
        page, "chat-desktop", full_page=False
    )  # the input is sticky: a full-page shot would float it mid-thread

    box.fill(FOLLOW_UP)
    with page.expect_request("**/api/v1/ask") as second_request:
        page.get_by_role("button", name="إرسال").click()
    history = second_request.value.post_data_json["history"]
    assert [turn["role"] for turn in history] == ["user", "assistant"] and history[0]["content"] == QUESTION
    second = page.locator(".turn--assistant").nth(1)
    second.wait_for()
    assert not second.locator(".answer__hint").count(), "the follow-up is answered with the earlier context"
    first_articles = {
        h.split("#")[0]
        for h in first.locator(".source-card__link").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
    }
    second_articles = {
        h.split("#")[0]
        for h in second.locator(".source-card__link").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
    }
    assert first_articles & second_articles, "the follow-up stays on the story the conversation is about"
    thread_text = page.locator("#thread").text_content().strip()
    shot(page, "chat-follow-up-desktop", full_page=False)

    page.reload()
    page.locator(".turn--assistant").nth(1).wait_for()
    assert page.locator(".turn").count() == 4
    assert page.locator("#thread").text_content().strip() == thread_text

    # The citation's link opens the article at the passage; back again, the conversation is still there.
    page.locator(".cite-chip").first.click()
    page.locator(".source-card__link").first.click()
    page.wait_for_url(re.compile(r"/articles/.+#p-\d+$"))
    assert_passage_in_view(page)
    page.go_back()
    page.locator(".turn--assistant").nth(1).wait_for()

    page.get_by_role("link", name="محادثة جديدة").click()
    assert page.locator(".turn").count() == 0
    page.reload()
    assert page.locator(".turn").count() == 0
    assert not page.dialogs and not page.errors


def test_a_long_conversation_sends_only_its_recent_turns(browser: Any, server: Server) -> None:
    page = new_page(browser, DESKTOP)
    page.goto(server.base + "/ask")
    # Thirty earlier turns, more than the API accepts as history, as a long session would leave them.
    page.evaluate("""() => {
        const turns = [];
        for (let i = 0; i < 15; i++) {
            turns.push({role: 'user', content: 'سؤال ' + i});
            turns.push({role: 'assistant', content: 'جواب ' + i, answered: true, citations: []});
        }
        sessionStorage.setItem('isnad.chat.v1', JSON.stringify(turns));
    }""")
    page.reload()
    assert page.locator(".turn").count() == 30
    page.get_by_label("سؤالك").fill(QUESTION)
    with page.expect_request("**/api/v1/ask") as request:
        page.keyboard.press("Enter")
    history = request.value.post_data_json["history"]
    assert 0 < len(history) <= 20 and history[-1] == {"role": "assistant", "content": "جواب 14"}
    page.locator(".turn--assistant").nth(15).wait_for()
    assert page.locator(".turn--error").count() == 0


def test_keyboard_reaches_the_skip_link_and_opens_a_citation(browser: Any, server: Server) -> None:
    page = new_page(browser, DESKTOP)
    page.goto(server.base + "/ask?q=" + QUESTION)  # answered by the server, adopted by the script
    page.locator(".turn--assistant").wait_for()
    assert "?" not in page.url, "the handed-over question leaves the address, so a reload won't repeat it"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    chip = page.locator(".cite-chip").first
    chip.focus()
    page.keyboard.press("Enter")
    assert chip.get_attribute("aria-expanded") == "true"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "focus is visible"


def test_hostile_article_renders_inert(browser: Any, hostile_server: Server) -> None:
    page = new_page(browser, DESKTOP)
    page.goto(hostile_server.base + "/?q=الاختراق")
    assert page.get_by_text("<script>alert('title')</script>", exact=False).first.is_visible()
    page.locator(".result__title a").first.click()
    page.wait_for_url(re.compile(r"/articles/hostile-1#p-\d+$"))
    assert page.get_by_text("<script>alert('body')</script>", exact=False).is_visible()
    assert page.get_by_text("<img src=x onerror=alert('img')>", exact=False).is_visible()
    assert page.locator("a[href^='javascript:']").count() == 0
    assert page.locator(".article img, .article svg").count() == 0
    shot(page, "hostile-article-desktop")

    page.goto(hostile_server.base + "/ask")
    page.get_by_label("سؤالك").fill("ما الذي حاولت الصفحة المزيفة تنفيذه في متصفحات القراء؟")
    page.keyboard.press("Enter")
    page.locator(".turn--assistant").wait_for()
    for chip in page.locator(".cite-chip").all():
        chip.click()
    page.reload()
    page.locator(".turn--assistant").wait_for()
    assert page.locator(".thread img, .thread svg, .thread script").count() == 0
    shot(page, "hostile-chat-desktop", full_page=False)
    assert page.dialogs == [], f"a dialog fired: {page.dialogs}"
    assert not page.errors


def test_related_articles_sit_below_the_matches_under_a_visible_heading(browser: Any, server: Server) -> None:
    page = new_page(browser, DESKTOP)
    page.goto(server.base + "/?q=حريق&size=50")
    summary = page.locator(".results__summary").inner_text()
    assert "يذكر" in summary or "تذكر" in summary, summary
    assert "ذات صلة" in summary or "ذا صلة" in summary or "ذو صلة" in summary or "ذوا صلة" in summary, summary
    heading = page.locator("#related-title")
    assert heading.is_visible()
    matches = page.locator(".result:not(.result--related)")
    related = page.locator(".result--related")
    assert matches.count() >= 1 and related.count() >= 1
    last_match = matches.nth(matches.count() - 1).bounding_box()
    box, first_related = heading.bounding_box(), related.first.bounding_box()
    assert last_match and box and first_related
    assert last_match["y"] + last_match["height"] <= box["y"] < first_related["y"]
    shot(page, "search-related-desktop", full_page=False)
    page.goto(server.base + "/?q=زرافات")
    assert page.locator(".results__summary").inner_text().startswith("لا يوجد مقال يذكر")
    assert (
        page.locator("#related-title").is_visible()
        and page.locator(".result:not(.result--related)").count() == 0
    )
    assert not page.dialogs and not page.errors


PHONE_PAGES = (
    ("home", "/"),
    ("search", "/?q=حريق"),
    ("search-related", "/?q=زرافات"),
    ("search-empty", "/?q=زرافةمستحيلةجدا&mode=keyword"),
    ("bad-query", "/?q=حريق&page=abc"),
    ("not-found", "/articles/no-such-article"),
)


@pytest.mark.parametrize("viewport, suffix", [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_every_page_fits_the_screen(
    browser: Any, server: Server, viewport: dict[str, int], suffix: str
) -> None:
    page = new_page(browser, viewport)

    def check(name: str) -> None:
        width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], f"{name} scrolls sideways at {viewport['width']} px: {width}"
        assert page.evaluate("document.documentElement.lang") == "ar"
        assert page.evaluate("document.documentElement.dir") == "rtl"
        shot(page, f"{name}-{suffix}", full_page=suffix == "desktop" and name != "chat")

    for name, path in PHONE_PAGES:
        page.goto(server.base + path)
        check(name)

    page.goto(server.base + "/?q=حريق")
    page.locator(".result__title a").first.click()
    page.wait_for_url(re.compile(r"#p-\d+$"))
    assert_passage_in_view(page)
    check("article")

    page.goto(server.base + "/ask")
    page.get_by_label("سؤالك").fill(QUESTION)
    page.keyboard.press("Enter")
    page.locator(".turn--assistant").wait_for()
    page.locator(".cite-chip").first.click()
    check("chat")
    assert not page.dialogs and not page.errors


def test_an_error_reply_renders_under_the_strict_policy_which_is_enforced(
    browser: Any, server: Server
) -> None:
    page = new_page(browser, DESKTOP)
    response = page.goto(server.base + "/ask")
    assert "style-src 'self'" in response.headers["content-security-policy"]
    # An earlier turn longer than the API accepts: the real server answers 400 and the chat shows its error.
    page.evaluate("""() => sessionStorage.setItem('isnad.chat.v1', JSON.stringify([
        {role: 'user', content: 'س'.repeat(6000)},
        {role: 'assistant', content: 'جواب', answered: true, citations: []}]))""")
    page.reload()
    page.get_by_label("سؤالك").fill(FOLLOW_UP)
    page.keyboard.press("Enter")
    error = page.locator(".turn--error")
    error.wait_for()
    assert "المحادثة السابقة" in error.inner_text()  # the chat's wording for a 400 bad_history
    assert error.locator(".bubble__text").evaluate("p => getComputedStyle(p).marginTop") == "0px"
    assert not page.errors, page.errors
    # The policy is really enforced: an inline style set now is refused, and the refusal is caught.
    page.evaluate("document.body.setAttribute('style', 'color: rgb(255, 0, 0)')")
    page.wait_for_function("getComputedStyle(document.body).color !== 'rgb(255, 0, 0)'")
    page.wait_for_timeout(200)
    assert any("Content Security Policy" in message for message in page.errors)
