"""Errors of the Elasticsearch backend, each saying what is wrong and what to do about it."""

from __future__ import annotations

from indexer.errors import IsnadError


class ElasticsearchStoreError(IsnadError, RuntimeError):
    """Something about the Elasticsearch backend prevents the operation; the message says what."""


class ElasticsearchUnavailable(ElasticsearchStoreError):
    """The server cannot be reached, refused the credentials, or kept failing after retries."""


class ElasticsearchVersionMismatch(ElasticsearchStoreError):
    """The server's major version differs from the installed client's."""


class ElasticsearchIndexMissing(ElasticsearchStoreError):
    """The alias (and so the index) Isnad searches does not exist yet."""
