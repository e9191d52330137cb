"""Careless and hostile input to the real `isnad` command: damaged files, broken links, bad arguments."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
from pathlib import Path

from cli_run import isnad

BODY = "أعلنت وزارة الزراعة اليوم أن موسم حصاد القمح بدأ مبكرا هذا العام بسبب ارتفاع درجات الحرارة."


def stored_titles(data: Path) -> dict[str, str]:
    with sqlite3.connect(data / "documents.sqlite3") as db:
        return dict(db.execute("SELECT id, title FROM articles").fetchall())


def test_damaged_files_links_and_empty_files_are_reported_and_the_rest_indexed(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [
        json.dumps(
            {"id": f"n{i}", "title": f"حصاد القمح {i}", "text": f"{BODY} {i}"}, ensure_ascii=False
        ).encode()
        for i in range(4)
    ]
    lines[1] = lines[1].replace("القمح".encode(), "القمح".encode() + b"\xe2\x80", 1)  # a cut character
    lines[2] = b"[" * 100_000 + b"]" * 100_000
    (folder / "news.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (folder / "broken.jsonl").symlink_to(tmp_path / "moved-away.jsonl")
    (folder / "loop.jsonl").symlink_to(folder / "loop.jsonl")
    for name in ("empty.json", "empty.jsonl", "empty.txt"):
        (folder / name).write_bytes(b"")
    (folder / "empty.jsonl.gz").write_bytes(gzip.compress(b""))
    data = tmp_path / "data"

    result = isnad("index", str(folder), "--no-embed", "--quiet", "--data-dir", str(data))

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    err = result.stderr.splitlines()
    assert (
        f"isnad index: {folder / 'news.jsonl'}:2: invalid utf-8 (2 invalid bytes replaced with U+FFFD; "
        "the rest of the line is kept)" in err
    )
    assert (
        f"isnad index: {folder / 'news.jsonl'}:3: malformed json (nested too deeply to be an article)" in err
    )
    assert (
        f"isnad index: {folder / 'broken.jsonl'}: unreadable file (broken symbolic link to "
        f"{tmp_path / 'moved-away.jsonl'})" in err
    )
    assert f"isnad index: {folder / 'loop.jsonl'}: unreadable file (symbolic link loop)" in err
    for name in ("empty.json", "empty.jsonl", "empty.jsonl.gz", "empty.txt"):
        assert f"isnad index: {folder / name}: empty file (no articles in it)" in err
    assert (
        "skipped 7 (empty file: 4, malformed json: 1, unreadable file: 2), noted 1 (invalid utf-8: 1)"
        in result.stdout
    )
    # Read as UTF-8, not as a legacy code page: every Arabic title intact, the damage only where it was.
    assert stored_titles(data) == {"n0": "حصاد القمح 0", "n1": "حصاد القمح\ufffd 1", "n3": "حصاد القمح 3"}


def test_an_argument_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for args in (
        [b"search", b"\xff\xfe"],
        [b"ask", "متى".encode() + b"\xff"],
        [b"index", os.fsencode(tmp_path) + b"/\xe9t\xe9.jsonl"],
    ):
        result = isnad(*args, "--data-dir", str(data))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"isnad: argument 2 ({args[1]!r}) is not UTF-8 text")
    assert not data.exists()


def test_commands_on_a_directory_without_an_index_say_so_and_create_nothing(tmp_path: Path) -> None:
    missing, empty = tmp_path / "typo", tmp_path / "empty"
    empty.mkdir()
    commands = [
        ["search", "صواريخ"],
        ["ask", "متى بدأ الحصاد؟"],
        ["stats"],
        ["serve", "--port", "1"],
        ["delete", "n1"],
        ["index", "--no-embed"],
    ]
    for data in (missing, empty):
        # `isnad serve` starts with an empty index in a folder that exists (test_write_api_served.py).
        for command in commands if data == missing else [c for c in commands if c[0] != "serve"]:
            result = isnad(*command, "--data-dir", str(data))
            assert result.returncode != 0, (command, result.stdout)
            assert (
                f"isnad {command[0]}: " in result.stderr
                and f"no index in {data}: check --data-dir" in result.stderr
            ), (command, result.stderr)
            assert "Traceback" not in result.stderr
    assert not missing.exists() and list(empty.iterdir()) == []
