"""`isnad eval --peers lucene` and `--titles neutral`: real Lucene (Debian's jars) ranks the evaluation corpus.

Skipped only where java, javac or the Lucene 8 jars are missing (`make test` installs them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli.main import main
from evaluation.lucene_peer import JAR_DIR, PeerUnavailable, _jar, lucene_command, lucene_rankings
from tests.test_eval_smoke import GOLD, distractor_file, rows_by, run_eval, squad_file


def _lucene_or_skip(cache: Path) -> list[str]:
    if shutil.which("java") is None or shutil.which("javac") is None:
        pytest.skip("java/javac not installed (apt-get install default-jdk-headless)")
    if _jar("lucene-core", JAR_DIR) is None:
        pytest.skip(f"Lucene 8 jars not found in {JAR_DIR} (apt-get install liblucene8-java)")
    return lucene_command(cache)


def test_lucene_counts_repeated_question_words_and_reads_titles(tmp_path: Path) -> None:
    command = _lucene_or_skip(tmp_path / "cache")
    # Two documents of equal length, each holding one of the question's two words once, as rare as
    # each other; the third holds neither. Only the word said twice can decide between them.
    docs = [
        ("rain", "خبر", "هطلت الأمطار على المدينة اليوم"),
        ("wind", "خبر", "هبت الرياح على المدينة اليوم"),
        ("other", "خبر", "افتتح معرض الكتاب في المدينة"),
    ]
    rankings = lucene_rankings(
        command, docs, ["الأمطار الرياح الأمطار", "الرياح الأمطار الرياح", "عاصفة", "ٱلكتاب", "من"]
    )
    assert rankings[0][:2] == ["rain", "wind"]
    assert rankings[1][:2] == ["wind", "rain"]
    assert rankings[2] == []  # no document has the word
    assert rankings[3] == ["other"]  # alef wasla folded as Isnad's analyzer does
    assert rankings[4] == []  # a stop word only: no query at all
    # The title is part of the one searched field.
    titled = lucene_rankings(command, [("a", "عاصفة ثلجية", "نص أول"), ("b", "خبر", "نص ثان")], ["عاصفة"])
    assert titled == [["a"]]


def test_eval_prints_lucene_beside_isnad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _lucene_or_skip(tmp_path / "cache")
    report = run_eval(tmp_path, "keyword", "--ask-modes", "none", "--peers", "lucene")
    table = capsys.readouterr().out
    assert "| tiny-qa | lucene |" in table
    assert report["peers"] == ["lucene"] and report["titles"] == "keep"
    rows = rows_by(report)
    lucene = rows[("tiny-qa", "lucene")]
    assert lucene["questions"] == len(GOLD)
    # Each question shares rare words with its paragraph only, so BM25 over whole articles finds it first too.
    assert lucene["recall@1"] == 1.0 and lucene["mrr@10"] == 1.0 and lucene["answer_in_top5"] == 1.0
    details = (tmp_path / "out" / "report-keyword.questions.jsonl").read_text(encoding="utf-8").splitlines()
    assert sum(json.loads(line)["mode"] == "lucene" for line in details) == len(GOLD)


def test_neutral_titles_replace_every_title_with_the_source(tmp_path: Path) -> None:
    report = run_eval(tmp_path, "keyword", "--ask-modes", "none", "--titles", "neutral")
    assert report["titles"] == "neutral"
    from evaluation.indexing import all_articles
    from indexer.settings import load_settings

    articles = all_articles({**load_settings(), "data.dir": report["index"]["data_dir"]})
    assert len(articles) == 25
    assert {a.title for a in articles.values()} == {"وكالة", "eval-tiny-qa"}
    # A separate cached index: the kept-titles one is not overwritten.
    kept = run_eval(tmp_path, "keyword", "--ask-modes", "none")
    assert kept["index"]["data_dir"] != report["index"]["data_dir"]
    kept_titles = {
        a.title for a in all_articles({**load_settings(), "data.dir": kept["index"]["data_dir"]}).values()
    }
    assert {title for title, *_ in GOLD} <= kept_titles


def test_unknown_peer_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "eval",
            "--qa",
            str(squad_file(tmp_path / "tiny-qa.json")),
            "--distractors",
            str(distractor_file(tmp_path / "news.jsonl.gz")),
            "--peers",
            "solr",
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 2
    assert "--peers: unknown peer solr; valid: lucene" in capsys.readouterr().err


def test_missing_lucene_jars_are_named(tmp_path: Path) -> None:
    if shutil.which("java") is None or shutil.which("javac") is None:
        pytest.skip("java/javac not installed")
    with pytest.raises(PeerUnavailable, match="liblucene8-java"):
        lucene_command(tmp_path / "cache", jar_dir=tmp_path / "no-jars")
