"""Reading input files: JSON fields and aliases, stable ids, encodings, gzip, bad input reported and skipped."""

from __future__ import annotations

import codecs
import gzip
import json
import os
from pathlib import Path

import pytest

from indexer.ingest import iter_articles
from indexer.models import Article, IngestSummary, Problem

BODY = (
    "أعلنت وزارة الزراعة اليوم أن موسم حصاد القمح بدأ مبكرا هذا العام بسبب ارتفاع درجات الحرارة، "
    "وأن المزارعين يتوقعون محصولا أكبر من العام الماضي."
)
OTHER = "افتتحت المكتبة العامة في المدينة قاعة جديدة للأطفال تضم ألفي كتاب مصور وركنا للقراءة الجماعية."


def read(*paths: Path) -> tuple[list[Article], IngestSummary, list[Problem]]:
    summary, problems = IngestSummary(), []
    articles = list(iter_articles(paths, summary, problems.append))
    return articles, summary, problems


def jsonl(path: Path, records: list[dict | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_canonical_keys_are_read(tmp_path: Path) -> None:
    record = {
        "id": "farm-1",
        "title": "بدء حصاد القمح",
        "text": BODY,
        "published": "2024-05-02T08:30:00+03:00",
        "source": "وكالة الأنباء",
        "url": "https://example.org/wheat",
        "author": "سلمى",
        "category": "economy",
    }
    [article], summary, problems = read(jsonl(tmp_path / "a.jsonl", [record]))
    assert (article.id, article.title, article.text) == ("farm-1", "بدء حصاد القمح", BODY)
    assert article.published == "2024-05-02T08:30:00+03:00"
    assert (article.source, article.url, article.author, article.category) == (
        "وكالة الأنباء",
        "https://example.org/wheat",
        "سلمى",
        "economy",
    )
    assert article.origin == f"{tmp_path / 'a.jsonl'}:1"
    assert summary.read == 1 and summary.skipped == {} and problems == []


def test_shared_corpus_aliases_are_read(tmp_path: Path) -> None:
    ant = {
        "title": "t1",
        "text": BODY,
        "time": "Sun, 18 Feb 2018 21:35:43 +0400",
        "src": "bbc",
        "cat": "culture",
    }
    saudi = {"title": "t2", "content": OTHER, "date_extracted": "2015-07-21 02:51:32", "source": "aawsat"}
    first, second = read(jsonl(tmp_path / "mixed.jsonl", [ant, saudi]))[0]
    assert (first.text, first.published, first.source, first.category) == (
        BODY,
        "2018-02-18T21:35:43+04:00",
        "bbc",
        "culture",
    )
    assert (second.text, second.published, second.source) == (OTHER, "2015-07-21T02:51:32", "aawsat")


def test_unparseable_date_is_none_not_an_error(tmp_path: Path) -> None:
    [article], summary, problems = read(jsonl(tmp_path / "a.jsonl", [{"text": BODY, "date": "قريبا"}]))
    assert article.published is None and problems == [] and summary.skipped == {}


def test_ids_are_stable_and_derived_from_identity(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", [{"text": BODY, "url": "https://example.org/1"}, {"text": OTHER}])
    first = [a.id for a in read(path)[0]]
    again = [a.id for a in read(path)[0]]
    assert first == again and len(set(first)) == 2
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in first)
    # The URL, not the position, identifies the first record: moving it keeps its id.
    moved = jsonl(
        tmp_path / "b.jsonl",
        [{"text": "سطر إضافي في أول الملف."}, {"text": BODY, "url": "https://example.org/1"}],
    )
    assert read(moved)[0][1].id == first[0]


def test_same_url_with_new_text_gets_its_own_id(tmp_path: Path) -> None:
    url = "https://example.org/updated"
    articles, _, problems = read(
        jsonl(tmp_path / "a.jsonl", [{"text": BODY, "url": url}, {"text": OTHER, "url": url}])
    )
    assert len(articles) == 2 and articles[0].id != articles[1].id and problems == []


def test_missing_title_is_derived_from_the_text(tmp_path: Path) -> None:
    [article] = read(jsonl(tmp_path / "a.jsonl", [{"text": BODY}]))[0]
    assert article.title.startswith("أعلنت وزارة الزراعة اليوم") and article.title.endswith("…")


def test_malformed_line_and_empty_article_are_reported_and_reading_goes_on(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "bad.jsonl",
        [
            {"text": BODY},
            '{"text": "مقطوع',
            {"title": "بلا نص"},
            "[1, 2]",
            "",
            {"text": OTHER},
        ],
    )
    articles, summary, problems = read(path)
    assert [a.text for a in articles] == [BODY, OTHER]
    assert [(p.origin, p.reason) for p in problems] == [
        (f"{path}:2", "malformed json"),
        (f"{path}:3", "empty article"),
        (f"{path}:4", "malformed json"),
    ]
    assert "[1, 2]" not in problems[2].detail and "object" in problems[2].detail
    assert summary.skipped == {"malformed json": 2, "empty article": 1}
    assert summary.read == 3  # two articles and the empty one; malformed lines are not articles


def test_exact_duplicates_are_dropped_and_counted(tmp_path: Path) -> None:
    spaced = BODY.replace(" ", "  \n", 3)  # same text once whitespace is normalised
    articles, summary, problems = read(
        jsonl(
            tmp_path / "a.jsonl",
            [
                {"text": BODY},
                {"text": OTHER},
                {"text": spaced, "title": "نسخة"},
            ],
        )
    )
    assert len(articles) == 2 and summary.skipped == {"duplicate": 1} and problems == []
    assert summary.read == 3


def test_json_array_and_single_object(tmp_path: Path) -> None:
    array = tmp_path / "list.json"
    array.write_text(
        json.dumps([{"text": BODY}, {"text": OTHER}], ensure_ascii=False, indent=2), encoding="utf-8"
    )
    single = tmp_path / "one.json"
    single.write_text(
        json.dumps({"title": "مكتبة", "content": OTHER + " إضافة."}, indent=2), encoding="utf-8"
    )
    articles, _, problems = read(array, single)
    assert [a.origin for a in articles] == [f"{array}#1", f"{array}#2", str(single) + ":1"]
    assert problems == []


def test_json_export_wrapping_its_articles_in_an_object(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    export = {
        "exported": "2024-12-31",
        "articles": [{"title": "أ", "text": BODY}, {"title": "ب", "text": OTHER}],
    }
    path.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    articles, _, problems = read(path)
    assert problems == [] and [a.origin for a in articles] == [f"{path}#1", f"{path}#2"]


def test_broken_json_array_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"text": "نص"},\n  {"text": \n]\n', encoding="utf-8")
    articles, _summary, problems = read(path)
    assert articles == [] and [(p.origin, p.reason) for p in problems] == [(f"{path}:4", "malformed json")]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1256"])
def test_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    record = json.dumps({"title": "حصاد القمح", "text": BODY}, ensure_ascii=False)
    line_file = tmp_path / "a.jsonl"
    line_file.write_bytes((record + "\n" + record.replace("القمح", "الشعير") + "\n").encode(encoding))
    page = tmp_path / "page.txt"
    page.write_bytes(f"حصاد القمح يبدأ مبكرا\n\n{BODY}\n\n{OTHER}\n".encode(encoding))
    articles, _, problems = read(line_file, page)
    # A guess (no byte-order mark, not UTF-8) is named for each file; certain encodings pass silently.
    guessed = encoding in ("utf-16-le", "utf-16-be", "cp1256")
    assert [(p.origin, p.reason, p.skipped) for p in problems] == (
        [(str(line_file), "encoding guessed", False), (str(page), "encoding guessed", False)]
        if guessed
        else []
    )
    assert all(
        f"read as {encoding.replace('-', '_') if encoding == 'cp1256' else encoding}" in p.detail
        for p in problems
    )
    assert [a.title for a in articles] == ["حصاد القمح", "حصاد الشعير", "حصاد القمح يبدأ مبكرا"]
    assert articles[2].text == f"{BODY}\n\n{OTHER}"
    assert not any("\ufeff" in a.text or "\ufeff" in a.title for a in articles)


@pytest.mark.parametrize("encoding", ["cp1256", "utf-16"])
def test_a_few_arabic_words_are_enough_to_detect_the_encoding(tmp_path: Path, encoding: str) -> None:
    line_file = tmp_path / "short.jsonl"
    line_file.write_bytes(
        json.dumps({"title": "خبر عاجل", "text": "أمطار غزيرة"}, ensure_ascii=False).encode(encoding)
    )
    page = tmp_path / "short.txt"
    page.write_bytes("خبر عاجل".encode(encoding))
    articles, _, problems = read(line_file, page)
    # "utf-16" writes a byte-order mark, so only cp1256 is a guess to report.
    assert [(p.reason, p.skipped) for p in problems] == [("encoding guessed", False)] * 2 * (
        encoding == "cp1256"
    )
    assert [(a.title, a.text) for a in articles] == [
        ("خبر عاجل", "أمطار غزيرة"),
        ("خبر عاجل", "خبر عاجل"),
    ]


def test_bom_on_the_first_jsonl_line_is_not_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + json.dumps({"id": "x", "text": BODY}).encode())
    [article], _, problems = read(path)
    assert article.id == "x" and problems == []


def test_binary_file_is_rejected_with_a_clear_problem(tmp_path: Path) -> None:
    png = tmp_path / "photo.txt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    noise = tmp_path / "noise.jsonl"
    noise.write_bytes(bytes((i * 37) % 256 for i in range(4000)))
    good = jsonl(tmp_path / "good.jsonl", [{"text": BODY}])
    articles, summary, problems = read(png, noise, good)
    assert [a.text for a in articles] == [BODY]
    assert [(p.origin, p.reason) for p in problems] == [
        (str(png), "binary file"),
        (str(noise), "binary file"),
    ]
    assert summary.skipped == {"binary file": 2}


def test_gzip_files_are_read_transparently(tmp_path: Path) -> None:
    record = json.dumps({"text": BODY}, ensure_ascii=False) + "\n"
    packed = tmp_path / "news.jsonl.gz"
    packed.write_bytes(gzip.compress(record.encode("utf-8")))
    page = tmp_path / "page.txt.gz"
    page.write_bytes(gzip.compress(f"عنوان الخبر عن المكتبة\n\n{OTHER}\n".encode("cp1256")))
    articles, _, problems = read(packed, page)
    assert [(p.origin, p.reason) for p in problems] == [(str(page), "encoding guessed")]
    assert [a.text for a in articles] == [BODY, OTHER]
    assert articles[1].title == "عنوان الخبر عن المكتبة"


def test_damaged_gzip_is_an_unreadable_file(tmp_path: Path) -> None:
    damaged = tmp_path / "news.jsonl.gz"
    damaged.write_bytes(gzip.compress(b'{"text": "x"}\n' * 50)[:30])
    articles, _summary, problems = read(damaged)
    assert articles == [] and [p.reason for p in problems] == ["unreadable file"]
    assert str(damaged) in str(problems[0])


def test_directories_are_recursed_in_order_and_unknown_files_reported(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    jsonl(tmp_path / "b" / "z.jsonl", [{"text": OTHER}])
    jsonl(tmp_path / "a.jsonl", [{"text": BODY}])
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / ".hidden.jsonl").write_text("not read", encoding="utf-8")
    (tmp_path / "README.md").write_text("# about these files", encoding="utf-8")
    articles, summary, problems = read(tmp_path, tmp_path / "missing.jsonl")
    assert [a.text for a in articles] == [BODY, OTHER]
    assert [(Path(p.origin).name, p.reason) for p in problems] == [
        ("notes.docx", "unsupported extension"),
        ("missing.jsonl", "unreadable file"),
    ]
    assert summary.skipped == {"unsupported extension": 1, "unreadable file": 1}


def test_duplicate_explicit_id_with_other_text_is_reported(tmp_path: Path) -> None:
    articles, _summary, problems = read(
        jsonl(tmp_path / "a.jsonl", [{"id": 7, "text": BODY}, {"id": 7, "text": OTHER}])
    )
    assert [a.id for a in articles] == ["7"] and [p.reason for p in problems] == ["duplicate id"]


def test_html_entities_in_json_are_decoded(tmp_path: Path) -> None:
    record = {"title": "شركة &quot;النور&quot; تربح", "text": f"{BODY}&nbsp;AT&T &amp; {OTHER}"}
    [article] = read(jsonl(tmp_path / "a.jsonl", [record]))[0]
    assert article.title == 'شركة "النور" تربح' and article.text == f"{BODY} AT&T & {OTHER}"


def test_read_more_links_are_removed_from_json_bodies(tmp_path: Path) -> None:
    text = f"{BODY}\nاقرأ أيضا: افتتاح قاعة جديدة في المكتبة\n{OTHER}"
    [article] = read(jsonl(tmp_path / "a.jsonl", [{"text": text}]))[0]
    assert article.text == f"{BODY}\n{OTHER}"


def test_html_page_main_text_title_and_date(tmp_path: Path) -> None:
    page = tmp_path / "story.html"
    paragraphs = "".join(f"<p>{s}</p>" for s in [BODY, OTHER, BODY.replace("القمح", "الذرة")])
    page.write_text(
        "<html lang='ar'><head><meta charset='utf-8'><title>حصاد مبكر | صحيفة النهار</title>"
        "<meta property='og:title' content='حصاد مبكر للقمح'>"
        "<meta property='article:published_time' content='2024-05-02T08:30:00+03:00'></head>"
        "<body><nav><a href='/'>الرئيسية</a> <a href='/sport'>رياضة</a></nav>"
        f"<article><h1>حصاد مبكر للقمح</h1>{paragraphs}</article>"
        "<footer>جميع الحقوق محفوظة</footer></body></html>",
        encoding="utf-8",
    )
    [article], _, problems = read(page)
    assert problems == []
    assert article.title == "حصاد مبكر للقمح"
    assert article.published and article.published.startswith("2024-05-02")
    assert BODY in article.text and OTHER in article.text
    assert "الرئيسية" not in article.text and "الحقوق" not in article.text


def test_same_file_name_in_two_folders_keeps_both(tmp_path: Path) -> None:
    for folder, text in (("one", BODY), ("two", OTHER)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "page.txt").write_text(f"عنوان الصفحة في المجلد\n\n{text}\n", encoding="utf-8")
    articles, _, problems = read(tmp_path)
    assert problems == [] and [a.text for a in articles] == [BODY, OTHER]
    assert len({a.id for a in articles}) == 2
    assert [a.id for a in read(tmp_path)[0]] == [a.id for a in articles]


def test_web_page_saved_as_txt_is_read_as_html(tmp_path: Path) -> None:
    page = tmp_path / "saved.txt"
    page.write_text(
        "<!DOCTYPE html><html><head><title>حصاد مبكر للقمح</title></head><body><article>"
        f"<h1>حصاد مبكر للقمح</h1><p>{BODY}</p><p>{OTHER}</p></article></body></html>",
        encoding="utf-8",
    )
    [article], _, problems = read(page)
    assert problems == [] and article.title == "حصاد مبكر للقمح" and "<p>" not in article.text


def test_deeply_nested_json_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    good = jsonl(tmp_path / "good.jsonl", [{"text": BODY}])
    articles, _, problems = read(path, good)
    assert [a.text for a in articles] == [BODY]
    assert [(p.origin, p.reason) for p in problems] == [(str(path), "unreadable file")]


def test_utf8_with_a_few_invalid_bytes_is_read_as_utf8_and_the_lines_reported(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": f"u{i}", "title": f"حصاد القمح {i}", "text": f"{BODY} {i}"}, ensure_ascii=False)
        for i in range(3)
    ]
    raw = [line.encode("utf-8") for line in lines]
    raw[1] = raw[1].replace("القمح".encode(), b"\xff\xfe" + "القمح".encode(), 1)  # damage inside the title
    news = tmp_path / "news.jsonl"
    news.write_bytes(b"\n".join(raw) + b"\n")
    page = tmp_path / "page.txt"
    page.write_bytes(f"حصاد القمح يبدأ مبكرا\n\n{BODY}\n\n".encode() + b"\xc3" + f"{OTHER}\n".encode())
    articles, summary, problems = read(news, page)
    assert [a.title for a in articles] == [
        "حصاد القمح 0",
        "حصاد \ufffdالقمح 1",
        "حصاد القمح 2",
        "حصاد القمح يبدأ مبكرا",
    ]
    assert articles[3].text == f"{BODY}\n\n\ufffd{OTHER}"
    assert [(p.origin, p.reason, p.skipped) for p in problems] == [
        (f"{news}:2", "invalid utf-8", False),
        (f"{page}:5", "invalid utf-8", False),
    ]
    assert (
        "2 invalid bytes replaced" in problems[0].detail and "1 invalid byte replaced" in problems[1].detail
    )
    assert summary.skipped == {} and summary.noted == {"invalid utf-8": 2}


def test_a_wrong_encoding_is_unlikely_for_utf8_and_named_when_guessed(tmp_path: Path) -> None:
    # Each file has one line: UTF-8 with one bad byte is still UTF-8; the same text in cp1256 is cp1256, said so.
    text = f"{BODY} {OTHER}"
    damaged = tmp_path / "damaged.txt"
    damaged.write_bytes(text.encode("utf-8").replace(b" ", b" \x80", 1))
    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes(text.encode("cp1256"))
    articles, _, problems = read(damaged, legacy)
    assert [a.text.replace("\ufffd", "") for a in articles] == [text, text]
    assert [(p.origin, p.reason) for p in problems] == [
        (f"{damaged}:1", "invalid utf-8"),
        (str(legacy), "encoding guessed"),
    ]
    assert "read as cp1256" in problems[1].detail


def test_dangling_symlink_and_symlink_loop_in_a_folder_are_unreadable_files(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    jsonl(folder / "b.jsonl", [{"text": BODY}])
    (folder / "a.jsonl").symlink_to(tmp_path / "gone.jsonl")
    (folder / "c.jsonl").symlink_to(folder / "d.jsonl")
    (folder / "d.jsonl").symlink_to(folder / "c.jsonl")
    (folder / "up").symlink_to(tmp_path)  # a link to a folder above is not followed: no loop, no second copy
    articles, summary, problems = read(folder)
    assert [a.text for a in articles] == [BODY]
    assert [(p.origin, p.reason, p.detail) for p in problems] == [
        (str(folder / "a.jsonl"), "unreadable file", f"broken symbolic link to {tmp_path / 'gone.jsonl'}"),
        (str(folder / "c.jsonl"), "unreadable file", "symbolic link loop"),
        (str(folder / "d.jsonl"), "unreadable file", "symbolic link loop"),
    ]
    assert summary.skipped == {"unreadable file": 3}


def test_one_over_nested_jsonl_line_is_reported_by_number_and_the_rest_read(tmp_path: Path) -> None:
    news = jsonl(tmp_path / "news.jsonl", [{"text": BODY}, "[" * 100_000 + "]" * 100_000, {"text": OTHER}])
    articles, _, problems = read(news)
    assert [a.text for a in articles] == [BODY, OTHER]
    assert [(p.origin, p.reason) for p in problems] == [(f"{news}:2", "malformed json")]
    assert "nested too deeply" in problems[0].detail


def test_empty_files_of_every_kind_are_reported(tmp_path: Path) -> None:
    empties = [tmp_path / name for name in ("a.json", "b.jsonl", "c.txt", "d.html", "f.json")]
    for path in empties[:4]:
        path.write_bytes(b"")
    empties[4].write_text("[]\n", encoding="utf-8")
    packed = tmp_path / "e.jsonl.gz"
    packed.write_bytes(gzip.compress(b""))
    blank = tmp_path / "g.jsonl"
    blank.write_text("\n  \n", encoding="utf-8")
    articles, summary, problems = read(*empties, packed, blank)
    assert articles == []
    assert [(p.origin, p.reason) for p in problems] == [
        (str(p), "empty file") for p in [*empties, packed, blank]
    ]
    assert summary.skipped == {"empty file": 7}


def test_a_file_name_that_is_not_utf8_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    jsonl(folder / "good.jsonl", [{"text": BODY}])
    odd = Path(os.fsdecode(os.fsencode(folder) + b"/\xe9t\xe9.jsonl"))
    jsonl(odd, [{"text": OTHER}])
    articles, _, problems = read(folder)
    assert [a.text for a in articles] == [BODY]
    assert [(p.origin, p.reason, p.detail) for p in problems] == [
        (str(odd), "unreadable file", "its name is not UTF-8; rename the file")
    ]
