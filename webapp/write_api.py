"""Write routes of API v1: POST /articles (an object, an array or NDJSON), PUT and DELETE /articles/<id>.

A batch answers per item, as Elasticsearch's `_bulk` does: a bad item is reported by position and id and the
others are stored. Items are cleaned, split and analyzed by the indexer's own functions (`indexer.live_writer`).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from indexer.ingest.records import RecordError, record_article
from indexer.live_embedder import BackgroundEmbedder
from indexer.live_writer import ArticleWriter, Outcome, Prepared, WritesBusyError, WritesUnsupportedError
from indexer.stores.diskfull import DiskFullError
from webapp import outputs
from webapp.errors import ApiError, BadRequest, NotFound, UnsupportedMediaType
from webapp.inputs import ArticleBatch, ArticleInput, parse
from webapp.request_input import check_tree, read_json_body
from webapp.services import Services, services_of
from webapp.spec import WRITE_SECURITY, answers, json_body, spec

bp = Blueprint("write_api", __name__, url_prefix="/api/v1")

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines")
EXTENSION = "isnad_writes"


class Writes:
    """The writer and its background embedder for one app, made on first use (or by `start`)."""

    def __init__(self, services: Services):
        self.services = services
        self._lock = threading.Lock()
        self.writer: ArticleWriter | None = None
        self.embedder: BackgroundEmbedder | None = None

    def get(self) -> ArticleWriter:
        if self.writer is None:
            with self._lock:
                if self.writer is None:
                    try:
                        writer = ArticleWriter(self.services.settings, self.services.stores)
                    except WritesUnsupportedError as error:
                        raise ApiError("writes_unsupported", str(error), 501) from None
                    stores = self.services.stores
                    # The model loads in the worker's thread, not in the first write's request.
                    embedder = BackgroundEmbedder(
                        writer, lambda: stores.embedder, int(self.services.settings["embedder.batch_size"])
                    )
                    embedder.start()
                    self.embedder, self.writer = embedder, writer
                    self.services.reporters["writes"] = self.report
                    self.services.closers.append(self.close)
        return self.writer

    def report(self) -> dict[str, Any]:
        return {"embedding": self.embedder.status() if self.embedder else None}

    def close(self) -> None:
        if self.embedder is not None:
            self.embedder.stop()
        if self.writer is not None:
            self.writer.close()


def writes(app: Flask | None = None) -> Writes:
    extension: Writes = (app or current_app).extensions[EXTENSION]
    return extension


def start(app: Flask) -> None:
    """Open the writer now (`isnad serve`): what a crash left unindexed or unembedded is done at once.
    A backend that takes no writes is simply left without one."""
    try:
        writes(app).get()
    except ApiError:
        pass


def _busy(error: WritesBusyError) -> ApiError:
    return ApiError("store_busy", str(error), 503, {"Retry-After": str(error.retry_after)})


def _full(error: DiskFullError) -> ApiError:
    # 507 Insufficient Storage (RFC 4918): the batch was refused for room, not for what it holds.
    return ApiError("disk_full", str(error), 507)


def _batch_items() -> list[tuple[int, Any]]:
    """(position, record) per item of the body; a record that is not JSON comes as a RecordError."""
    mimetype = request.mimetype
    if mimetype in NDJSON_TYPES:
        raw = request.get_data(cache=False)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadRequest(
                "malformed_json",
                f"the NDJSON body is not UTF-8 (byte 0x{raw[error.start]:02x} at byte {error.start})",
            ) from None
        items: list[tuple[int, Any]] = []
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                check_tree(record)
            except (ValueError, RecursionError) as error:
                record = RecordError("malformed_json", f"line {number} is not JSON: {error}")
            except ApiError as error:
                record = RecordError(error.code, f"line {number}: {error.message}")
            items.append((len(items), record))
        return items
    if not request.is_json:
        sent = request.content_type or "no content type"
        raise UnsupportedMediaType(
            "unsupported_media_type",
            f"send articles as application/json (an object or an array) or "
            f"application/x-ndjson (one object per line), not {sent}",
        )
    body = read_json_body()
    if isinstance(body, dict):
        return [(0, body)]
    if isinstance(body, list):
        return list(enumerate(body))
    raise BadRequest("malformed_json", "the body must be an article object or an array of them")


def _item_json(position: int | None, outcome: Outcome) -> dict[str, Any]:
    item: dict[str, Any] = {} if position is None else {"position": position}
    item.update(id=outcome.id, status=outcome.status)
    if outcome.error is not None:
        item["error"] = {"code": outcome.error.code, "message": outcome.error.message}
    else:
        item["result"] = outcome.result
    return item


def _check_item(record: dict[str, Any]) -> None:
    """The item's fields by the ArticleInput model (the document's), as a RecordError of this item."""
    try:
        parse(ArticleInput, record)
    except ApiError as error:
        raise RecordError(error.code, error.message) from None


WRITE_ERRORS: dict[int, tuple[str, ...]] = {
    401: ("missing_key", "invalid_key"),
    403: ("insufficient_scope",),
    413: ("request_too_large",),
    501: ("writes_unsupported",),
    503: ("store_busy",),
    507: ("disk_full",),
}
ITEM_ERRORS = (
    "bad_item",
    "unknown_field",
    "bad_field",
    "bad_id",
    "bad_date",
    "empty_article",
    "duplicate_id",
)


def _store(writer: ArticleWriter, records: list[tuple[int, Any]], url_id: str | None = None) -> list[Outcome]:
    """Validate, prepare and store the records; one outcome per record, in order."""
    outcomes: list[Outcome | None] = [None] * len(records)
    prepared: list[Prepared] = []
    where: dict[str, int] = {}  # article id -> position of the item that holds it
    for index, (position, record) in enumerate(records):
        article_id = url_id or (
            str(record.get("id")) if isinstance(record, dict) and record.get("id") else None
        )
        try:
            if isinstance(record, RecordError):
                raise record
            if isinstance(record, dict):
                _check_item(record)
            article = record_article(record, f"api#{position}", url_id)
            article_id = article.id
            if article.id in where:
                raise RecordError(
                    "duplicate_id",
                    f"id {article.id!r} is also item {where[article.id]} of this batch; "
                    "send each article once",
                )
            prepared.append(writer.prepare(article))
            where[article.id] = index
        except RecordError as error:
            outcomes[index] = Outcome.failed(article_id, error)
    try:
        stored = writer.put(prepared)
    except WritesBusyError as error:
        raise _busy(error) from None
    except DiskFullError as error:
        raise _full(error) from None
    if stored:
        writes().embedder.wake()  # type: ignore[union-attr]
    for article_id, index in where.items():
        outcomes[index] = stored[article_id]
    return [outcome for outcome in outcomes if outcome is not None]


@bp.before_request
def _write_body_limit() -> None:
    # Writes carry whole articles: their own, larger limit than the 1 MB of the query side.
    if request.method in ("POST", "PUT"):
        request.max_content_length = int(current_app.config["ISNAD_SETTINGS"]["writes.max_body_bytes"])


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_: RequestEntityTooLarge) -> Any:
    limit = int(current_app.config["ISNAD_SETTINGS"]["writes.max_body_bytes"])
    error = ApiError(
        "request_too_large",
        f"the body is over the write limit of {limit} bytes "
        "(writes.max_body_bytes); send the articles in smaller batches",
        413,
    )
    return jsonify(error.to_json()), 413


@bp.post("/articles")
@spec.validate(
    json=ArticleBatch,
    skip_validation=True,  # each item is validated on its own (ArticleInput), to answer per item
    resp=answers(
        {200: outputs.WriteResponse},
        {
            400: ("malformed_json", "empty_batch", "batch_too_large"),
            415: ("unsupported_media_type",),
            **WRITE_ERRORS,
        },
    ),
    security=WRITE_SECURITY,
)
def post_articles() -> Any:
    """Store articles: one JSON object, a JSON array, or NDJSON (application/x-ndjson).

    Like Elasticsearch's _bulk, the answer is per item (`items[i]`, by position): a bad item is reported
    with its error and the others are stored. A stored article is searchable by keyword before the answer
    returns, and by meaning once the background worker has embedded it (GET /stats, `writes`).
    """
    started = time.perf_counter()
    records = _batch_items()
    limit = int(current_app.config["ISNAD_SETTINGS"]["writes.max_items"])
    if not records:
        raise BadRequest("empty_batch", "the body holds no article")
    if len(records) > limit:
        raise BadRequest(
            "batch_too_large",
            f"the batch holds {len(records)} articles; the limit is {limit} (writes.max_items)",
        )
    outcomes = _store(writes().get(), records)
    items = [_item_json(position, outcome) for (position, _), outcome in zip(records, outcomes, strict=True)]
    return jsonify(
        {
            "took_ms": round((time.perf_counter() - started) * 1000, 1),
            "errors": any("error" in item for item in items),
            "items": items,
        }
    )


@bp.put("/articles/<path:article_id>")
@json_body(ArticleInput, "the article", 'the body must be one article object like {"title": …, "text": …}')
@spec.validate(
    json=ArticleInput,
    resp=answers(
        {200: outputs.WriteItem, 201: outputs.WriteItem},
        {
            400: ("malformed_json", "id_mismatch", *ITEM_ERRORS),
            415: ("unsupported_media_type",),
            **WRITE_ERRORS,
        },
    ),
    security=WRITE_SECURITY,
)
def put_article(article_id: str) -> Any:
    """Store or replace the article with this id (201 when new); the body may repeat the id."""
    (outcome,) = _store(writes().get(), [(0, read_json_body())], article_id)
    if outcome.error is not None:
        raise ApiError(outcome.error.code, outcome.error.message, outcome.status)
    return jsonify(_item_json(None, outcome)), outcome.status


@bp.delete("/articles/<path:article_id>")
@spec.validate(
    resp=answers({200: outputs.WriteItem}, {404: ("article_not_found",), **WRITE_ERRORS}),
    security=WRITE_SECURITY,
)
def delete_article(article_id: str) -> Any:
    """Remove the article with this id from every store."""
    try:
        deleted, _ = writes().get().delete([article_id])
    except WritesBusyError as error:
        raise _busy(error) from None
    except DiskFullError as error:
        raise _full(error) from None
    if not deleted:
        raise NotFound("article_not_found", f"no article with id {article_id!r}")
    return jsonify({"id": article_id, "status": 200, "result": "deleted"})


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Writes(services_of(app))
    app.register_blueprint(bp)


__all__ = ["bp", "init_app", "start", "writes"]
