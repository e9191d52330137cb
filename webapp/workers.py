"""Several serving processes on one listening socket (`server.workers`), so requests use every core.

One Python process runs Python code on one core at a time, and a search request spends about half its CPU
there: under eight clients a single process left a quarter of a 2-core machine idle (README "Performance").
Each worker is a whole server, forked before anything is loaded, so nothing that does not survive a fork
(ONNX Runtime's thread pools, SQLite connections, waitress's threads) is shared. Workers write exactly as a
server beside `isnad index` always has: under the data directory's write lock, one batch at a time.

The supervisor binds the socket, starts every worker, lets them accept connections once all have loaded (a
client never meets a half-started server), restarts a worker that dies, and stops them all on SIGINT or
SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from types import FrameType

# A worker that dies within this many seconds of starting counts as failing to start; so many such
# failures in a row end the server instead of a restart loop (an index replaced by an incompatible one).
QUICK_EXIT_SECONDS = 30.0
MAX_QUICK_EXITS = 3
STOP_SECONDS = 15.0  # SIGTERM, then this long for workers to finish their requests, then SIGKILL

# (the shared socket, the worker's number, call once loaded: returns when the worker may serve) -> status
Worker = Callable[[socket.socket, int, Callable[[], None]], int]


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port and not yet listening: connections are refused until a worker
    begins to serve, as they are while a single server starts. Raises OSError (address in use, …)."""
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    return sock


class _Stop(BaseException):
    """Raised in the supervisor by SIGINT or SIGTERM."""


class _Child:
    """One forked worker and the two pipes of its start: `ready` (worker → supervisor), `go` (back)."""

    def __init__(self, number: int, sock: socket.socket, worker: Worker):
        self.number = number
        self.started = time.monotonic()
        ready_read, ready_write = os.pipe()
        go_read, go_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            os.close(ready_read)
            os.close(go_write)
            _run_worker(worker, sock, number, ready_write, go_read)
        os.close(ready_write)
        os.close(go_read)
        self.pid = pid
        self._ready = ready_read
        self._go = go_write

    def wait_loaded(self) -> bool:
        """Block until the worker has loaded (True) or has exited first (False)."""
        try:
            return os.read(self._ready, 1) == b"r"
        finally:
            os.close(self._ready)

    def go(self) -> None:
        try:
            os.write(self._go, b"g")
        except BrokenPipeError:  # it died after loading: the supervisor's wait sees it
            pass
        finally:
            os.close(self._go)


def _run_worker(worker: Worker, sock: socket.socket, number: int, ready_fd: int, go_fd: int) -> None:
    status = 1
    try:
        # Like Ctrl-C: waitress stops and the stores close. Only the first signal interrupts (Ctrl-C
        # sends SIGINT to every worker and the supervisor then sends SIGTERM): a second one must not
        # interrupt the closing.
        interrupt = _Once(KeyboardInterrupt)
        signal.signal(signal.SIGTERM, interrupt)
        signal.signal(signal.SIGINT, interrupt)

        def loaded() -> None:
            os.write(ready_fd, b"r")
            os.close(ready_fd)
            os.read(go_fd, 1)  # returns at the supervisor's word, or at once if it has died
            os.close(go_fd)

        status = worker(sock, number, loaded)
    except KeyboardInterrupt:
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    except Exception:  # noqa: BLE001 - said on stderr; the worker exits with 1 and is started again
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


class _Once:
    """A signal handler that raises `error` at the first signal and ignores the later ones. (Setting the
    handler to SIG_IGN instead races with a signal already caught: Python then raises OSError.)"""

    def __init__(self, error: type[BaseException]):
        self.error = error
        self.raised = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if not self.raised:
            self.raised = True
            raise self.error


def _say(message: str) -> None:
    print(f"isnad serve: {message}", file=sys.stderr, flush=True)


def supervise(count: int, sock: socket.socket, worker: Worker) -> int:
    """Run `count` workers on `sock` until SIGINT or SIGTERM (then 0), or until a worker cannot start
    (then its exit status)."""
    stop = _Once(_Stop)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    children: dict[int, _Child] = {}
    try:
        # One after another: a worker that cannot open the index says why once, and the start's peak
        # memory is one worker's.
        starting: list[_Child] = []
        for number in range(count):
            child = _Child(number, sock, worker)
            children[child.pid] = child
            starting.append(child)
            if not child.wait_loaded():
                return _reap_failed(child, children)
        for child in starting:
            child.go()
        return _watch(children, sock, worker)
    except _Stop:
        return 0
    finally:
        stop.raised = True  # a signal from now on must not interrupt the stopping
        _stop_all(children)
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _watch(children: dict[int, _Child], sock: socket.socket, worker: Worker) -> int:
    """Restart workers as they die; returns a status when one keeps dying at start."""
    quick_exits = 0
    while True:
        pid, wait_status = os.wait()
        child = children.pop(pid, None)
        if child is None:
            continue
        code = os.waitstatus_to_exitcode(wait_status)
        quick_exits = quick_exits + 1 if time.monotonic() - child.started < QUICK_EXIT_SECONDS else 0
        if quick_exits >= MAX_QUICK_EXITS:
            _say(f"worker {child.number} exited with status {code} {quick_exits} times in a row; stopping")
            return code or 1
        _say(f"worker {child.number} (pid {pid}) exited with status {code}; starting it again")
        replacement = _Child(child.number, sock, worker)
        children[replacement.pid] = replacement
        if replacement.wait_loaded():
            replacement.go()


def _reap_failed(child: _Child, children: dict[int, _Child]) -> int:
    """The status of a worker that exited before it had loaded (it said why on stderr)."""
    _, wait_status = os.waitpid(child.pid, 0)
    del children[child.pid]
    return os.waitstatus_to_exitcode(wait_status) or 1


def _stop_all(children: dict[int, _Child]) -> None:
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_SECONDS
    while children and time.monotonic() < deadline:
        for pid in list(children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                del children[pid]
        time.sleep(0.05)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    children.clear()
