"""Isnad indexer: turns Arabic articles into a document store, a keyword index and a vector index."""

import os

# FAISS's OpenMP threads spin while waiting by default; on a busy 2-core machine they starve the embedder
# (a query embedding took 3.3 s instead of 78 ms in `isnad eval`). Passive waiting costs nothing when idle.
# Set before any module imports faiss; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
