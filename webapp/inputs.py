"""What the API accepts, as pydantic models: one definition gives the validation and the OpenAPI document.

Each model's checks raise our own error codes and messages (`problem`), so a bad request answers the
same `{"error": {code, message}}` the clients and the pages know; `parse` turns a pydantic ValidationError
into that ApiError. Limits that are settings (`search.max_query_chars`, `search.max_page_size`) are read
from the validation context, else from the current app; the document shows their defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal, NoReturn, TypeVar

from flask import current_app, has_app_context
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from indexer.ingest.records import RECORD_FIELDS
from indexer.settings import SETTINGS_BY_NAME
from indexer.stores.dates import parse_datetime
from retrieval.search import MODES, SORTS
from retrieval.stories import COLLAPSE
from webapp.errors import ApiError, BadRequest

HISTORY_ROLES = ("user", "assistant")
MAX_HISTORY_TURNS = 20
MAX_TURN_CHARS = 5000  # an earlier answer quotes up to three sentences; this is far above that
MAX_ANALYZE_CHARS = 10_000
MAX_PAGE = 1000  # deeper pages hold nothing: candidates per list are a few hundred

Model = TypeVar("Model", bound=BaseModel)


def problem(code: str, message: str) -> NoReturn:
    """Fail validation with one of our error codes; the message is used verbatim (no {} templating)."""
    raise PydanticCustomError(code, "{message}", {"message": message})


def setting(info: ValidationInfo, name: str) -> Any:
    """A setting for this validation: the context's settings, the current app's, else the default."""
    context = info.context if isinstance(info.context, Mapping) else {}
    if "settings" in context:
        return context["settings"][name]
    if has_app_context():
        return current_app.config["ISNAD_SETTINGS"][name]
    return SETTINGS_BY_NAME[name].default


def _names(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _reworded(message: Callable[[Any, ValidationInfo], tuple[str, str]]) -> WrapValidator:
    """Run the field's own checks (type, enum, bounds: what the document shows); on failure report
    `message(value)` = (code, text) instead of pydantic's wording."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        try:
            return handler(value)
        except ValidationError:
            problem(*message(value, info))

    return WrapValidator(validate)


def _whole_number(name: str, low: int, high: Callable[[ValidationInfo], int]) -> WrapValidator:
    def check(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            problem(f"bad_{name}", f"'{name}' must be a whole number, got {value!r}")
        if not low <= number <= high(info):
            problem(f"bad_{name}", f"'{name}' must be between {low} and {high(info)}, got {number}")
        result: int = handler(number)
        return result

    return WrapValidator(check)


def _mode_problem(value: Any, _: ValidationInfo) -> tuple[str, str]:
    if value is None or value == "":
        state = "null" if value is None else "empty"
        return (
            "unknown_mode",
            f"'mode' is {state}; leave it out for the default or give one of: {_names(MODES)}",
        )
    return "unknown_mode", f"unknown mode {value!r}; valid modes: {_names(MODES)}"


def _query_text(name: str) -> WrapValidator:
    """A non-empty query or question within `search.max_query_chars`, stripped."""

    def check(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            problem("empty_query", f"'{name}' is empty: type some words to search for")
        if not isinstance(value, str):
            problem("bad_request", f"'{name}' must be a string")
        text = value.strip()
        limit = int(setting(info, "search.max_query_chars"))
        if len(text) > limit:
            problem("query_too_long", f"'{name}' is {len(text)} characters long; the limit is {limit}")
        result: str = handler(text)
        return result

    return WrapValidator(check)


def _date_problem(name: str) -> WrapValidator:
    def check(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> str:
        try:
            parse_datetime(str(value))
        except ValueError:
            problem("bad_date", f"'{name}' must be a date like 2018-03-15, got {value!r}")
        result: str = handler(value)
        return result

    return WrapValidator(check)


MAX_QUERY_CHARS_DEFAULT = int(SETTINGS_BY_NAME["search.max_query_chars"].default)
QueryText = Annotated[
    str,
    Field(
        description="1 to search.max_query_chars characters (500 by default), trimmed.",
        json_schema_extra={"minLength": 1, "maxLength": MAX_QUERY_CHARS_DEFAULT},
    ),
]
Mode = Literal[MODES]  # type: ignore[valid-type]  # the registered modes, whatever they are
Unset = SkipJsonSchema[None]  # a query parameter left out (a query string cannot say null)


class Input(BaseModel):
    """A request part: unknown names are refused, naming the valid ones."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    #: "parameter" (query string) or "field" (JSON body): how unknown names are reported
    kind: ClassVar[str] = "parameter"
    #: a JSON body that is not an object: what it should look like
    shape: ClassVar[str] = ""
    #: a required name left out: (code, message)
    missing: ClassVar[dict[str, tuple[str, str]]] = {}

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(field.alias or name for name, field in cls.model_fields.items())


class NoParameters(Input):
    """A route that takes no query parameters."""


class SearchQuery(Input):
    """The query string of GET /search. Blank values count as absent (a search form sends them)."""

    missing = {"q": ("empty_query", "'q' is empty: type some words to search for")}

    q: Annotated[QueryText, _query_text("q")]
    mode: Annotated[Mode | Unset, _reworded(_mode_problem)] = Field(
        None, description="Retrieval mode; the default is the setting search.mode (hybrid)."
    )
    source: list[str] = Field(
        default_factory=list,
        description="Only these sources; repeat for several (any of them). Each must be a source of the "
        "index (GET /stats lists them), else 400 unknown_source.",
    )
    date_from: Annotated[str | Unset, _date_problem("from")] = Field(
        None,
        alias="from",
        description="Published on or after this date (YYYY-MM-DD; an ISO 8601 datetime is also accepted).",
        examples=["2024-06-18"],
    )
    date_to: Annotated[str | Unset, _date_problem("to")] = Field(
        None,
        alias="to",
        description="Published on or before this date; a bare date covers the whole day (UTC).",
        examples=["2024-06-20"],
    )
    sort: Annotated[
        Literal[SORTS],  # type: ignore[valid-type]
        _reworded(lambda v, _: ("bad_sort", f"unknown sort {v!r}; valid sorts: {_names(SORTS)}")),
    ] = Field("relevance", description="relevance, or date (newest first).")
    page: Annotated[int, _whole_number("page", 1, lambda _: MAX_PAGE)] = Field(
        1, ge=1, le=MAX_PAGE, description="Page number, from 1."
    )
    size: Annotated[
        int | Unset, _whole_number("size", 1, lambda i: int(setting(i, "search.max_page_size")))
    ] = Field(
        None,
        description="Results per page: 1 to search.max_page_size (50 by default); the default is "
        "search.page_size (10).",
        json_schema_extra={
            "minimum": 1,
            "maximum": int(SETTINGS_BY_NAME["search.max_page_size"].default),
        },
    )
    collapse: Annotated[
        Literal[COLLAPSE],  # type: ignore[valid-type]
        _reworded(lambda v, _: ("bad_collapse", f"unknown collapse {v!r}; valid: {_names(COLLAPSE)}")),
    ] = Field(
        "story", description="What one result stands for: a story, a copy group, or each article (none)."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_value_each(cls, data: Any) -> Any:
        """Query strings repeat names and send blanks: one value per name, trimmed, blank = absent
        (but a blank `mode=` is a mistake, not a request for the default); sources deduplicated."""
        if not isinstance(data, Mapping):
            return data
        out: dict[str, Any] = {}
        for name, value in data.items():
            if name == "source":
                values = [value] if isinstance(value, str) else list(value or [])
                out[name] = list(dict.fromkeys(v.strip() for v in values if isinstance(v, str) and v.strip()))
                continue
            if isinstance(value, (list, tuple)):
                values = [v for v in value if v not in (None, "")]
                if len(values) > 1:
                    problem("repeated_parameter", f"parameter '{name}' may be given only once")
                value = values[0] if values else None
            if isinstance(value, str):
                value = value.strip()
            if value in (None, "") and name != "mode":
                continue
            out[name] = value if value is not None or name != "mode" else ""
        return out

    @model_validator(mode="after")
    def _dates_in_order(self) -> SearchQuery:
        if self.date_from and self.date_to and parse_datetime(self.date_from) > parse_datetime(self.date_to):
            problem("bad_date", f"'from' ({self.date_from}) is after 'to' ({self.date_to})")
        return self


class AnalyzeQuery(Input):
    """The query string of GET /analyze."""

    missing = {"text": ("empty_text", "'text' is empty: give some text to analyze")}

    text: Annotated[
        str,
        Field(description=f"The text to analyze, 1 to {MAX_ANALYZE_CHARS} characters.", min_length=1),
        WrapValidator(lambda v, handler: _analyze_text(v, handler)),
    ]

    @model_validator(mode="before")
    @classmethod
    def _once(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("text"), (list, tuple)):
            problem("repeated_parameter", f"parameter 'text' may be given only once, got {len(data['text'])}")
        return data


def _analyze_text(value: Any, handler: ValidatorFunctionWrapHandler) -> str:
    if value is None or value == "":
        problem("empty_text", "'text' is empty: give some text to analyze")
    if not isinstance(value, str):
        problem("bad_request", "'text' must be a string")
    if len(value) > MAX_ANALYZE_CHARS:
        problem("text_too_long", f"'text' is {len(value)} characters; the limit is {MAX_ANALYZE_CHARS}")
    result: str = handler(value)
    return result


class Turn(BaseModel):
    """One earlier turn of the conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal[HISTORY_ROLES]  # type: ignore[valid-type]
    content: str = Field(max_length=MAX_TURN_CHARS)


def _history_problem(value: Any, handler: ValidatorFunctionWrapHandler) -> list[Turn]:
    """The history's own checks, reported as one bad_history naming the turn and the field."""
    try:
        turns: list[Turn] = handler(value)
        return turns
    except ValidationError as error:
        errors = error.errors()
    first = min(errors, key=lambda e: (e["loc"][:1], e["type"] not in ("model_type", "extra_forbidden")))
    loc, kind = first["loc"], first["type"]
    if not loc:
        if kind == "too_long":
            problem("bad_history", f"'history' has {len(value)} turns; the limit is {MAX_HISTORY_TURNS}")
        problem("bad_history", "'history' must be a list of {role, content} turns")
    i = loc[0]
    if len(loc) == 1 or kind in ("model_type", "extra_forbidden"):
        problem("bad_history", f"history[{i}] must be an object with only 'role' and 'content'")
    if loc[1] == "role":
        role = value[i].get("role") if isinstance(value[i], dict) else None
        problem("bad_history", f"history[{i}].role must be 'user' or 'assistant', got {role!r}")
    if kind == "string_too_long":
        problem("bad_history", f"history[{i}].content is longer than {MAX_TURN_CHARS} characters")
    problem("bad_history", f"history[{i}].content must be a string")


class AskBody(Input):
    """The JSON body of POST /ask."""

    kind = "field"
    shape = 'the request body must be a JSON object like {"question": "…"}'
    missing = {"question": ("empty_query", "'question' is missing")}

    question: Annotated[QueryText, _query_text("question")]
    history: Annotated[
        list[Turn] | None, Field(max_length=MAX_HISTORY_TURNS), WrapValidator(_history_problem)
    ] = Field(
        None,
        description=f"Earlier turns, oldest first (at most {MAX_HISTORY_TURNS}); a follow-up question "
        "borrows their words for retrieval.",
    )
    mode: Annotated[Mode, _reworded(_mode_problem)] = Field(
        None,  # type: ignore[assignment]  # absent: the default; an explicit null is refused
        description="Retrieval mode; leave it out for the default (search.mode). null or '' is refused.",
    )


def _record_value(value: Any, name: str) -> Any:
    """What `isnad index` reads without dropping: a string or a number (text, content, author: also a
    list of strings); anything else is refused naming the field."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    lists = name in ("text", "content", "author")
    if lists and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    kind = "a list of strings" if lists else "a string"
    problem("bad_field", f"'{name}' must be {kind}, got {type(value).__name__}")


def _record_check(name: str) -> WrapValidator:
    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return _record_value(value, name)

    return WrapValidator(check)


RECORD_HELP = {
    "id": "Your id for the article (at most 200 characters); PUT's URL gives it instead.",
    "text": "The article's text, or a list of its paragraphs; HTML markup and boilerplate are removed.",
    "published": "When it was published: a date like 2018-03-15 or an ISO 8601 datetime.",
    "author": "Its author, or a list of them.",
}


def _record_type(name: str) -> Any:
    listed = name in ("text", "content", "author")
    kind = str | float | list[str] | None if listed else str | float | None
    return Annotated[kind, Field(description=RECORD_HELP.get(name)), _record_check(name)]  # type: ignore[valid-type]


class _Record(Input):
    kind = "field"
    shape = "expected a JSON object with 'title' and 'text'"


# The field list is the indexer's (RECORD_FIELDS), so the API takes exactly what `isnad index` reads.
ArticleInput = create_model(  # type: ignore[call-overload]
    "ArticleInput",
    __base__=_Record,
    __doc__="One article as `isnad index` reads a JSON record: ours first, then the corpora's aliases "
    "(content, date, time, date_extracted, src, cat). Without an id, one is derived from the url, else "
    "from title and text, so posting the same article again replaces it. Cleaned and split exactly as "
    "`isnad index` does.",
    **{name: (_record_type(name), None) for name in RECORD_FIELDS},
)


def unknown_names(model: type[Input], names: list[str]) -> ApiError:
    valid = _names(model.names()) or "none"
    return BadRequest(
        f"unknown_{model.kind}", f"unknown {model.kind} {names[0]!r}; valid {model.kind}s: {valid}"
    )


def as_api_error(model: type[Input], error: ValidationError) -> ApiError:
    """The one ApiError that reports a failed validation: an unknown name first, then the first check
    that failed, in field order."""
    errors = error.errors()
    unknown = sorted(
        str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1
    )
    if unknown:
        return unknown_names(model, unknown)
    first = errors[0]
    if first["type"] == "model_type" and not first["loc"]:
        return BadRequest("malformed_json", model.shape or "the request body must be a JSON object")
    if first["type"] == "missing":
        name = str(first["loc"][0])
        return BadRequest(*model.missing.get(name, ("bad_request", f"'{name}' is missing")))
    code = (
        first["type"] if isinstance(first.get("ctx"), dict) and "message" in first["ctx"] else "bad_request"
    )
    return BadRequest(code, first["msg"])


def parse(model: type[Model], data: Any, settings: Mapping[str, Any] | None = None) -> Model:
    """`data` validated by `model`, or the ApiError that says what is wrong (for callers outside the API's
    decorators: the pages, the command line)."""
    try:
        return model.model_validate(data, context={"settings": settings} if settings is not None else None)
    except ValidationError as error:
        raise as_api_error(model, error) from None  # type: ignore[arg-type]


class ArticleBatch(RootModel[ArticleInput | list[ArticleInput]]):  # type: ignore[valid-type,misc]
    """The body of POST /articles: one article, or an array of them (or NDJSON: one per line). Each is
    validated on its own: a bad item is reported by position and the others are stored."""
