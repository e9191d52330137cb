"""Bulk writes to the engine (Elasticsearch or OpenSearch): batches by count and size, retries with backoff, per-document failures.

A batch that the engine rejects as a whole with 429 (too many requests) or a 5xx, or that cannot be
sent, is retried after an exponentially growing pause. Inside an accepted batch, only the documents
answered with 429/5xx are retried; a document refused for good (a mapping error, say) is reported with
its reason and the rest of the batch goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from indexer.stores.es.engine import EngineApiError, EngineClient, EngineUnreachable
from indexer.stores.es.errors import ElasticsearchUnavailable

Operation = Sequence[dict[str, Any]]  # one bulk action line, plus its document line for index/create


def is_retryable(status: int) -> bool:
    """429 means "slow down", 5xx means the node could not do it now: both may succeed later."""
    return status == 429 or status >= 500


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before retry number `attempt` (0-based): base, 2*base, 4*base ... at most cap."""
    return float(min(cap, base * (2**attempt)))


@dataclass(frozen=True, slots=True)
class BulkFailure:
    """A document the engine refused, with the HTTP status and its reason."""

    doc_id: str
    status: int
    reason: str

    def __str__(self) -> str:
        return f"document {self.doc_id}: HTTP {self.status}: {self.reason}"


@dataclass(slots=True)
class BulkReport:
    written: int = 0  # documents indexed or deleted (deleting an absent document counts as done)
    failures: list[BulkFailure] = field(default_factory=list)
    retries: int = 0  # requests sent again after a 429/5xx or a lost connection

    def merge(self, other: BulkReport) -> None:
        self.written += other.written
        self.failures.extend(other.failures)
        self.retries += other.retries


def _reason(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        caused = error.get("caused_by")
        if isinstance(caused, dict) and caused.get("reason"):
            text += f" ({caused['reason']})"
        return text
    return str(error or result.get("result") or "unknown error")


def _doc_id(operation: Operation) -> str:
    action = next(iter(operation[0].values()))
    return str(action.get("_id", "?"))


def _encoded_size(operation: Operation) -> int:
    return sum(len(json.dumps(line, ensure_ascii=False).encode()) + 1 for line in operation)


class BulkWriter:
    """Sends bulk operations in batches of at most `max_docs` documents and about `max_bytes` bytes."""

    def __init__(
        self,
        client: EngineClient,
        *,
        max_docs: int = 500,
        max_bytes: int = 5_000_000,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        url: str = "",
    ) -> None:
        if max_docs < 1 or max_bytes < 1 or max_retries < 0:
            raise ValueError("max_docs and max_bytes must be positive and max_retries not negative")
        # This writer owns retries, so the transport must not retry the same request underneath it.
        self.client = client.without_retries()
        self.product = client.product
        self.max_docs = max_docs
        self.max_bytes = max_bytes
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self.url = url

    def write(self, operations: Iterable[Operation]) -> BulkReport:
        """Send every operation; returns what was written and which documents failed, and why."""
        report = BulkReport()
        batch: list[Operation] = []
        size = 0
        for operation in operations:
            operation_size = _encoded_size(operation)
            if batch and (len(batch) >= self.max_docs or size + operation_size > self.max_bytes):
                report.merge(self.send(batch))
                batch, size = [], 0
            batch.append(operation)
            size += operation_size
        if batch:
            report.merge(self.send(batch))
        return report

    def send(self, batch: Sequence[Operation]) -> BulkReport:
        """One batch, retrying the whole request or only its retryable documents, with backoff."""
        report = BulkReport()
        pending = list(batch)
        for attempt in range(self.max_retries + 1):
            last_try = attempt == self.max_retries
            try:
                response = self.client.bulk([line for op in pending for line in op])
            except EngineApiError as error:
                if not is_retryable(error.status) or last_try:
                    raise ElasticsearchUnavailable(
                        self._gave_up(f"HTTP {error.status}: {error.message}", attempt)
                    ) from None
                report.retries += 1
                self.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap))
                continue
            except EngineUnreachable as error:  # connection refused, reset, timed out
                if last_try:
                    raise ElasticsearchUnavailable(self._gave_up(error.message, attempt)) from None
                report.retries += 1
                self.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap))
                continue
            retry: list[Operation] = []
            for operation, item in zip(pending, response["items"], strict=True):
                kind, result = next(iter(item.items()))
                status = int(result.get("status", 0))
                if 200 <= status < 300 or (kind == "delete" and status == 404):
                    report.written += 1
                elif is_retryable(status) and not last_try:
                    retry.append(operation)
                else:
                    report.failures.append(BulkFailure(_doc_id(operation), status, _reason(result)))
            if not retry:
                return report
            report.retries += 1
            self.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap))
            pending = retry
        return report  # unreachable: the last try retries nothing

    def _gave_up(self, detail: str, attempt: int) -> str:
        where = f" at {self.url}" if self.url else ""
        return f"{self.product}{where} did not accept a bulk write after {attempt + 1} attempts: {detail}"
