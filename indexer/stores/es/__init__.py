"""The Elasticsearch scale-out backend: articles and passages in Elasticsearch, vectors in FAISS.

Modules in dependency order: `errors` (what can go wrong, said plainly), `mapping` (the index definition
in config/elasticsearch/), `queries` (pure request-body builders), `client` (connection, version and
health checks), `bulk` (batched writes with retries), `store` (the DocumentStore and KeywordIndex).
Importing this package needs the `elasticsearch` client (the `[es]` extra); the embedded path never does.
"""
