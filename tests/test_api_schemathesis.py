"""Schemathesis against the served OpenAPI document: requests generated from every operation's schema (valid
and not) to a real `isnad serve` on a small real index find no 5xx, and every answer's status, content type
and body are the document's.

Bounded: a few derandomized examples per operation (the same cases each run, so a failure reproduces),
with a write key so the write routes are exercised too, on an index of its own.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from evaluation.server import ServedIndex
from indexer.keys import KeyStore
from indexer.pipeline import index_paths
from indexer.settings import load_settings

EXAMPLES_PER_OPERATION = 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ARTICLES = (
    {
        "id": "fair-1",
        "title": "افتتاح معرض الكتاب في مدينة النخيل",
        "source": "وكالة الأنباء",
        "published": "2024-02-04",
        "text": "افتتح وزير الثقافة صباح اليوم معرض الكتاب السنوي في مدينة النخيل بمشاركة ثلاثمئة دار نشر.",
    },
    {
        "id": "rain-1",
        "title": "أمطار غزيرة في الجبال",
        "source": "وكالة الاختبار",
        "published": "2024-02-05",
        "text": "هطلت أمطار غزيرة على قرى الجبال الغربية ليلة أمس وأغلقت السيول طريقين رئيسيين.",
    },
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, write key) of `isnad serve` over a two-article index built for this module."""
    root = tmp_path_factory.mktemp("schemathesis")
    corpus = root / "news.jsonl"
    corpus.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in ARTICLES), encoding="utf-8")
    data_dir = root / "data"
    settings = load_settings(overrides={"data.dir": str(data_dir)}, environ={})
    index_paths([str(corpus)], settings, embed=False, progress=False)  # the server's worker embeds them
    keys = KeyStore(data_dir)
    _, secret = keys.create("write", "schemathesis")
    keys.close()
    with ServedIndex(data_dir, log_path=root / "serve.log", startup_timeout=120.0) as server:
        yield f"http://127.0.0.1:{server.port}", secret


def test_generated_requests_get_no_server_error_and_documented_answers(served: tuple[str, str]) -> None:
    base, key = served
    schema = schemathesis.openapi.from_url(base + "/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # Every route (schemathesis leaves out the document's own), the write routes among them.
    assert {o.label for o in operations} >= {
        "GET /search",
        "POST /ask",
        "POST /articles",
        "PUT /articles/{article_id}",
        "DELETE /articles/{article_id}",
        "GET /stats",
    }
    assert len(operations) == 11
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=base + "/api/v1", headers={"Authorization": f"Bearer {key}"}, checks=CHECKS
            )

        check()
    # After all the generated writes the server still answers, with the index's own articles.
    with urllib.request.urlopen(base + "/api/v1/articles/rain-1", timeout=30) as response:
        assert json.loads(response.read())["title"] == ARTICLES[1]["title"]
