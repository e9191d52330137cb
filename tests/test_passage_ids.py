"""Passage ids: stable across re-reads, different for different text, exact as JavaScript numbers."""

from __future__ import annotations

from indexer.stores.base import passage_id

JS_MAX_SAFE_INTEGER = 2**53 - 1


def test_passage_ids_are_stable_and_depend_on_article_place_and_text() -> None:
    first = passage_id("a1", 0, "نص الفقرة الأولى")
    assert passage_id("a1", 0, "نص الفقرة الأولى") == first
    assert (
        len(
            {
                first,
                passage_id("a2", 0, "نص الفقرة الأولى"),
                passage_id("a1", 1, "نص الفقرة الأولى"),
                passage_id("a1", 0, "نص الفقرة الثانية"),
            }
        )
        == 4
    )


def test_passage_ids_fit_in_a_javascript_number() -> None:
    ids = [passage_id(f"article-{n}", n % 7, f"passage {n}") for n in range(20_000)]
    assert max(ids) <= JS_MAX_SAFE_INTEGER
    assert max(ids) > 2**50  # the whole range is used, so collisions stay rare
    assert len(set(ids)) == len(ids)
