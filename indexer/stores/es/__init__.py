"""The engine scale-out backend (Elasticsearch or OpenSearch): articles, passages and their vectors in the
engine.

Modules in dependency order: `errors` (what can go wrong, said plainly), `mapping` (the index definition
in config/elasticsearch/), `queries` (pure request-body builders), `engine` (one REST surface over either
client), `client` (connection and version checks), `bulk` (batched writes with retries), `store` (the
DocumentStore and KeywordIndex), `vectors` (passage vectors and kNN), `stores` (the indexer's and the app
server's facades). Importing this package needs the client of the engine in use (the `[es]` or
`[opensearch]` extra); the embedded path never does.
"""
