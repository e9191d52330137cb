"""A real HTTP server on 127.0.0.1 for the feed tests: serves a folder with ETag and Last-Modified, answers
If-None-Match / If-Modified-Since with 304, logs every request, and can fail or hold chosen paths."""

from __future__ import annotations

import email.utils
import hashlib
import shutil
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "feeds"
TYPES = {".xml": "application/xml", ".html": "text/html"}  # no charset: the documents say theirs


@dataclass
class Served:
    """What the tests steer: the folder served, paths answered with an error, paths held until released."""

    root: Path
    base: str = ""
    log: list[tuple[str, int]] = field(default_factory=list)  # (path, status) per request, in order
    fail: dict[str, int] = field(default_factory=dict)  # path -> HTTP status to answer with
    fail_headers: dict[str, dict[str, str]] = field(default_factory=dict)  # extra headers of those answers
    redirect: dict[str, str] = field(default_factory=dict)  # path -> Location of a 302
    hold: set[str] = field(default_factory=set)  # paths whose answer waits for `release`
    reached: threading.Event = field(default_factory=threading.Event)  # a held path was requested
    release: threading.Event = field(default_factory=threading.Event)
    user_agents: set[str] = field(default_factory=set)

    def requests(self, path: str) -> list[int]:
        """Statuses answered for `path` so far."""
        return [status for logged, status in self.log if logged == path]

    def write(self, name: str, text: str) -> None:
        """Replace a served file (the ETag follows its bytes, Last-Modified its mtime)."""
        (self.root / name).write_bytes(text.replace("{BASE}", self.base).encode("utf-8"))


def copy_fixtures(target: Path, base: str) -> None:
    """The fixture feeds and articles, with {BASE} made the server's address (bytes, whatever the encoding)."""
    shutil.copytree(FIXTURES, target)
    for path in target.rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes().replace(b"{BASE}", base.encode("ascii")))


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            served.log.append((self.path, status))
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_GET(self) -> None:
            served.user_agents.add(self.headers.get("User-Agent", ""))
            if self.path in served.hold:
                served.reached.set()
                served.release.wait(120)
            if self.path in served.fail:
                self._answer(
                    served.fail[self.path],
                    b"failure on purpose",
                    {"Content-Type": "text/plain", **served.fail_headers.get(self.path, {})},
                )
                return
            if self.path in served.redirect:
                self._answer(302, b"", {"Location": served.redirect[self.path]})
                return
            path = (served.root / self.path.lstrip("/").split("?")[0]).resolve()
            if not path.is_file() or served.root.resolve() not in path.parents:
                self._answer(404, b"not found", {"Content-Type": "text/plain"})
                return
            body = path.read_bytes()
            etag = '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'
            mtime = int(path.stat().st_mtime)
            validators = {"ETag": etag, "Last-Modified": email.utils.formatdate(mtime, usegmt=True)}
            if self.headers.get("If-None-Match"):
                if etag in [tag.strip() for tag in self.headers["If-None-Match"].split(",")]:
                    self._answer(304, b"", validators)
                    return
            elif self.headers.get("If-Modified-Since"):
                since = email.utils.parsedate_to_datetime(self.headers["If-Modified-Since"]).timestamp()
                if mtime <= since:
                    self._answer(304, b"", validators)
                    return
            self._answer(200, body, {**validators, "Content-Type": TYPES.get(path.suffix, "text/plain")})

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        # A client that gave up (the timeout test) leaves a broken pipe behind: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FeedServer:
    """ThreadingHTTPServer in a daemon thread; `with FeedServer(folder) as served:`."""

    def __init__(self, folder: Path):
        self.served = Served(folder)
        self.server = _QuietServer(("127.0.0.1", 0), _handler(self.served))
        self.served.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        return self.served

    def __exit__(self, *exc: object) -> None:
        self.served.release.set()
        self.server.shutdown()
        self.server.server_close()
