"""search_snapshot compare: identical responses, the same first ten articles with other scores, and a
moved ranking are told apart (and only the last fails the comparison)."""

from __future__ import annotations

import json

from evaluation.scripts.search_snapshot import compare


def response(ids: list[str], score: float = 1.0) -> dict:
    return {
        "total": len(ids),
        "results": [{"article_id": a, "score": score - i / 10} for i, a in enumerate(ids)],
    }


def write(path, responses: dict) -> None:
    path.write_text(json.dumps(responses), encoding="utf-8")


def test_scores_that_move_keep_the_ranking_and_a_swap_does_not(tmp_path, capsys) -> None:
    before = {"keyword|story|a": response(["x", "y"]), "hybrid|story|b": response(["x", "y", "z"])}
    write(tmp_path / "before.json", before)
    write(tmp_path / "same.json", before)
    assert compare(tmp_path / "before.json", tmp_path / "same.json") == 0
    assert "2 responses: 2 identical, 2 with the same top 10 articles" in capsys.readouterr().out

    rescored = {**before, "hybrid|story|b": response(["x", "y", "z"], score=1.0002)}
    write(tmp_path / "rescored.json", rescored)
    assert compare(tmp_path / "before.json", tmp_path / "rescored.json") == 0
    out = capsys.readouterr().out
    assert "1 identical, 2 with the same top 10" in out
    assert "{'hybrid': 1}" in out and "0.0002" in out

    swapped = {**before, "keyword|story|a": response(["y", "x"])}
    write(tmp_path / "swapped.json", swapped)
    assert compare(tmp_path / "before.json", tmp_path / "swapped.json") == 1
    assert "1 with the same top 10" in capsys.readouterr().out
