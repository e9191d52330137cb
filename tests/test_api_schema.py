"""Real answers of every API route match the served OpenAPI document: schemathesis validates each against
its operation's schema (status, content type, body), and every field an answer holds is documented, so a
field added to a response without its description in webapp/outputs.py fails here.

The app runs over the real stores: the stories corpus (stories, copy groups, answers with citations) for
the reads, and a small writable index for the writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from indexer.keys import KeyStore
from indexer.pipeline import index_paths
from indexer.settings import load_settings
from webapp.app import create_app
from webapp.services import services_of

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ARTICLE = {
    "id": "station-1",
    "title": "افتتاح محطة قطار جديدة في مدينة الزيتون",
    "source": "وكالة الاختبار",
    "published": "2024-05-01",
    "text": "افتتحت وزارة النقل صباح اليوم محطة قطار جديدة في مدينة الزيتون تربط الأحياء الشرقية بوسط "
    "المدينة.\n\nوقال الوزير إن المحطة ستخدم عشرين ألف راكب يوميا.",
}


def undocumented(
    value: Any, schema: dict[str, Any], components: dict[str, Any], where: str = ""
) -> list[str]:
    """The places in `value` holding a key that `schema` (an OpenAPI 3.1 JSON schema) does not describe."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    shape = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else None
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        if shape and ("$ref" in branch or branch.get("type") == shape):
            return undocumented(value, branch, components, where)
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                if not schema.get("additionalProperties"):
                    found.append(f"{where}.{key}")
                continue
            found += undocumented(item, schema["properties"][key], components, f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += undocumented(item, schema["items"], components, f"{where}[{i}]")
    return found


class Checked:
    """Requests through the app's test client, each answer checked against the served document."""

    def __init__(self, app: Flask, headers: dict[str, str] | None = None) -> None:
        self.client: FlaskClient = app.test_client()
        self.headers = headers or {}
        self.document = json.loads(self.client.get("/api/v1/openapi.json").get_data(as_text=True))
        self.schema = schemathesis.openapi.from_dict(self.document)

    def __call__(self, method: str, path: str, template: str, status: int = 200, **request: Any) -> Any:
        operation = self.schema[template][method.upper()]
        response = self.client.open("/api/v1" + path, method=method.upper(), headers=self.headers, **request)
        assert response.status_code == status, (path, response.get_data(as_text=True)[:500])
        pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>.+)", re.escape(template))
        found = re.fullmatch(pattern, path)
        assert found, (template, path)
        case = operation.Case(path_parameters=found.groupdict(), query=request.get("query_string"))
        case.validate_response(response, checks=CHECKS)
        body = response.get_json()
        answer = self.document["paths"][template][method.lower()]["responses"][str(status)]
        schema = answer["content"]["application/json"]["schema"]
        missing = undocumented(body, schema, self.document["components"]["schemas"])
        assert not missing, f"{method} {path}: fields not in the document: {missing}"
        return body


@pytest.fixture(scope="module")
def reads(indexed_stories_dir: Path) -> Iterator[Checked]:
    app = create_app(
        {"TESTING": True},
        settings=load_settings(overrides={"data.dir": str(indexed_stories_dir)}, environ={}),
    )
    yield Checked(app)
    services_of(app).close()


@pytest.fixture()
def writes(tmp_path: Path) -> Iterator[Checked]:
    corpus = tmp_path / "seed.jsonl"
    corpus.write_text(json.dumps(ARTICLE, ensure_ascii=False) + "\n", encoding="utf-8")
    data_dir = tmp_path / "data"
    index_paths(
        [str(corpus)], load_settings(overrides={"data.dir": str(data_dir)}, environ={}), progress=False
    )
    keys = KeyStore(data_dir)
    _, secret = keys.create("write", "schema-test")
    keys.close()
    app = create_app({"data.dir": str(data_dir), "TESTING": True})
    yield Checked(app, {"Authorization": f"Bearer {secret}"})
    services_of(app).close()


def test_search_answers_match_the_document(reads: Checked) -> None:
    for query in (
        {"q": "أمطار النخيل", "mode": "keyword", "size": 50},
        {"q": "أمطار النخيل", "mode": "hybrid", "collapse": "none"},
        {"q": "أمطار", "mode": "semantic", "collapse": "copy", "sort": "date"},
    ):
        body = reads("get", "/search", "/search", query_string=query)
        assert body["results"]
    grouped = reads("get", "/search", "/search", query_string={"q": "أمطار النخيل", "mode": "keyword"})
    assert any(r["story"] and r["also"] for r in grouped["results"])  # the nested objects were checked
    story_id = next(r["story"]["id"] for r in grouped["results"] if r["story"])
    story = reads("get", f"/stories/{story_id}", "/stories/{story_id}")
    assert story["articles"]
    article_id = story["articles"][0]["article_id"]
    assert reads("get", f"/articles/{article_id}", "/articles/{article_id}")["passages"]
    reads("get", f"/articles/{article_id}/related", "/articles/{article_id}/related")
    reads("get", "/articles/no-such-article", "/articles/{article_id}", 404)
    reads("get", "/stories/no-such-story", "/stories/{story_id}", 404)


def test_ask_analyze_health_stats_and_errors_match_the_document(reads: Checked) -> None:
    answered = reads("post", "/ask", "/ask", json={"question": "أين هطلت الأمطار الغزيرة؟"})
    assert answered["answered"] and answered["citations"]
    abstained = reads(
        "post",
        "/ask",
        "/ask",
        json={"question": "ومتى حدث ذلك؟", "history": [{"role": "user", "content": "من فاز بكأس العالم؟"}]},
    )
    assert abstained["answer"]
    reads("get", "/analyze", "/analyze", query_string={"text": "أطلقت القوات بالصواريخ"})
    reads("get", "/health", "/health")
    reads("get", "/stats", "/stats")
    reads("get", "/openapi.json", "/openapi.json")
    reads("get", "/search", "/search", 400, query_string={"q": "بوتين", "page": "0"})
    reads("post", "/ask", "/ask", 400, json={"question": "x", "lang": "ar"})
    reads("post", "/ask", "/ask", 415, data="x", content_type="text/plain")


def test_a_field_left_out_of_the_document_is_found(reads: Checked) -> None:
    components = reads.document["components"]["schemas"]
    search = {"$ref": "#/components/schemas/SearchResponse"}
    body = reads("get", "/search", "/search", query_string={"q": "أمطار النخيل", "mode": "keyword"})
    assert undocumented(body, search, components) == []
    body["results"][0]["story"]["diagnostics"] = {"x": 1}
    body["took"] = 1
    assert undocumented(body, search, components) == [".results[0].story.diagnostics", ".took"]


def test_write_answers_match_the_document(writes: Checked) -> None:
    batch = writes(
        "post",
        "/articles",
        "/articles",
        json=[{**ARTICLE, "id": "station-2"}, {"title": "بلا نص"}, "not an article", {**ARTICLE, "cat": 3}],
    )
    assert [i["status"] for i in batch["items"]] == [201, 400, 400, 200]
    created = writes("put", "/articles/station-3", "/articles/{article_id}", 201, json=ARTICLE | {"id": None})
    assert created["result"] == "created"
    writes("put", "/articles/station-3", "/articles/{article_id}", 400, json={"id": "other", "text": "نص"})
    writes("delete", "/articles/station-3", "/articles/{article_id}")
    writes("delete", "/articles/station-3", "/articles/{article_id}", 404)
    stats = writes("get", "/stats", "/stats")
    assert stats["writes"]["embedding"] is not None
    anonymous = Checked(writes.client.application)
    anonymous("post", "/articles", "/articles", 401, json=ARTICLE)
