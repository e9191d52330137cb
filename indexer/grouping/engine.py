"""Groups in the search engine (scale-out): one `group` document per article (`g:<id>`) with its copy
group and story, written by the indexer from its grouping ledger and read by the app servers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from indexer.grouping.store import GroupRow, GroupStore
from indexer.stores.es import queries

GROUP = "group"  # doc_type of group documents
FIELDS = {
    "copy_group": {"type": "keyword"},
    "story": {"type": "keyword"},
}  # also in config/elasticsearch/index.json
SEND_CHUNK = 1000
_MEMBERS_LIMIT = 500  # articles listed per story: far above any real story, bounded for a hostile id


def group_doc_id(article_id: str) -> str:
    return f"g:{article_id}"


def group_source(row: GroupRow) -> dict[str, Any]:
    return {
        "doc_type": GROUP,
        "article_id": row.article_id,
        "copy_group": row.copy_group,
        "story": row.story,
        "source": row.source,
        "published": queries.normalized_published(row.published),
        "article": {"published": row.published},
    }


def row_from_source(source: dict[str, Any]) -> GroupRow:
    return GroupRow(
        source["article_id"],
        source.get("source"),
        (source.get("article") or {}).get("published"),
        source["copy_group"],
        source.get("story"),
    )


def ensure_fields(backend: Any, index: str) -> None:
    """Add the group fields to an index created before them (adding fields to a mapping is allowed live)."""
    with backend.errors(f"adding the group fields to {index}"):
        backend.client.request("PUT", f"/{index}/_mapping", body={"properties": FIELDS})


def publish(store: GroupStore, backend: Any, deleted: Sequence[str] = ()) -> int:
    """Send every group the engine lacks (all of them after a rebuild into a new index); returns how many."""
    index = backend.write_index()
    ensure_fields(backend, index)
    unpublish(backend, deleted)
    held = backend.count(GROUP, index)
    expected = int(store._query("SELECT count(*) FROM groups WHERE sent = 1")[0][0])
    if held < expected:  # a new index (rebuild, a new server): everything goes again
        with store.transaction() as tx:
            tx.mark_all_unsent()
    sent = 0
    while rows := store.unsent(SEND_CHUNK):
        backend.bulk(
            queries.index_operation(index, group_doc_id(r.article_id), group_source(r)) for r in rows
        )
        with store.transaction() as tx:
            tx.mark_sent([r.article_id for r in rows])
        sent += len(rows)
    backend.refresh()
    return sent


def unpublish(backend: Any, deleted: Sequence[str]) -> None:
    """Remove deleted articles' group documents (and make the removal visible)."""
    if deleted:
        index = backend.write_index()
        backend.bulk((queries.delete_operation(index, group_doc_id(a)) for a in deleted), missing_ok=True)
    backend.refresh()


class EngineGroups:
    """What an app server reads of groups: all from the engine's group documents."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def rows(self, article_ids: Iterable[str]) -> dict[str, GroupRow]:
        ids = [group_doc_id(a) for a in dict.fromkeys(article_ids)]
        if not ids:
            return {}
        found = self.backend.mget(
            ids, ("article_id", "copy_group", "story", "source", "article"), self.backend.read_index()
        )
        return {row.article_id: row for row in map(row_from_source, found.values())}

    def members(self, column: str, values: Iterable[str]) -> dict[str, list[GroupRow]]:
        if column not in FIELDS:
            raise ValueError(f"unknown group column {column!r}")
        wanted = list(dict.fromkeys(values))
        if not wanted:
            return {}
        body = {
            "size": _MEMBERS_LIMIT * len(wanted),
            "track_total_hits": False,
            "query": {"bool": {"filter": [{"term": {"doc_type": GROUP}}, {"terms": {column: wanted}}]}},
            "sort": [{"published": {"order": "asc", "missing": "_first"}}, {"article_id": "asc"}],
        }
        with self.backend.errors("reading groups"):
            response = self.backend.client.search(self.backend.read_index(), body)
        groups: dict[str, list[GroupRow]] = {}
        for hit in response["hits"]["hits"]:
            row = row_from_source(hit["_source"])
            groups.setdefault(getattr(row, column), []).append(row)
        return groups
