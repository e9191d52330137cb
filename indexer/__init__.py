"""Isnad indexer: turns Arabic articles into a document store, a keyword index and a vector index."""

__version__ = "0.1.0"
