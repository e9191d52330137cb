"""A small HTTP load generator: C client threads over keep-alive loopback connections, latency percentiles.

Standard library only (http.client, threads), bounded by a request count and a time limit, so a slow
server makes the benchmark report fewer requests rather than run forever.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # already URL-encoded, with its query string
    body: bytes | None = None


@dataclass(slots=True)
class LoadResult:
    clients: int
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    first_error: str = ""

    def percentile(self, p: float) -> float | None:
        return percentile(self.latencies_ms, p)

    def summary(self) -> dict[str, object]:
        return {
            "clients": self.clients,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
            "requests_per_s": round(self.requests / self.seconds, 1) if self.seconds else None,
            "p50_ms": _round(self.percentile(50)),
            "p95_ms": _round(self.percentile(95)),
            "p99_ms": _round(self.percentile(99)),
            "max_ms": _round(max(self.latencies_ms)) if self.latencies_ms else None,
            **({"first_error": self.first_error} if self.first_error else {}),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least p% of values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def json_request(path: str, payload: dict[str, object]) -> Request:
    return Request("POST", path, json.dumps(payload, ensure_ascii=False).encode())


def run_load(
    host: str,
    port: int,
    requests: Sequence[Request],
    clients: int = 1,
    time_limit: float = 60.0,
    timeout: float = 180.0,
) -> LoadResult:
    """Send every request once, spread over `clients` threads; stop early at `time_limit` seconds.

    Each client keeps one connection open (as a browser or API client would) and reconnects after an
    error. A response counts as an error unless its status is 200.
    """
    result = LoadResult(clients=clients)
    if not requests:
        return result
    counter = itertools.count()
    lock = threading.Lock()
    deadline = time.perf_counter() + time_limit

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        latencies: list[float] = []
        errors = 0
        first_error = ""
        try:
            while time.perf_counter() < deadline:
                index = next(counter)  # itertools.count is atomic under the GIL
                if index >= len(requests):
                    break
                request = requests[index]
                headers = {"Content-Type": "application/json"} if request.body is not None else {}
                started = time.perf_counter()
                try:
                    connection.request(request.method, request.path, body=request.body, headers=headers)
                    response = connection.getresponse()
                    body = response.read()
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status != 200:
                        errors += 1
                        first_error = (
                            first_error
                            or f"{request.method} {request.path}: HTTP {response.status} "
                            f"{body[:200].decode(errors='replace')}"
                        )
                    else:
                        latencies.append(elapsed)
                except (OSError, http.client.HTTPException) as error:
                    errors += 1
                    first_error = first_error or f"{request.method} {request.path}: {error!r}"
                    connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=timeout)
        finally:
            connection.close()
            with lock:
                result.latencies_ms.extend(latencies)
                result.requests += len(latencies)
                result.errors += errors
                result.first_error = result.first_error or first_error

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result
