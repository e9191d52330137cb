"""Shared helpers for the commands that print search results and answers in a terminal."""

from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Callable
from typing import Any

_MARK = re.compile(r"<mark>(.*?)</mark>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
BOLD, RESET = "\033[1m", "\033[0m"


def plain(snippet_html: str, color: bool) -> str:
    """A highlighted snippet for a terminal: marks in bold on a terminal, [brackets] otherwise."""
    marked = _MARK.sub(
        (lambda m: f"{BOLD}{m.group(1)}{RESET}") if color else (lambda m: f"[{m.group(1)}]"), snippet_html
    )
    # Paragraph breaks inside a snippet would scatter it over the terminal; one line reads better.
    return " ".join(html.unescape(_TAG.sub("", marked)).split())


def use_color() -> bool:
    return sys.stdout.isatty()


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def source_line(item: dict[str, Any]) -> str:
    parts = [item.get("source") or "", (item.get("published") or "")[:10]]
    return " · ".join(p for p in parts if p)


def open_services(settings: dict[str, Any]) -> Any:
    """The same services the web app uses, opened read-only on the configured data directory."""
    from webapp.services import Services

    return Services.open(settings)


def call_services(settings: dict[str, Any], command: str, call: Callable[[Any], Any]) -> Any | None:
    """Open the services, make one call and close them; an API error is printed as the API words it
    (`isnad COMMAND: message`) and gives None, so the command exits 2."""
    from indexer.stores import IndexMismatchError, NoIndexError
    from webapp.errors import ApiError

    try:
        services = open_services(settings)
    except (NoIndexError, IndexMismatchError) as error:
        print(f"isnad {command}: {error}", file=sys.stderr)
        return None
    try:
        return call(services)
    except ApiError as error:
        print(f"isnad {command}: {error.message}", file=sys.stderr)
        return None
    finally:
        services.close()
