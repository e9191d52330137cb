"""Copy groups and stories: near-duplicate agency copy (MinHash + LSH) and articles about one event.

`fingerprint` runs in the analysis workers on analyzer output; `copies` and `stories` assign groups
incrementally from what `store.GroupStore` keeps per article; `lookup` reads them for the query side.
"""
