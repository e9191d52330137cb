"""`isnad index`, `isnad delete` and `isnad stats` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from cli.main import main
from indexer.settings import load_settings
from indexer.stores import open_stores


def test_dry_run_json_prints_one_object_per_article_and_writes_nothing(tmp_path, seeds_dir, capsys):
    data = tmp_path / "data"
    assert main(["index", str(seeds_dir), "--dry-run", "--json", "--data-dir", str(data)]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) >= 5
    assert set(rows[0]) == {"id", "title", "source", "published", "passages", "first_passage"}
    assert all(row["passages"] >= 1 and row["first_passage"] for row in rows)
    assert "nothing written" in err
    assert not (data / "documents.sqlite3").exists()


def test_dry_run_summary_is_readable(tmp_path, seeds_dir, capsys):
    assert main(["index", str(seeds_dir), "--dry-run", "--data-dir", str(tmp_path / "d")]) == 0
    out, _ = capsys.readouterr()
    assert "passages" in out and "would index" in out


def test_index_reports_problems_with_file_and_line_then_stats(tmp_path, capsys):
    news = tmp_path / "news.jsonl"
    good = {
        "id": "n1",
        "title": "خبر عاجل",
        "text": "أعلنت الحكومة اليوم عن خطة جديدة للنقل العام في المدينة.",
        "source": "وكالة",
        "published": "2024-05-01",
    }
    news.write_text(json.dumps(good, ensure_ascii=False) + "\n{not json\n", encoding="utf-8")
    data = tmp_path / "data"
    assert main(["index", str(news), "--no-embed", "--quiet", "--data-dir", str(data)]) == 0
    out, err = capsys.readouterr()
    assert f"{news}:2: malformed json" in err
    assert "read 1, indexed 1" in out and "skipped 1 (malformed json: 1)" in out

    assert main(["stats", "--json", "--data-dir", str(data)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["counts"]["articles"] == 1 and stats["counts"]["keyword"] == stats["counts"]["passages"]
    assert stats["counts"]["pending_vectors"] == stats["counts"]["passages"]
    assert stats["consistent"] is True
    assert stats["sizes_bytes"]["documents"] > 0 and stats["sizes_bytes"]["keyword"] > 0
    assert stats["analyzer_version"] and stats["sources"] == [{"source": "وكالة", "articles": 1}]
    assert main(["stats", "--data-dir", str(data)]) == 0
    assert "keyword index" in capsys.readouterr().out


def test_unreadable_input_only_is_an_error(tmp_path, capsys):
    missing = tmp_path / "nothing-here.jsonl"
    assert main(["index", str(missing), "--no-embed", "--quiet", "--data-dir", str(tmp_path / "d")]) == 1
    assert str(missing) in capsys.readouterr().err


def test_delete_by_id_and_report_unknown_ids(tmp_path, capsys):
    news = tmp_path / "news.jsonl"
    lines = [
        {"id": f"n{i}", "title": f"عنوان {i}", "text": f"نص الخبر رقم {i} عن الاقتصاد والسياسة في المنطقة."}
        for i in range(3)
    ]
    news.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    data = tmp_path / "data"
    assert main(["index", str(news), "--no-embed", "--quiet", "--data-dir", str(data)]) == 0
    capsys.readouterr()
    assert main(["delete", "n1", "zzz", "--json", "--data-dir", str(data)]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"deleted": ["n1"], "missing": ["zzz"]}
    assert "zzz: no such article" in err
    stores = open_stores(load_settings(overrides={"data.dir": str(data)}, environ={}))
    assert sorted(stores.docs.article_ids()) == ["n0", "n2"]
    assert stores.counts().keyword == stores.counts().passages
    stores.close()


def test_a_second_writer_is_refused_clearly(tmp_path, capsys):
    data = tmp_path / "data"
    writer = open_stores(load_settings(overrides={"data.dir": str(data)}, environ={}), writable=True)
    try:
        assert main(["index", "--no-embed", "--quiet", "--data-dir", str(data)]) == 2
        assert "another `isnad index`" in capsys.readouterr().err
    finally:
        writer.close()


def test_index_without_paths_adds_pending_embeddings(tmp_path, capsys):
    news = tmp_path / "news.jsonl"
    news.write_text(
        json.dumps(
            {"id": "n1", "title": "طقس", "text": "أمطار غزيرة متوقعة غدا في الشمال."}, ensure_ascii=False
        )
        + "\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    assert main(["index", str(news), "--no-embed", "--quiet", "--data-dir", str(data)]) == 0
    capsys.readouterr()
    assert main(["index", "--json", "--data-dir", str(data)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["embedded"] == 1 and report["pending_vectors"] == 0
    assert Path(data / "vectors.faiss").exists()


def test_stats_on_a_directory_without_an_index(tmp_path, capsys):
    assert main(["stats", "--data-dir", str(tmp_path / "none")]) == 1
    assert "no index in" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
