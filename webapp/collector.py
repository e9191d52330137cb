"""Python's garbage collector tuned for a long-running server: startup's objects set aside, young collections rarer.

A search allocates thousands of short-lived objects (hits, candidates, row tuples) and almost none of them
form reference cycles, so reference counting frees them; the cyclic collector still runs every
`threshold` net allocations and, every so often, walks every tracked object the server holds (the loaded
stores, the tokenizer's vocabulary, the row caches). Measured on the bench index, that was a few ms of
CPU a request (README "Performance"). Freezing what startup loaded removes it from every later walk, and
a larger first threshold makes young collections rarer; cycles are still found, a little later.
"""

from __future__ import annotations

import gc

from indexer.settings import SettingsError


def tune_for_serving(threshold: int) -> None:
    """Freeze the objects alive now (call once startup is done) and collect young objects every
    `threshold` net allocations; 0 leaves the collector as Python set it."""
    if threshold < 0:
        raise SettingsError(f"server.gc_threshold must be 0 or more, got {threshold}")
    if not threshold:
        return
    gc.collect()  # what startup left as garbage is freed, not frozen
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(threshold, middle, oldest)
