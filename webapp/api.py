"""JSON API v1: thin views over the services, and JSON errors for everything under /api/."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from indexer.errors import IsnadError
from webapp import outputs
from webapp.errors import ApiError, ServiceUnavailable
from webapp.inputs import AnalyzeQuery, AskBody, NoParameters, SearchQuery
from webapp.services import get_services
from webapp.spec import READ_SECURITY, answers, context, document, json_body, spec

bp = Blueprint("api", __name__, url_prefix="/api/v1")
NOT_FOUND = ("article_not_found",)


@bp.get("/search")
@spec.validate(
    query=SearchQuery,
    resp=answers(
        {200: outputs.SearchResponse},
        {
            400: (
                "empty_query",
                "query_too_long",
                "unknown_parameter",
                "repeated_parameter",
                "unknown_mode",
                "bad_sort",
                "bad_date",
                "bad_page",
                "bad_size",
                "bad_collapse",
                "unknown_source",
            )
        },
    ),
    security=READ_SECURITY,
)
def search() -> Any:
    """Search articles by keywords and meaning.

    Ranked articles (one per story by default) with highlighted snippets, source and date facets.
    """
    return jsonify(get_services().search(context().query))


@bp.post("/ask")
@json_body(AskBody, "the question")
@spec.validate(
    query=NoParameters,
    json=AskBody,
    resp=answers(
        {200: outputs.AskResponse},
        {
            400: (
                "malformed_json",
                "unknown_parameter",
                "unknown_field",
                "empty_query",
                "query_too_long",
                "bad_request",
                "bad_history",
                "unknown_mode",
            ),
            413: ("request_too_large",),
            415: ("unsupported_media_type",),
        },
    ),
    security=READ_SECURITY,
)
def ask() -> Any:
    """Ask a question: a short answer whose every sentence cites a passage [n], or an abstention."""
    return jsonify(get_services().answer(context().json))


@bp.get("/articles/<path:article_id>")
@spec.validate(
    query=NoParameters,
    resp=answers({200: outputs.Article}, {400: ("unknown_parameter",), 404: NOT_FOUND}),
    security=READ_SECURITY,
)
def article(article_id: str) -> Any:
    """One article in full, with its passages (offsets into its text)."""
    return jsonify(get_services().require_article(article_id))


@bp.get("/articles/<path:article_id>/related")
@spec.validate(
    query=NoParameters,
    resp=answers({200: outputs.Related}, {400: ("unknown_parameter",), 404: NOT_FOUND}),
    security=READ_SECURITY,
)
def related(article_id: str) -> Any:
    """The closest other articles by meaning, its own copy group left out, saying why each is listed."""
    return jsonify(get_services().related(article_id))


@bp.get("/stories/<story_id>")
@spec.validate(
    query=NoParameters,
    resp=answers({200: outputs.Story}, {400: ("unknown_parameter",), 404: ("story_not_found",)}),
    security=READ_SECURITY,
)
def story(story_id: str) -> Any:
    """A story: the articles of several outlets about one event, by date, each with its copy group."""
    return jsonify(get_services().story(story_id))


@bp.get("/analyze")
@spec.validate(
    query=AnalyzeQuery,
    resp=answers(
        {200: outputs.AnalyzeResponse},
        {400: ("empty_text", "text_too_long", "repeated_parameter", "unknown_parameter")},
    ),
    security=READ_SECURITY,
)
def analyze() -> Any:
    """What the analyzer makes of a text: the indexed terms and the exact (phrase) terms, with offsets."""
    return jsonify(get_services().analyze(context().query.text))


@bp.get("/health")
@spec.validate(
    query=NoParameters,
    resp=answers({200: outputs.Health, 503: outputs.Health}, {400: ("unknown_parameter",)}),
    security=[{}],
)
def health() -> Any:
    """Whether the stores answer (503 when not: a load balancer takes the instance out of rotation)."""
    report = get_services().health()
    # 503 lets a load balancer or compose healthcheck take an instance whose store is down out of rotation.
    return jsonify(report), (200 if report["status"] == "ok" else 503)


@bp.get("/stats")
@spec.validate(
    query=NoParameters,
    resp=answers({200: outputs.Stats}, {400: ("unknown_parameter",)}),
    security=READ_SECURITY,
)
def stats() -> Any:
    """Counts per store, the sources with their article counts, the index manifest, background embedding."""
    return jsonify(get_services().stats())


@bp.get("/openapi.json")
@spec.validate(resp=answers({200: outputs.OpenApiDocument}), security=[{}])
def openapi() -> Response:
    """This document."""
    return Response(document(), mimetype="application/json")


def _error_response(error: ApiError) -> tuple[Response, int]:
    response = jsonify(error.to_json())
    response.headers.update(error.headers)
    return response, error.status


def _http_error_code(error: HTTPException) -> str:
    return {
        404: "not_found",
        405: "method_not_allowed",
        415: "unsupported_media_type",
        413: "request_too_large",
    }.get(error.code or 500, "bad_request" if (error.code or 500) < 500 else "internal_error")


def init_app(app: Flask) -> None:
    """Register the blueprint and make every error under /api/ a JSON `{error: {code, message}}`."""
    app.register_blueprint(bp)

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Any:
        if request.path.startswith("/api/"):
            return _error_response(error)
        # The HTML pages catch ApiError themselves; one escaping here gets the site's error page.
        return _page_error(error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if not request.path.startswith("/api/"):
            return error
        message = error.description or error.name
        valid_methods = list(getattr(error, "valid_methods", None) or [])
        if error.code == 404:
            message = f"no API route {request.path}; see /api/v1/openapi.json"
        elif error.code == 405:
            allowed = ", ".join(sorted(m for m in valid_methods if m not in ("HEAD", "OPTIONS")))
            message = f"{request.method} is not allowed on {request.path}; use {allowed}"
        response, status = _error_response(ApiError(_http_error_code(error), message, error.code or 500))
        if error.code == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response, status

    @app.errorhandler(IsnadError)
    def store_unavailable(error: IsnadError) -> Any:
        # A store out of reach (Elasticsearch down) or an unusable index: the client can retry later.
        app.logger.error("store unavailable on %s: %s", request.path, error)
        if request.path.startswith("/api/"):
            return _error_response(ServiceUnavailable("unavailable", str(error)))
        return _page_error(503)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        app.logger.exception("unexpected error on %s", request.path)
        if request.path.startswith("/api/"):
            return _error_response(
                ApiError("internal_error", "the server failed on this request; it is logged")
            )
        return _page_error(500)


def _page_error(status: int) -> Any:
    """An error outside /api/: answered by the page handler for its status (the site's design) if any."""
    try:
        abort(status)
    except HTTPException as error:
        return current_app.handle_http_exception(error)
    raise AssertionError("abort() always raises")
