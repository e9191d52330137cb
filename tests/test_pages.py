"""The HTML pages through Flask's test client on real indexed stores: search without JavaScript, facets and
paging in the URL, the article at its passages, error pages in the site's design, and hostile text escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webapp.pages import (
    article_segments,
    count_phrase,
    matches_phrase,
    page_window,
    quote_parts,
    related_phrase,
    results_phrase,
    safe_url,
    search_params,
    toggled,
    url_query,
)
from webapp.services import services_of

QUERY = "حريق"


class Page(HTMLParser):
    """The parts of a page the tests look at: elements with their attributes, scripts, and visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text_parts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(self.text_parts)

    def find_all(self, tag: str, **where: str) -> list[dict[str, str]]:
        found = []
        for name, attrs in self.elements:
            if name != tag:
                continue
            if all(
                (value in attrs.get(key.rstrip("_").replace("_", "-"), "").split())
                if key.endswith("_")
                else attrs.get(key.replace("_", "-")) == value
                for key, value in where.items()
            ):
                found.append(attrs)
        return found


def make_client(data_dir: Path) -> Iterator[FlaskClient]:
    from webapp.app import create_app

    app: Flask = create_app(test_config={"data.dir": str(data_dir), "TESTING": True})
    try:
        yield app.test_client()
    finally:
        services_of(app).close()


@pytest.fixture(scope="module")
def client(indexed_seeds_dir: Path) -> Iterator[FlaskClient]:
    yield from make_client(indexed_seeds_dir)


@pytest.fixture(scope="module")
def hostile_client(hostile_data_dir: Path) -> Iterator[FlaskClient]:
    yield from make_client(hostile_data_dir)


def get_page(client: FlaskClient, url: str, status: int = 200) -> tuple[str, Page]:
    response = client.get(url)
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[:500]
    assert response.mimetype == "text/html"
    return html, Page(html)


def result_links(page: Page) -> list[str]:
    return [a["href"] for a in page.find_all("a") if re.match(r"^/articles/[^#]+#p-\d+$", a.get("href", ""))]


# -- pure helpers ------------------------------------------------------------------------------------------


def test_article_segments_cover_the_body_once_even_when_passages_overlap() -> None:
    body = "مقدمة.\n\nالفقرة الأولى هنا.\n\nالفقرة الثانية هنا.\n\nخاتمة."
    first = body.index("الفقرة الأولى")
    second = body.index("الفقرة الثانية")
    passages = [
        {"id": 7, "ordinal": 0, "start": first, "end": second + 6},  # runs into the next passage
        {"id": 8, "ordinal": 1, "start": second, "end": body.index("خاتمة")},
    ]
    segments = article_segments(body, passages)
    assert [s.passage_id for s in segments] == [None, 7, 8, None]
    assert segments[0].text == "مقدمة."
    assert segments[1].text.startswith("الفقرة الأولى") and segments[1].offset == first
    # The overlap is shown once: the second passage starts where the first ended.
    assert re.sub(r"\s", "", "".join(s.text for s in segments)) == re.sub(r"\s", "", body)
    assert segments[3].text == "خاتمة."


def test_quote_parts_trusts_offsets_that_match_and_falls_back_to_the_quote() -> None:
    text = "جملة أولى. جملة ثانية مهمة. جملة ثالثة."
    start = text.index("جملة ثانية")
    end = start + len("جملة ثانية مهمة.")
    assert quote_parts(text, "جملة ثانية مهمة.", start, end) == (text[:start], text[start:end], text[end:])
    assert quote_parts(text, "جملة ثانية مهمة.", 0, 3)[1] == "جملة ثانية مهمة."  # wrong offsets
    assert quote_parts(text, "ليست هنا", None, None) == (text, "", "")


def test_arabic_counts_take_the_grammatical_form() -> None:
    assert results_phrase(1) == "نتيجة واحدة"
    assert results_phrase(2) == "نتيجتان"
    assert results_phrase(7) == "7 نتائج"
    assert results_phrase(38) == "38 نتيجة"
    assert results_phrase(103) == "103 نتائج"
    assert count_phrase(0, "a", "b", "c", "d") == "0 d"
    assert matches_phrase(1) == "مقال واحد يذكر" and matches_phrase(2) == "مقالان يذكران"
    assert matches_phrase(12) == "12 مقالاً تذكر" and matches_phrase(7) == "7 مقالات تذكر"
    assert matches_phrase(100) == "100 مقال تذكر"
    assert related_phrase(5) == "5 مقالات ذات صلة" and related_phrase(21) == "21 مقالاً ذا صلة"
    assert related_phrase(1) == "مقال واحد ذو صلة" and related_phrase(2) == "مقالان ذوا صلة"


def test_search_urls_keep_the_query_and_reset_the_page() -> None:
    from werkzeug.datastructures import MultiDict

    params = search_params(
        MultiDict(
            [("q", " حريق "), ("page", "3"), ("source", "RT"), ("source", ""), ("mode", ""), ("sort", "date")]
        )
    )
    assert params == {"q": "حريق", "page": "3", "sort": "date", "source": ["RT"]}
    toggled_url = url_query(params, source=toggled(params["source"], "BBC"))
    assert parse_qs(urlsplit(toggled_url).query) == {"q": ["حريق"], "sort": ["date"], "source": ["RT", "BBC"]}
    assert parse_qs(urlsplit(url_query(params, page=4)).query)["page"] == ["4"]
    assert "source" not in url_query(params, source=toggled(["RT"], "RT"))
    assert page_window(5, 9) == [1, None, 3, 4, 5, 6, 7, None, 9]
    assert page_window(1, 2) == [1, 2]


def test_only_web_urls_become_links() -> None:
    assert safe_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    assert safe_url("javascript:alert(1)") is None
    assert safe_url(" JavaScript:alert(1)") is None
    assert safe_url("data:text/html,x") is None
    assert safe_url("") is None and safe_url(None) is None


# -- search ------------------------------------------------------------------------------------------------


def test_landing_page_is_arabic_rtl_with_a_labelled_search_box(client: FlaskClient) -> None:
    html, page = get_page(client, "/")
    assert '<html lang="ar" dir="rtl">' in html
    form = page.find_all("form", role="search")[0]
    assert form["method"] == "get"
    box = page.find_all("input", name="q")[0]
    assert page.find_all("label", for_="q"), "the query box needs a label"
    assert box["dir"] == "auto"
    assert page.find_all("link", rel="stylesheet")[0]["href"].startswith("/assets/")
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "no external assets"


def test_search_works_without_javascript(client: FlaskClient) -> None:
    html, page = get_page(client, f"/?q={QUERY}")
    assert not page.find_all("script"), "the search page must not need a script"
    links = result_links(page)
    assert len(links) == 10
    assert "<mark>" in html
    assert page.find_all("input", name="q")[0]["value"] == QUERY
    counts = client.get("/api/v1/search", query_string={"q": QUERY}).get_json()
    assert matches_phrase(counts["total"]) in page.text  # hybrid, the default: the articles with the word
    assert "ثانية" in page.text  # time taken
    # Each result carries its source (isolated for bidi) and date where the article has them.
    assert page.find_all("bdi", class_="result__source")
    assert page.find_all("time")


def test_source_facet_filters_and_keeps_the_query(client: FlaskClient) -> None:
    _, page = get_page(client, f"/?q={QUERY}")
    facets = page.find_all("a", class_="facet__item")
    assert len(facets) >= 2
    href = facets[0]["href"]
    query = parse_qs(urlsplit(href).query)
    assert query["q"] == [QUERY] and len(query["source"]) == 1
    source = query["source"][0]
    html, filtered = get_page(client, href)
    sources = {s for s in re.findall(r'<bdi class="result__source" dir="rtl">(.*?)</bdi>', html)}
    assert sources == {source}
    # The chosen facet is marked, keeps the query in the form, and links back to all sources.
    assert filtered.find_all("a", class_="is-chosen")
    assert filtered.find_all("input", type="hidden", name="source", value=source)
    assert filtered.find_all("a", class_="facet__clear")


def test_pagination_links_move_through_results(client: FlaskClient) -> None:
    _, first = get_page(client, f"/?q={QUERY}&size=3")
    nxt = first.find_all("a", rel="next")[0]["href"]
    assert parse_qs(urlsplit(nxt).query) == {"q": [QUERY], "page": ["2"], "size": ["3"]}
    _, second = get_page(client, nxt)
    assert second.find_all("a", rel="prev")
    current = [a["href"] for a in second.find_all("a", class_="pagination__page", aria_current="page")]
    assert len(current) == 1 and "page=2" in current[0]
    assert set(result_links(first)).isdisjoint(result_links(second))


def summary_text(html: str) -> str:
    found = re.search(r'<p class="results__summary">(.*?)</p>', html, re.DOTALL)
    assert found, "the page has a results summary"
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


def test_hybrid_page_shows_the_matches_then_the_related_articles_behind_a_heading(
    client: FlaskClient,
) -> None:
    api = client.get("/api/v1/search", query_string={"q": QUERY, "size": 50}).get_json()
    assert api["mode"] == "hybrid" and api["total"] and api["related_total"]
    html, page = get_page(client, f"/?q={QUERY}&size=50")
    # «1 مقال واحد يذكر "حريق"، و21 مقالاً ذا صلة»: both counts, the word quoted.
    assert summary_text(html).startswith(
        f'{matches_phrase(api["total"])} "{QUERY}"، و{related_phrase(api["related_total"])}'
    )
    before, heading, after = html.partition('id="related-title"')
    assert heading, "related articles sit under their own heading"
    assert f'لا تذكر "<bdi>{QUERY}</bdi>"' in after[:200]
    expected = [f"/articles/{r['article_id']}#p-{r['passage_id']}" for r in api["results"]]
    shown = result_links(page)
    assert shown == expected  # the API's order: every match, then every related article
    assert result_links(Page(before)) == [
        href for href, r in zip(expected, api["results"]) if not r["related"]
    ]
    # Numbering continues across the two lists.
    starts = [int(ol["start"]) for ol in page.find_all("ol", class_="result-list")]
    assert starts == [1, 1 + api["total"]]


def test_a_word_no_article_contains_says_so_before_the_related_articles(
    client: FlaskClient, indexed_seeds_dir: Path
) -> None:
    word = "زرافات"
    html, _ = get_page(client, f"/?q={word}")
    api = client.get("/api/v1/search", query_string={"q": word}).get_json()
    assert api["total"] == 0 and api["related_total"] > 0
    summary = summary_text(html)
    assert summary.startswith(f'لا يوجد مقال يذكر "{word}"، وهذه {related_phrase(api["related_total"])}')
    assert html.index("results__summary") < html.index('id="related-title"') < html.index('class="result ')
    # With a semantic floor nothing clears, there is nothing related either: the plain empty state.
    from webapp.app import create_app

    app: Flask = create_app(
        test_config={"data.dir": str(indexed_seeds_dir), "TESTING": True, "search.semantic_min_score": 0.999}
    )
    try:
        strict = app.test_client()
        result = strict.get("/api/v1/search", query_string={"q": word}).get_json()
        assert result["total"] == 0 and result["related_total"] == 0 and result["results"] == []
        _, empty = get_page(strict, f"/?q={word}")
        assert "لم نجد نتائج" in empty.text
    finally:
        services_of(app).close()


def test_no_results_gives_a_helpful_empty_state(client: FlaskClient) -> None:
    _, page = get_page(client, "/?q=زرافةمستحيلةجدا&mode=keyword")
    assert not result_links(page)
    assert "لم نجد نتائج" in page.text
    hrefs = [a["href"] for a in page.find_all("a")]
    assert any("mode=semantic" in h for h in hrefs), "suggests searching by meaning"
    assert any(h.startswith("/ask?q=") for h in hrefs), "suggests asking the question"


@pytest.mark.parametrize(
    "url, words",
    [
        ("/?q=حريق&page=abc", "رقم الصفحة"),
        ("/?q=حريق&from=2024-05-01&to=2024-01-01", "التاريخ"),
        ("/?q=حريق&mode=magic", "طريقة البحث"),
        ("/?q=" + "ا" * 501, "500"),
    ],
)
def test_bad_search_input_is_a_400_page_in_the_site_design(client: FlaskClient, url: str, words: str) -> None:
    _, page = get_page(client, url, status=400)
    assert page.find_all("div", role="alert")
    assert words in page.text
    assert page.find_all("header", class_="site-header") and page.find_all("form", role="search")


def test_unknown_pages_are_404_pages_and_the_api_keeps_json(client: FlaskClient) -> None:
    _, page = get_page(client, "/articles/no-such-article", status=404)
    assert "الصفحة غير موجودة" in page.text and page.find_all("header", class_="site-header")
    _, page = get_page(client, "/no/such/page", status=404)
    assert "الصفحة غير موجودة" in page.text
    response = client.get("/api/v1/no-such-route")
    assert response.status_code == 404 and response.is_json and "error" in response.get_json()


# -- article -----------------------------------------------------------------------------------------------


def test_article_page_has_every_passage_addressable(client: FlaskClient) -> None:
    _, results = get_page(client, f"/?q={QUERY}")
    link = result_links(results)[0]
    path, passage = link.split("#")
    _, page = get_page(client, path)
    ids = [d["id"] for d in page.find_all("div", class_="passage") if "id" in d]
    assert passage in ids
    article = client.get(f"/api/v1/articles/{path.rsplit('/', 1)[1]}").get_json()
    assert len(ids) == len(article["passages"])
    assert page.find_all("h1", id="article-title")
    for link_attrs in page.find_all("a", rel="noopener noreferrer nofollow"):
        assert link_attrs["href"].startswith(("http://", "https://"))


# -- chat --------------------------------------------------------------------------------------------------


def test_chat_page_has_a_labelled_input_a_live_thread_and_its_script(client: FlaskClient) -> None:
    _, page = get_page(client, "/ask")
    assert page.find_all("ol", id="thread", aria_live="polite")
    assert page.find_all("label", for_="question") and page.find_all("textarea", id="question")
    scripts = page.find_all("script")
    assert [s["src"].split("?")[0] for s in scripts] == ["/assets/chat.js"]
    assert client.get(scripts[0]["src"]).status_code == 200


def test_chat_answers_one_question_without_javascript(client: FlaskClient) -> None:
    _, page = get_page(client, "/ask?q=أين اندلع حريق مصفاة النفط؟")
    chips = page.find_all("a", class_="cite-chip")
    assert chips, page.text[:500]
    card_ids = {d["id"] for d in page.find_all("details", class_="source-card")}
    assert {c["href"].lstrip("#") for c in chips} <= card_ids
    assert any(
        re.match(r"^/articles/[^#]+#p-\d+$", a["href"])
        for a in page.find_all("a", class_="source-card__link")
    )
    assert page.find_all("mark"), "the quoted sentence is highlighted in its passage"


def test_an_abstention_reads_as_an_answer_not_an_error(client: FlaskClient) -> None:
    _, page = get_page(client, "/ask?q=ما هي أفضل وصفة لكعكة الشوكولاتة بالفراولة؟")
    assert page.find_all("li", class_="turn--abstained")
    assert not page.find_all("p", role="alert")
    assert "البحث بالكلمات" in page.text


# -- hostile text ------------------------------------------------------------------------------------------


def assert_inert(html: str, ours: set[str]) -> Page:
    page = Page(html)
    scripts = [attrs.get("src", "inline").split("?")[0] for name, attrs in page.elements if name == "script"]
    assert set(scripts) <= ours, scripts
    for name, attrs in page.elements:
        handlers = [k for k in attrs if k.startswith("on")]
        assert not handlers, (name, attrs)
        assert name not in ("img", "b"), (name, attrs)
        assert name != "svg" or attrs.get("class") == "brand__mark", (name, attrs)  # only the logo
        assert not attrs.get("href", "").lower().startswith("javascript:")
    return page


def test_hostile_article_text_is_shown_as_text_everywhere(hostile_client: FlaskClient) -> None:
    html, _ = get_page(hostile_client, "/?q=الاختراق")
    page = assert_inert(html, set())
    assert "<script>alert('title')</script>" in page.text
    assert "/articles/hostile-1#p-" in html

    html, _ = get_page(hostile_client, "/articles/hostile-1")
    page = assert_inert(html, set())
    assert "<script>alert('body')</script>" in page.text
    assert "<img src=x onerror=alert('img')>" in page.text
    assert "<b>مختبر</b> الأمن" in page.text
    assert "javascript:" not in html, "a javascript: url must not be linked or shown"

    html, _ = get_page(hostile_client, "/ask?q=ما الذي احتوى عليه تعليق الصفحة المزيفة في الاختراق؟")
    page = assert_inert(html, {"/assets/chat.js", "inline"})
    # The only inline script is the JSON hand-over to chat.js, and it cannot close its own element.
    json_scripts = [a for n, a in page.elements if n == "script" and "src" not in a]
    assert all(a.get("type") == "application/json" for a in json_scripts)
    assert html.count("</script>") == len([n for n, _ in page.elements if n == "script"])


def test_hostile_query_is_escaped(client: FlaskClient) -> None:
    query = '"><script>alert(1)</script>'
    html, page = get_page(client, f"/?q={query}")
    assert_inert(html, set())
    assert page.find_all("input", name="q")[0]["value"] == query


def test_failures_outside_the_api_get_the_site_error_page(indexed_seeds_dir: Path) -> None:
    """A bug or a store outage behind an HTML page shows the designed page; under /api/ it stays JSON."""
    from indexer.errors import IsnadError
    from webapp.app import create_app

    app = create_app(test_config={"data.dir": str(indexed_seeds_dir), "TESTING": True})

    def broken() -> str:
        raise ZeroDivisionError("a bug")

    def store_down() -> str:
        raise IsnadError("the store is out of reach")

    app.add_url_rule("/broken", view_func=broken)
    app.add_url_rule("/store-down", view_func=store_down)
    app.add_url_rule("/api/v1/broken", view_func=broken, endpoint="api_broken")
    try:
        client = app.test_client()
        _, page = get_page(client, "/broken", status=500)
        assert "حدث خطأ في الخادم" in page.text and page.find_all("header", class_="site-header")
        assert "ZeroDivisionError" not in page.text and "a bug" not in page.text
        _, page = get_page(client, "/store-down", status=503)
        assert "الخدمة غير متاحة الآن" in page.text
        response = client.get("/api/v1/broken")
        assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    finally:
        services_of(app).close()


def test_answer_runs_mark_the_fact_asked_for_inside_each_quote() -> None:
    from webapp.pages import answer_runs

    quote = "وصل كيم إلى روسيا يوم الثلاثاء"
    start = quote.index("الثلاثاء")
    citations = [{"n": 1, "quote": quote, "answer_spans": [[start, start + len("الثلاثاء")]]}]
    runs = answer_runs(f"{quote} [1]", citations)
    assert [run for run in runs if run[2]] == [("الثلاثاء", None, True)]
    assert "".join(text for text, _, _ in runs) == f"{quote} [1]"
    assert (runs[-1][1], runs[-1][0]) == (1, "[1]")
    # Offsets that do not fit the quote, or a quote not in the answer, mark nothing.
    assert not any(m for _, _, m in answer_runs("نص آخر [1]", citations))
