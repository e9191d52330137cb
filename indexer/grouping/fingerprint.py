"""Pure per-article fingerprints: a MinHash signature over word shingles, and the article's key terms.

Signatures come from analyzer output the keyword phase already has (`KeywordDoc.text_exact`: normalized
words with stop words kept, so small edits move few shingles), in the analysis workers, so grouping never
analyzes a text twice for them. Key terms (stems without stop words) serve only stories, which wait for
the article's vectors: they are computed when its story is (`indexer.grouping.stories`), not in the
keyword phase.
"""

from __future__ import annotations

import itertools
import zlib
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from operator import itemgetter

import numpy as np
from datasketch import MinHash
from datasketch.minhash import _fmix

FINGERPRINT_VERSION = "3"  # bump when signatures, band keys or key terms change: the ledger is then rebuilt
NUM_PERM = 64  # signature length: Jaccard estimated within about ±0.06 (1/sqrt(64) × sqrt(J(1-J)))
SHINGLE = 3  # words per shingle: long enough that two reports on one event share few, short enough for edits
SEED = 17  # fixes datasketch's permutations, so stored signatures stay comparable across runs
SHINGLED_WORDS = 128  # the title and the body's first words: a dispatch's copies share its start, and the
# signature's cost stays bounded however long the article (the judged precision in README "Stories")
KEY_TERMS = 24  # terms kept per article for the stories' shared-rare-terms test
TITLE_WEIGHT = 3  # a title word counts as this many body occurrences when choosing key terms
LEAD_PASSAGES = 3  # the passages whose vectors make the article's vector (the lead names the event)
_MASK = np.uint64(0xFFFF_FFFF)


# LSH bands as datasketch's MinHashLSH lays them out for BAND_THRESHOLD and NUM_PERM: 10 bands of 6 rows
# (written out, because datasketch finds them by numerical integration, about a second per process; a
# test checks they agree). Lower than copies.threshold on purpose: candidates are verified against the
# real threshold, so a spurious candidate costs one comparison while a missed one is a lost copy (at
# J = 0.8 a pair shares a band with probability 0.95; with the bands datasketch picks for 0.8, 0.67).
BAND_THRESHOLD = 0.6
BANDS, ROWS = 10, 6


@lru_cache(maxsize=1)
def _band_layout() -> tuple[np.ndarray, np.ndarray]:
    """(index of each band's rows, per-row multipliers) for vectorised band keys."""
    rows = np.arange(BANDS * ROWS, dtype=np.int64).reshape(BANDS, ROWS)  # MinHashLSH's hashranges, in order
    multipliers = np.array(
        [pow(0x9E3779B97F4A7C15, i + 1, 1 << 64) for i in range(rows.shape[1])], dtype=np.uint64
    )
    return rows, multipliers


def band_keys(signature_bytes: bytes) -> tuple[int, ...]:
    """One key per LSH band: the band's values mixed into 64 bits with its position, as a signed 63-bit
    integer (what SQLite stores). Two signatures share a key exactly when that band's values are equal,
    but for a 2^-63 chance."""
    return tuple(band_key_matrix(unpack(signature_bytes).reshape(1, -1))[0].tolist())


def band_key_matrix(signatures: np.ndarray) -> np.ndarray:
    """`band_keys` of many signatures at once: (articles, NUM_PERM) uint32 -> (articles, BANDS) int64."""
    rows, multipliers = _band_layout()
    values = signatures.astype(np.uint64)[:, rows]  # (articles, bands, rows)
    keys = (values * multipliers).sum(axis=2, dtype=np.uint64) + np.arange(len(rows), dtype=np.uint64)
    return (keys >> np.uint64(1)).astype(np.int64)


_WORD_CACHE_LIMIT = 200_000  # words whose crc32 a worker remembers (news vocabulary repeats heavily)
_word_hashes: dict[str, int] = {}


@lru_cache(maxsize=1)
def template() -> MinHash:
    """An empty MinHash with the project's permutations (drawn once per process)."""
    return MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=int)


def _word_hash(word: str) -> int:
    value = _word_hashes.get(word)
    if value is None:
        if len(_word_hashes) >= _WORD_CACHE_LIMIT:
            _word_hashes.clear()
        # crc32 is stable across processes and runs (Python's hash() is salted per process).
        value = _word_hashes[word] = zlib.crc32(word.encode("utf-8", "surrogatepass"))
    return value


def shingle_hashes(words: Sequence[str], size: int = SHINGLE) -> np.ndarray:
    """32-bit hashes of the `size`-word shingles (a text shorter than that: its words); repeats are kept,
    as they cannot change a minimum."""
    if not words:
        return np.zeros(0, dtype=np.uint64)
    cache = _word_hashes
    hashes = np.array([cache.get(w) or _word_hash(w) for w in words], dtype=np.uint64)
    if len(words) >= size:
        combined = hashes[: len(words) - size + 1].copy()
        for offset in range(1, size):  # polynomial rolling combination, vectorised over all shingles
            combined = (
                combined * np.uint64(1_000_003) + hashes[offset : len(words) - size + 1 + offset]
            ) & _MASK
        hashes = combined
    return hashes


def signature(words: Sequence[str]) -> bytes:
    """The MinHash signature of a word sequence's shingles, as bytes (NUM_PERM little-endian uint32).

    Equal to datasketch's `MinHash.update_batch` over the shingle hashes (a test checks it), applied to
    the whole array at once: update_batch converts its input element by element, three times the cost.
    """
    minhash = template()
    values = shingle_hashes(words).astype(np.uint32)
    if not len(values):
        return np.asarray(minhash.hashvalues, dtype="<u4").tobytes()
    a, b = minhash.permutations
    mixed = _fmix(values.reshape(-1, 1), 32)
    return np.minimum(minhash.hashvalues, (mixed * a + b).min(axis=0)).astype("<u4").tobytes()


def key_terms(
    title_terms: Sequence[str], body_terms: Sequence[str], limit: int = KEY_TERMS
) -> tuple[str, ...]:
    """The most frequent content stems of the title and lead (title words weighted up), ties by the term."""
    counts: Counter[str] = Counter(body_terms)
    for term in title_terms:
        counts[term] += TITLE_WEIGHT
    # The `limit * 2` first by (-count, term), without a key function over every distinct term (that
    # cost more than the signature): Counter sorts by count in C; the terms counted more
    # than the last one wanted are few and sorted by (-count, term), and of those tied with it (often
    # hundreds, counted once) the smallest terms are taken by a plain string sort.
    wanted = limit * 2
    by_count = counts.most_common()
    if len(by_count) > wanted:
        boundary = by_count[wanted - 1][1]
        start = wanted - 1
        while start and by_count[start - 1][1] == boundary:
            start -= 1
        end = wanted
        if by_count[-1][1] == boundary:  # the usual case: the ties are the terms counted once
            end = len(by_count)
        while end < len(by_count) and by_count[end][1] == boundary:
            end += 1
        head = sorted(by_count[:start], key=_by_count_then_term)
        tied = sorted(map(itemgetter(0), by_count[start:end]))
        ranked = [t for t, _ in head] + tied[: wanted - start]
    else:
        by_count.sort(key=_by_count_then_term)
        ranked = [t for t, _ in by_count]
    return tuple(itertools.islice((t for t in ranked if len(t) > 1 and not t.isdigit()), limit))


def _by_count_then_term(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def article_terms(title: str, lead: Sequence[str]) -> str:
    """An article's key terms (space-separated, as the ledger stores them) from its raw title and lead
    passages: `key_terms` of their stems, as the keyword index has them (`analyze_terms`)."""
    from indexer.analysis import analyze_terms  # here: importing it builds the analyzer's tables

    body: list[str] = []
    for text in lead[:LEAD_PASSAGES]:
        body.extend(analyze_terms(text))
    return " ".join(key_terms(analyze_terms(title), body))


def fingerprint(title_exact: str, texts_exact: Sequence[str]) -> bytes:
    """An article's signature from its analyzed title and passages (space-joined exact analyzer output)."""
    return fingerprints([(title_exact, texts_exact)])[0]


def shingled_words(title_exact: str, texts_exact: Sequence[str]) -> list[str]:
    """The words whose shingles make the signature: the title's, then the passages', SHINGLED_WORDS at most."""
    words = title_exact.split()
    for text in texts_exact:
        wanted = SHINGLED_WORDS - len(words)
        if wanted <= 0:
            break
        # Only the words wanted: a passage's later words would be split only to be dropped.
        more = text.split(maxsplit=wanted)
        words.extend(more[:wanted])
    return words[:SHINGLED_WORDS]


def fingerprints(articles: Sequence[tuple[str, Sequence[str]]]) -> list[bytes]:
    """The signatures of many articles, (title_exact, texts_exact) each, at once (an analysis worker's
    batch): a few array operations for the whole batch, as numpy's per-call overhead dominated one
    article's. Band keys are left to the main process (`band_key_matrix` over thousands at once)."""
    matrix = signature_matrix([shingled_words(title, texts) for title, texts in articles])
    return [row.tobytes() for row in matrix.astype("<u4")]


def signature_matrix(word_lists: Sequence[Sequence[str]]) -> np.ndarray:
    """The MinHash signatures of many word sequences' shingles, (sequences, NUM_PERM) uint32: `signature`
    of each, computed over all their shingles at once."""
    minhash = template()
    matrix = np.repeat(np.asarray(minhash.hashvalues, dtype=np.uint32).reshape(1, -1), len(word_lists), 0)
    flat = list(itertools.chain.from_iterable(word_lists))
    known = list(map(_word_hashes.get, flat))  # one C-level pass; the few new words hashed after
    if None in known:
        known = [_word_hash(w) if h is None else h for w, h in zip(flat, known, strict=True)]
    hashes = np.array(known, dtype=np.uint64)
    lengths = np.array([len(words) for words in word_lists], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    # Shingles start at each word with SHINGLE - 1 words after it in the same sequence; a sequence
    # shorter than that is shingled as its words.
    shingles = np.where(lengths >= SHINGLE, lengths - SHINGLE + 1, lengths)
    present = np.flatnonzero(shingles > 0)
    if not len(present):
        return matrix
    owner = np.repeat(np.arange(len(word_lists)), shingles)
    first = np.concatenate(([0], np.cumsum(shingles)[:-1]))
    positions = starts[owner] + (np.arange(int(shingles.sum())) - first[owner])
    combined = hashes[positions]
    long = lengths[owner] >= SHINGLE  # the short sequences' shingles are their word hashes as they are
    for offset in range(1, SHINGLE):  # the same polynomial rolling combination as `shingle_hashes`
        following = hashes[np.minimum(positions + offset, len(hashes) - 1)]
        combined = np.where(long, (combined * np.uint64(1_000_003) + following) & _MASK, combined)
    a, b = minhash.permutations
    mixed = _fmix(combined.astype(np.uint32), 32)
    # (NUM_PERM, shingles), so that the minimum runs along contiguous rows: reduceat over axis 0 of the
    # transposed layout took ten times as long.
    permuted = np.multiply.outer(a, mixed)
    permuted += b.reshape(-1, 1)
    minima = np.minimum.reduceat(permuted, first[present], axis=1).T
    matrix[present] = np.minimum(matrix[present], minima)
    return matrix


def unpack(signature_bytes: bytes) -> np.ndarray:
    return np.frombuffer(signature_bytes, dtype="<u4")


def jaccard(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two signatures' shingle sets: the share of equal minima."""
    return float(np.count_nonzero(unpack(a) == unpack(b))) / NUM_PERM
