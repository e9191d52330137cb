"""Every bad request to the JSON API answers JSON {error: {code, message}} with the right status, never 500.

Flask's test client over the real app and real stores (the indexed seeds); the served tests cover the
same app over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webapp.app import create_app
from webapp.services import services_of


@pytest.fixture(scope="module")
def app(indexed_seeds_dir: Path) -> Flask:
    application = create_app({"data.dir": str(indexed_seeds_dir), "TESTING": True})
    yield application
    services_of(application).close()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "empty_query"),
        ({"q": "   "}, "empty_query"),
        ({"q": "-أوكرانيا"}, "empty_query"),
        ({"q": "ب" * 501}, "query_too_long"),
        ({"q": "بوتين", "page": "0"}, "bad_page"),
        ({"q": "بوتين", "page": "two"}, "bad_page"),
        ({"q": "بوتين", "page": "1001"}, "bad_page"),
        ({"q": "بوتين", "size": "51"}, "bad_size"),
        ({"q": "بوتين", "size": "0"}, "bad_size"),
        ({"q": "بوتين", "size": "-3"}, "bad_size"),
        ({"q": "بوتين", "mode": "fuzzy"}, "unknown_mode"),
        ({"q": "بوتين", "lang": "ar"}, "unknown_parameter"),
        ({"q": "بوتين", "sort": "popular"}, "bad_sort"),
        ({"q": "بوتين", "from": "2024-13-01"}, "bad_date"),
        ({"q": "بوتين", "from": "yesterday"}, "bad_date"),
        ({"q": "بوتين", "from": "2024-06-20", "to": "2024-06-01"}, "bad_date"),
        ({"q": "بوتين", "page": ["1", "2"]}, "repeated_parameter"),
    ],
)
def test_bad_search_parameters(client: FlaskClient, params: dict[str, Any], code: str) -> None:
    error = assert_error(client.get("/api/v1/search", query_string=params), 400, code)
    if code == "unknown_parameter":
        assert "lang" in error["message"]


def test_query_of_exactly_500_characters_is_accepted(client: FlaskClient) -> None:
    response = client.get("/api/v1/search", query_string={"q": ("بوتين " * 100)[:500], "mode": "keyword"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "empty_query"),
        ({"question": ""}, "empty_query"),
        ({"question": "   "}, "empty_query"),
        ({"question": "س" * 501}, "query_too_long"),
        ({"question": 42}, "bad_request"),
        ({"question": "من هو بوتين؟", "mode": "fuzzy"}, "unknown_mode"),
        ({"question": "من هو بوتين؟", "lang": "ar"}, "unknown_field"),
        ({"question": "ومتى؟", "history": "متى زار بوتين؟"}, "bad_history"),
        ({"question": "ومتى؟", "history": [{"role": "system", "content": "x"}]}, "bad_history"),
        ({"question": "ومتى؟", "history": [{"role": "user"}]}, "bad_history"),
        ({"question": "ومتى؟", "history": [{"role": "user", "content": "x", "extra": 1}]}, "bad_history"),
        ({"question": "ومتى؟", "history": [{"role": "user", "content": "x"}] * 21}, "bad_history"),
    ],
)
def test_bad_ask_bodies(client: FlaskClient, body: dict[str, Any], code: str) -> None:
    assert_error(client.post("/api/v1/ask", json=body), 400, code)


def test_ask_body_must_be_a_json_object(client: FlaskClient) -> None:
    assert_error(client.post("/api/v1/ask", json=["متى؟"]), 400, "malformed_json")
    assert_error(
        client.post("/api/v1/ask", data="{question: 'x'", content_type="application/json"),
        400,
        "malformed_json",
    )
    assert_error(
        client.post("/api/v1/ask", data=b"\xff\xfe{", content_type="application/json"), 400, "malformed_json"
    )
    assert_error(client.post("/api/v1/ask", data="", content_type="application/json"), 400, "malformed_json")


def test_ask_needs_json_content_type(client: FlaskClient) -> None:
    error = assert_error(
        client.post("/api/v1/ask", data='{"question": "متى؟"}', content_type="text/plain"),
        415,
        "unsupported_media_type",
    )
    assert "text/plain" in error["message"]
    assert_error(client.post("/api/v1/ask", data={"question": "متى؟"}), 415, "unsupported_media_type")


def test_oversized_body_is_413(client: FlaskClient) -> None:
    body = '{"question": "' + "س" * 600_000 + '"}'
    assert_error(
        client.post("/api/v1/ask", data=body.encode(), content_type="application/json"),
        413,
        "request_too_large",
    )


def test_unknown_article_is_404(client: FlaskClient) -> None:
    error = assert_error(client.get("/api/v1/articles/no-such-article"), 404, "article_not_found")
    assert "no-such-article" in error["message"]


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v2/search", "/api/", "/api/v1/articles/"])
def test_unknown_api_routes_are_json_404(client: FlaskClient, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("post", "/api/v1/search", "GET"),
        ("get", "/api/v1/ask", "POST"),
        ("patch", "/api/v1/articles/x", "GET"),  # PUT and DELETE exist there since the write API
        ("put", "/api/v1/health", "GET"),
    ],
)
def test_wrong_method_is_json_405(client: FlaskClient, method: str, path: str, allowed: str) -> None:
    response = getattr(client, method)(path)
    error = assert_error(response, 405, "method_not_allowed")
    assert allowed in error["message"]
    assert allowed in response.headers["Allow"]


def test_unknown_parameters_on_other_routes(client: FlaskClient) -> None:
    assert_error(client.get("/api/v1/health?verbose=1"), 400, "unknown_parameter")
    assert_error(client.get("/api/v1/analyze?text=بوتين&lang=ar"), 400, "unknown_parameter")
    assert_error(client.post("/api/v1/ask?debug=1", json={"question": "متى؟"}), 400, "unknown_parameter")


def test_analyze_errors(client: FlaskClient) -> None:
    assert_error(client.get("/api/v1/analyze"), 400, "empty_text")
    assert_error(client.get("/api/v1/analyze", query_string={"text": "ب" * 10_001}), 400, "text_too_long")


def test_analyze_gives_terms_with_offsets_into_the_text(client: FlaskClient) -> None:
    text = "أطلقت القوات بالصواريخ"
    body = client.get("/api/v1/analyze", query_string={"text": text}).get_json()
    assert [t["term"] for t in body["tokens"]] == ["اطلقت", "قو", "صواريخ"]
    assert [text[t["start"] : t["end"]] for t in body["tokens"]] == ["أطلقت", "القوات", "بالصواريخ"]
    assert [t["term"] for t in body["exact"]] == ["اطلقت", "القوات", "بالصواريخ"]
    assert body["analyzer"]


def test_health_and_stats(client: FlaskClient) -> None:
    health = client.get("/api/v1/health").get_json()
    assert health["status"] == "ok" and health["articles"] > 0
    stats = client.get("/api/v1/stats").get_json()
    assert stats["counts"]["articles"] == health["articles"]
    assert stats["counts"]["passages"] >= stats["counts"]["articles"]
    assert sum(s["count"] for s in stats["sources"]) <= stats["counts"]["articles"]
    assert stats["manifest"]["embedder"]


def test_openapi_documents_every_api_route(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "/api/v1"}]
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = __import__("re").sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert set(document["paths"]) == set(routes)
    for path, methods in routes.items():
        assert set(document["paths"][path]) == methods, path
    # Every $ref resolves to a component.
    import json

    text = json.dumps(document)
    for name in document["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in text or name == "Error"
    for ref in __import__("re").findall(r'"\$ref": "#/components/(\w+)/(\w+)"', text):
        assert ref[1] in document["components"][ref[0]]


def test_non_api_404_is_not_forced_to_json(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype != "application/json"


# -- hostile input (issue 11) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"question": "\\ud800"}', "'question'"),
        ('{"question": "متى \\udfff حدث؟"}', "'question'"),
        (
            '{"question": "ومتى؟", "history": [{"role": "user", "content": "\\ud800\\ud800"}]}',
            "'history[0].content'",
        ),
        ('{"question": "ومتى؟", "history": [{"role": "\\udfff", "content": "x"}]}', "'history[0].role'"),
        ('{"question": "ومتى؟", "\\ud800": 1}', "a key in 'the body'"),
    ],
)
def test_a_lone_surrogate_anywhere_in_the_body_is_a_400_naming_the_field(
    client: FlaskClient, body: str, where: str
) -> None:
    error = assert_error(
        client.post("/api/v1/ask", data=body, content_type="application/json"), 400, "invalid_unicode"
    )
    assert where in error["message"] and "surrogate" in error["message"]


def test_a_surrogate_pair_is_a_character_and_is_accepted(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/ask",
        data='{"question": "ما معنى \\ud83d\\ude00 في الأخبار؟"}',
        content_type="application/json",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "\U0001f600" in response.get_json()["question"]


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"question": "متى؟", "history": ' + "[" * 30 + "]" * 30 + "}",
        '{"question": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": "x"}}}}}}}}}',
    ],
)
def test_deeply_nested_json_is_malformed_json(client: FlaskClient, body: str) -> None:
    error = assert_error(
        client.post("/api/v1/ask", data=body, content_type="application/json"), 400, "malformed_json"
    )
    assert "deeper than" in error["message"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/search?q=%ED%A0%80",  # a surrogate encoded as if it were UTF-8 (CESU-8)
        "/api/v1/search?q=%FF%FE",
        "/api/v1/search?q=%D8",  # a truncated Arabic letter
        "/api/v1/analyze?text=%C0%AF",  # an overlong '/'
    ],
)
def test_query_strings_that_are_not_utf8_are_refused(client: FlaskClient, url: str) -> None:
    error = assert_error(client.get(url), 400, "invalid_unicode")
    assert "not valid UTF-8" in error["message"]


@pytest.mark.parametrize("url", ["/?q=%ED%A0%80", "/ask?q=%FF"])
def test_pages_refuse_query_strings_that_are_not_utf8_with_the_400_page(
    client: FlaskClient, url: str
) -> None:
    response = client.get(url)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "طلب غير صالح" in response.get_data(as_text=True)


def test_an_encoded_replacement_character_is_ordinary_text(client: FlaskClient) -> None:
    response = client.get("/api/v1/analyze?text=%EF%BF%BD%D8%A8")
    assert response.status_code == 200 and response.get_json()["text"] == "\ufffdب"


@pytest.mark.parametrize(
    ("request_args", "code"),
    [
        ({"path": "/api/v1/search?q=بوتين&mode="}, "unknown_mode"),
        ({"path": "/api/v1/search?q=بوتين&mode=%20"}, "unknown_mode"),
        ({"path": "/api/v1/analyze?text=a&text=b"}, "repeated_parameter"),
        ({"path": "/api/v1/search?q=بوتين&source=false"}, "unknown_source"),
        (
            {"path": "/api/v1/ask", "method": "POST", "json": {"question": "من هو بوتين؟", "mode": None}},
            "unknown_mode",
        ),
        (
            {"path": "/api/v1/ask", "method": "POST", "json": {"question": "من هو بوتين؟", "mode": ""}},
            "unknown_mode",
        ),
    ],
)
def test_blank_null_and_repeated_values_are_refused(
    client: FlaskClient, request_args: dict[str, Any], code: str
) -> None:
    assert_error(client.open(**request_args), 400, code)


def test_a_source_filter_must_name_an_indexed_source(client: FlaskClient) -> None:
    sources = [s["value"] for s in client.get("/api/v1/stats").get_json()["sources"]]
    error = assert_error(
        client.get("/api/v1/search", query_string={"q": "بوتين", "source": [sources[0], "false"]}),
        400,
        "unknown_source",
    )
    assert "'false'" in error["message"]
    found = client.get("/api/v1/search", query_string={"q": "بوتين", "source": sources[0], "size": 50})
    assert found.status_code == 200 and {r["source"] for r in found.get_json()["results"]} <= {sources[0]}
    page = client.get("/", query_string={"q": "بوتين", "source": "false"})
    assert page.status_code == 400 and "لا توجد مقالات من هذا المصدر" in page.get_data(as_text=True)
