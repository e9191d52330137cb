"""The query engine: query parsing, retrieval and fusion, highlighting, and cited answers — no Flask here."""
