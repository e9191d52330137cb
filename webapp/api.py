"""JSON API v1: thin views over the services, and JSON errors for everything under /api/."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from indexer.errors import IsnadError
from retrieval.search import MODES
from webapp import openapi as openapi_document
from webapp.errors import ApiError, BadRequest, ServiceUnavailable, UnsupportedMediaType
from webapp.request_input import read_json_body
from webapp.services import get_services

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ASK_FIELDS = ("question", "history", "mode")
NO_PARAMETERS: tuple[str, ...] = ()


def _reject_unknown(allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        valid = ", ".join(allowed) if allowed else "none"
        raise BadRequest("unknown_parameter", f"unknown parameter {unknown[0]!r}; valid parameters: {valid}")


@bp.get("/search")
def search() -> Any:
    params: dict[str, Any] = {name: request.args.getlist(name) for name in request.args}
    for name, values in params.items():
        if name != "source":
            params[name] = values if len(values) > 1 else values[0]
    return jsonify(get_services().search(params))


@bp.post("/ask")
def ask() -> Any:
    _reject_unknown(NO_PARAMETERS)
    if not request.is_json:
        sent = request.content_type or "no content type"
        raise UnsupportedMediaType(
            "unsupported_media_type", f"send the question as application/json, not {sent}"
        )
    body = read_json_body()
    if not isinstance(body, dict):
        raise BadRequest("malformed_json", 'the request body must be a JSON object like {"question": "…"}')
    unknown = sorted(set(body) - set(ASK_FIELDS))
    if unknown:
        raise BadRequest(
            "unknown_field", f"unknown field {unknown[0]!r}; valid fields: {', '.join(ASK_FIELDS)}"
        )
    if "question" not in body:
        raise BadRequest("empty_query", "'question' is missing")
    mode = body.get("mode")
    if "mode" in body and mode is None:
        raise BadRequest(
            "unknown_mode", f"'mode' is null; leave it out for the default or give one of: {', '.join(MODES)}"
        )
    return jsonify(get_services().ask(body["question"], body.get("history"), mode))


@bp.get("/articles/<path:article_id>")
def article(article_id: str) -> Any:
    _reject_unknown(NO_PARAMETERS)
    return jsonify(get_services().require_article(article_id))


@bp.get("/articles/<path:article_id>/related")
def related(article_id: str) -> Any:
    _reject_unknown(NO_PARAMETERS)
    return jsonify(get_services().related(article_id))


@bp.get("/stories/<story_id>")
def story(story_id: str) -> Any:
    _reject_unknown(NO_PARAMETERS)
    return jsonify(get_services().story(story_id))


@bp.get("/analyze")
def analyze() -> Any:
    _reject_unknown(("text",))
    texts = request.args.getlist("text")
    if len(texts) > 1:
        raise BadRequest("repeated_parameter", f"parameter 'text' may be given only once, got {len(texts)}")
    return jsonify(get_services().analyze(texts[0] if texts else None))


@bp.get("/health")
def health() -> Any:
    _reject_unknown(NO_PARAMETERS)
    report = get_services().health()
    # 503 lets a load balancer or compose healthcheck take an instance whose store is down out of rotation.
    return jsonify(report), (200 if report["status"] == "ok" else 503)


@bp.get("/stats")
def stats() -> Any:
    _reject_unknown(NO_PARAMETERS)
    return jsonify(get_services().stats())


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(openapi_document.document(), mimetype="application/json")


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
