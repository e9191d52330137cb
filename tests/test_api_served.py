"""The served app over HTTP: `isnad serve` (waitress) on the indexed seeds, driven with real requests.

Search finds the right articles for stemmed and phrase queries with highlights in the original text,
filters and paging hold, and ask answers seed questions with checkable citations or abstains.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evaluation.server import ServedIndex
from indexer.analysis import analyze, analyze_exact

ABSTAIN = "لم أجد في المقالات المفهرسة ما يجيب عن هذا السؤال."
MARK = re.compile(r"<mark>(.*?)</mark>", re.DOTALL)


class Server:
    """The real `isnad serve` process (evaluation.server) and a tiny JSON client for it."""

    def __init__(self, data_dir: Path) -> None:
        self.served = ServedIndex(
            data_dir, log_path=data_dir.parent / f"serve-{data_dir.name}.log", startup_timeout=90.0
        )
        self.base = f"http://127.0.0.1:{self.served.port}"

    def wait_until_responds(self) -> None:
        self.served.start()

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, str]:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status, json.loads(response.read()), response.headers.get_content_type()
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None, error.headers.get_content_type()

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        query = urllib.parse.urlencode(params, doseq=True)
        status, body, _ = self.request("GET", path + (f"?{query}" if query else ""))
        return status, body

    def search(self, **params: Any) -> dict[str, Any]:
        status, body = self.get("/api/v1/search", **params)
        assert status == 200, body
        return body

    def ask(self, question: str, history: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"question": question, **extra}
        if history is not None:
            payload["history"] = history
        status, body, _ = self.request(
            "POST", "/api/v1/ask", json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )
        assert status == 200, body
        return body

    def stop(self) -> None:
        self.served.stop()


@pytest.fixture(scope="module")
def server(indexed_seeds_dir: Path) -> Iterator[Server]:
    running = Server(indexed_seeds_dir)
    try:
        running.wait_until_responds()
        yield running
    finally:
        running.stop()


def article_text(server: Server, article_id: str) -> dict[str, Any]:
    status, body = server.get(f"/api/v1/articles/{urllib.parse.quote(article_id)}")
    assert status == 200, body
    return body


def test_stemmed_query_finds_inflected_forms_and_marks_them_in_the_original_text(server: Server) -> None:
    result = server.search(q="صواريخ", mode="keyword")
    assert result["total"] >= 2
    marked_forms: set[str] = set()
    for item in result["results"]:
        marks = MARK.findall(item["snippet"])
        assert marks, item["snippet"]
        for mark in marks:
            assert "صواريخ" in [t.term for t in analyze(mark)]
            marked_forms.add(mark)
        plain = re.sub(r"</?mark>", "", item["snippet"]).strip("…")
        body = article_text(server, item["article_id"])["text"]
        # The snippet is the original text, escaped: unescaped, it is a piece of the article.
        unescaped = (
            plain.replace("&#34;", '"')
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
        )
        assert unescaped in body
    # The prefixed forms are marked whole, as written.
    assert marked_forms & {"بالصواريخ", "والصواريخ", "الصواريخ"}


def test_phrase_query_requires_the_exact_phrase(server: Server) -> None:
    for mode in ("keyword", "semantic", "hybrid"):
        result = server.search(q='"قاعدة فوستوشني"', mode=mode)
        assert result["total"] >= 1, mode
        for item in result["results"]:
            body = article_text(server, item["article_id"])
            exact = " ".join(t.term for t in analyze_exact(body["title"] + "\n" + body["text"]))
            assert "قاعده فوستوشني" in exact, (mode, item["title"])
            marks = MARK.findall(item["snippet"] + item["title_html"])
            # One mark over the original characters, whatever punctuation sits between the words.
            assert any([t.term for t in analyze_exact(m)] == ["قاعده", "فوستوشني"] for m in marks), marks


def test_exclusion_removes_articles_in_every_mode(server: Server) -> None:
    for mode in ("keyword", "semantic", "hybrid"):
        with_word = {r["article_id"] for r in server.search(q="بوتين", mode=mode, size=50)["results"]}
        without = server.search(q="بوتين -فيتنام", mode=mode, size=50)["results"]
        assert without
        for item in without:
            body = article_text(server, item["article_id"])
            assert "فيتنام" not in body["text"] and "فيتنام" not in body["title"], mode
        assert {r["article_id"] for r in without} < with_word


def test_source_filter_and_facets(server: Server) -> None:
    everything = server.search(q="كوريا الشمالية", size=50)
    facets = {f["value"]: f["count"] for f in everything["facets"]["source"]}
    assert len(facets) >= 2
    source, count = max(facets.items(), key=lambda kv: kv[1])
    filtered = server.search(q="كوريا الشمالية", source=source, size=50)
    # Facets count every article a source would list: those with the words and the related ones.
    assert filtered["total"] + filtered["related_total"] == count
    assert {r["source"] for r in filtered["results"]} == {source}
    # Facets ignore the source filter, so the other sources stay visible with the same counts.
    assert {f["value"]: f["count"] for f in filtered["facets"]["source"]} == facets
    other = next(s for s in facets if s != source)
    both = server.search(q="كوريا الشمالية", source=[source, other], size=50)
    assert {r["source"] for r in both["results"]} == {source, other}
    assert both["total"] + both["related_total"] == facets[source] + facets[other]


def mentions(server: Server, article_id: str, terms: set[str]) -> bool:
    """Whether the article's title or text holds one of these analyzed terms."""
    body = article_text(server, article_id)
    return bool(terms & {t.term for t in analyze(body["title"] + "\n" + body["text"])})


# A quoted phrase must occur in every mode, so it can have no related articles; the plain words have some.
# (A bare "بوتين -فيتنام" is no such case: the samples' least related articles sit at the semantic floor.)
@pytest.mark.parametrize(
    "query, with_related", [("حريق", True), ("صواريخ كوريا", True), ('"بوتين" -فيتنام', False)]
)
def test_hybrid_lists_the_articles_with_the_words_first_and_counts_related_ones_apart(
    server: Server, query: str, with_related: bool
) -> None:
    hybrid = server.search(q=query, mode="hybrid", size=50)
    keyword = server.search(q=query, mode="keyword", size=50)
    terms = {t.term for t in analyze(" ".join(w for w in query.split() if not w.startswith("-")))}
    flags = [r["related"] for r in hybrid["results"]]
    assert hybrid["total"] >= 1
    assert (hybrid["related_total"] >= 1) is with_related, "what the seeds hold for these words"
    assert flags == sorted(flags), "every match comes before every related article"
    # `total` counts the articles containing the words, as keyword mode does; the related ones are apart.
    assert hybrid["total"] == keyword["total"] == flags.count(False)
    assert hybrid["related_total"] == flags.count(True)
    assert {r["article_id"] for r in hybrid["results"] if not r["related"]} == {
        r["article_id"] for r in keyword["results"]
    }
    for item in hybrid["results"]:
        assert mentions(server, item["article_id"], terms) is not item["related"], (query, item["title"])
    assert all(not r["related"] for r in keyword["results"])
    assert keyword["related_total"] == 0


def test_a_word_no_article_contains_has_no_matches_only_related_ones(server: Server) -> None:
    word = "زرافات"
    assert server.search(q=word, mode="keyword")["total"] == 0
    result = server.search(q=word, mode="hybrid", size=50)
    assert result["total"] == 0
    assert result["related_total"] == len(result["results"]) > 0
    assert all(r["related"] for r in result["results"])
    semantic = server.search(q=word, mode="semantic", size=50)
    # The related ones are exactly the dense neighbours above the semantic floor.
    assert {r["article_id"] for r in result["results"]} == {r["article_id"] for r in semantic["results"]}


def test_date_filter_and_date_sort(server: Server) -> None:
    everything = server.search(q="كوريا", size=50, sort="date")
    flags = [r["related"] for r in everything["results"]]
    assert flags == sorted(flags), "by date too, the articles with the word come before the related ones"
    for related in (False, True):  # each group newest first, its undated articles last
        group = [r["published"] for r in everything["results"] if r["related"] is related]
        dated = [published for published in group if published]
        assert dated == sorted(dated, reverse=True)
        assert group[: len(dated)] == dated
    dated = sorted((r["published"] for r in everything["results"] if r["published"]), reverse=True)
    if not dated:
        pytest.skip("no dated article matches in this corpus")
    day = dated[0][:10]
    on_day = server.search(q="كوريا", size=50, **{"from": day, "to": day})
    assert on_day["total"] + on_day["related_total"] >= 1
    assert all(r["published"] and r["published"][:10] == day for r in on_day["results"])
    after = server.search(q="كوريا", size=50, **{"from": "2999-01-01"})
    assert after["total"] == 0 and after["results"] == []


def test_paging(server: Server) -> None:
    whole = server.search(q="بوتين", mode="keyword", size=50)
    assert whole["total"] >= 4
    first = server.search(q="بوتين", mode="keyword", size=2, page=1)
    second = server.search(q="بوتين", mode="keyword", size=2, page=2)
    assert first["total"] == second["total"] == whole["total"]
    ids = [r["article_id"] for r in first["results"] + second["results"]]
    assert ids == [r["article_id"] for r in whole["results"][:4]]
    assert len(set(ids)) == 4
    beyond = server.search(q="بوتين", mode="keyword", size=50, page=50)
    assert beyond["results"] == [] and beyond["total"] == whole["total"]


def test_results_are_articles_once_each_with_their_best_passage(server: Server) -> None:
    result = server.search(q="كيم جونغ أون روسيا", size=50)
    ids = [r["article_id"] for r in result["results"]]
    assert len(ids) == len(set(ids)) == result["total"] + result["related_total"] or len(ids) == 50
    for item in result["results"][:3]:
        passages = {p["id"] for p in article_text(server, item["article_id"])["passages"]}
        assert item["passage_id"] in passages


def check_citations(server: Server, answer: dict[str, Any]) -> None:
    markers = [int(n) for n in re.findall(r"\[(\d+)\]", answer["answer"])]
    assert markers and sorted(set(markers)) == [c["n"] for c in answer["citations"]]
    for citation in answer["citations"]:
        assert citation["text"][citation["quote_start"] : citation["quote_end"]] == citation["quote"]
        assert f"{citation['quote']} [{citation['n']}]" in answer["answer"]
        body = article_text(server, citation["article_id"])
        passage = next(p for p in body["passages"] if p["id"] == citation["passage_id"])
        assert passage["text"] == citation["text"]
        assert body["text"][passage["start"] : passage["end"]] == passage["text"]
        assert citation["title"] == body["title"]


def test_ask_answers_a_seed_question_with_correct_citations(server: Server) -> None:
    answer = server.ask("متى وصل كيم جونغ أون إلى روسيا؟")
    assert answer["answered"] is True
    check_citations(server, answer)
    first = answer["citations"][0]
    assert "وصل الزعيم الكوري الشمالي كيم جونغ أون إلى روسيا" in first["quote"]
    assert "الثلاثاء" in answer["answer"]
    # The date asked for is marked inside the quote, and the model that scored it is named.
    marked = [first["quote"][a:b] for a, b in first["answer_spans"]]
    assert "الثلاثاء" in " ".join(marked)
    assert answer["answer_model"].startswith("answers-")
    assert 0.0 < answer["evidence"] <= 1.0


def test_ask_answers_a_sample_fact(server: Server) -> None:
    if server.get("/api/v1/articles/book-fair-opens")[0] != 200:
        pytest.skip("samples/ (book-fair-opens) not indexed in this fixture")
    answer = server.ask("كم دار نشر شاركت في معرض الكتاب؟")
    assert answer["answered"] is True
    check_citations(server, answer)
    assert "450 دار نشر" in answer["citations"][0]["quote"]
    assert answer["citations"][0]["article_id"] == "book-fair-opens"


def test_follow_up_borrows_the_earlier_question(server: Server) -> None:
    first = "ما الذي اشتعل في مصفاة النفط في أزوف بعد هجوم المسيرات؟"
    answer = server.ask(
        "ومتى حدث ذلك؟",
        history=[
            {"role": "user", "content": first},
            {"role": "assistant", "content": "اندلعت النيران في خزانات نفط."},
        ],
    )
    assert answer["answered"] is True
    check_citations(server, answer)
    cited = " ".join(c["text"] for c in answer["citations"])
    assert "أزوف" in cited or "روستوف" in cited
    # "Who said that?" borrows the subject too; asked alone it points at nothing and abstains.
    said = server.ask(
        "ومن قال ذلك؟",
        history=[{"role": "user", "content": first}, {"role": "assistant", "content": answer["answer"]}],
    )
    assert said["answered"] is True
    check_citations(server, said)
    assert any("أزوف" in c["text"] or "روستوف" in c["text"] for c in said["citations"])
    alone = server.ask("ومن قال ذلك؟")
    assert alone["answered"] is False and alone["citations"] == []


@pytest.mark.parametrize(
    "question",
    [
        "ما نتيجة مباراة كرة القدم على كوكب المريخ؟",
        "كم سعر الخبز في مخابز باريس اليوم؟",
    ],
)
def test_ask_abstains_off_topic(server: Server, question: str) -> None:
    answer = server.ask(question)
    assert answer["answered"] is False
    assert answer["answer"] == ABSTAIN
    assert answer["citations"] == []


def test_errors_over_http_are_json(server: Server) -> None:
    status, body, kind = server.request("GET", "/api/v1/search?q=")
    assert (status, kind, body["error"]["code"]) == (400, "application/json", "empty_query")
    status, body, kind = server.request("POST", "/api/v1/ask", b"{oops", {"Content-Type": "application/json"})
    assert (status, kind, body["error"]["code"]) == (400, "application/json", "malformed_json")
    status, body, kind = server.request("GET", "/api/v1/articles/missing")
    assert (status, kind, body["error"]["code"]) == (404, "application/json", "article_not_found")
    status, body, kind = server.request("DELETE", "/api/v1/search")
    assert (status, kind, body["error"]["code"]) == (405, "application/json", "method_not_allowed")


def test_a_finished_re_index_is_seen_without_restart(indexed_seeds_dir: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(indexed_seeds_dir, data_dir)
    running = Server(data_dir)
    try:
        running.wait_until_responds()
        articles_before = running.get("/api/v1/health")[1]["articles"]
        assert running.search(q="زرافات", mode="keyword")["total"] == 0
        extra = tmp_path / "extra.jsonl"
        extra.write_text(
            json.dumps(
                {
                    "id": "giraffes-1",
                    "title": "ولادة زرافات في حديقة الحيوان",
                    "source": "اختبار",
                    "published": "2024-06-21",
                    "text": "أعلنت حديقة الحيوان في المدينة ولادة ثلاث زرافات صغيرة هذا الأسبوع. "
                    "وقال مدير الحديقة إن الزرافات الصغيرة بصحة جيدة وستعرض للزوار الشهر المقبل.",
                },
                ensure_ascii=False,
            )
            + "\n",
            encoding="utf-8",
        )
        indexed = subprocess.run(
            [sys.executable, "-m", "cli", "--data-dir", str(data_dir), "index", "--quiet", str(extra)],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert indexed.returncode == 0, indexed.stderr
        found = running.search(q="زرافات", mode="keyword")
        assert [r["article_id"] for r in found["results"]] == ["giraffes-1"]
        assert "<mark>زرافات</mark>" in found["results"][0]["snippet"]
        semantic = running.search(q="ولادة زرافات في حديقة الحيوان", mode="semantic", size=1)
        assert semantic["results"][0]["article_id"] == "giraffes-1"
        assert running.get("/api/v1/health")[1]["articles"] == articles_before + 1
    finally:
        running.stop()
