"""Helpers for tests that run against a real Elasticsearch when ISNAD_ES_URL names one."""

from __future__ import annotations

import os

import pytest

ES_URL = os.environ.get("ISNAD_ES_URL")
SKIP_ES = "ISNAD_ES_URL not set: Elasticsearch tests need a running server"
needs_es = pytest.mark.skipif(not ES_URL, reason=SKIP_ES)


def drop_es_indices(alias: str) -> None:
    """Delete the test's indices behind `alias`, by name: Elasticsearch refuses wildcard deletes by default
    (action.destructive_requires_name)."""
    from elasticsearch import Elasticsearch

    client = Elasticsearch(ES_URL)
    try:
        for name in client.indices.get(index=f"{alias}-*", expand_wildcards="all").body:
            client.options(ignore_status=404).indices.delete(index=name)
    finally:
        client.close()
