"""Turn input bytes into text: BOMs, UTF-16/32, cp1256 and other legacy encodings; binary data rejected."""

from __future__ import annotations

import codecs

import charset_normalizer

# Signatures of binary formats people drop into folders by mistake (PDF, archives, images, office files).
_BINARY_MAGIC = (
    b"%PDF",
    b"PK\x03\x04",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\xd0\xcf\x11\xe0",
    b"\x7fELF",
    b"SQLite format 3",
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
SNIFF_BYTES = 1 << 16


class DecodeError(ValueError):
    """Bytes that cannot be used as text; `reason` is the short skip reason ("binary file", "unreadable file")."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _bom_encoding(data: bytes) -> str | None:
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return None


def _utf16_without_bom(sample: bytes) -> str | None:
    """Guess BOM-less UTF-16 from where the zero bytes sit: mostly-ASCII or mostly-Arabic text puts them on one side."""
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) // 2
    # Arabic code points (U+06xx) have 0x06 as the high byte, so also count those as the "high" side.
    even_high = even + sample[0::2].count(6)
    odd_high = odd + sample[1::2].count(6)
    if odd_high > 0.6 * half and even < 0.05 * half:
        return "utf-16-le"
    if even_high > 0.6 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in _ALLOWED_CONTROLS)
    return "\x00" in text or controls > max(2, len(text) // 200)


def detect_encoding(sample: bytes) -> str:
    """Name the encoding of `sample` (the start of a file), or raise DecodeError("binary file") for non-text."""
    if not sample:
        return "utf-8"
    bom = _bom_encoding(sample)
    if bom:
        return bom
    if sample.startswith(_BINARY_MAGIC):
        raise DecodeError("binary file", "starts with the signature of a binary format")
    if b"\x00" in sample:
        guess = _utf16_without_bom(sample)
        if guess:
            return guess
        raise DecodeError("binary file", "contains NUL bytes")
    try:
        # A cut in the middle of a multi-byte character at the end of the sample is still UTF-8.
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        if error.start >= len(sample) - 3 and error.reason == "unexpected end of data":
            return "utf-8"
    best = charset_normalizer.from_bytes(sample).best()
    guess = best.encoding if best is not None else None
    # On a few words of Arabic the detector can pick a look-alike (cp1006, cp874); our inputs are Arabic news,
    # so an Arabic code page that turns the bytes into Arabic letters wins over a guess that does not.
    if guess not in _ARABIC_ENCODINGS:
        scores = {enc: _arabic_share(sample, enc) for enc in ("cp1256", "iso8859_6")}
        arabic = max(scores, key=lambda enc: scores[enc])
        if scores[arabic] >= 0.5 and (guess is None or scores[arabic] > _arabic_share(sample, guess)):
            return arabic
    if guess is None:
        raise DecodeError("binary file", "no text encoding fits")
    return guess


_ARABIC_ENCODINGS = {"cp1256", "iso8859_6", "mac_arabic", "cp864", "cp720"}


def _arabic_share(sample: bytes, encoding: str) -> float:
    """Share of the non-ASCII letters in `sample`, decoded as `encoding`, that are Arabic (0 if it does not decode).

    ASCII reads the same in every candidate, so only the other letters tell the encodings apart.
    """
    try:
        text = sample.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return 0.0
    letters = [ch for ch in text if ch.isalpha() and not ch.isascii()]
    if not letters:
        return 0.0
    return sum("\u0621" <= ch <= "\u064a" for ch in letters) / len(letters)


def decode_bytes(data: bytes) -> str:
    """Decode a whole file's bytes to text, without a BOM; DecodeError when the bytes are not text."""
    encoding = detect_encoding(data[:SNIFF_BYTES])
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        best = charset_normalizer.from_bytes(data).best()
        if best is None:
            raise DecodeError("binary file", "no text encoding fits") from None
        text = str(best)
    text = text.removeprefix("\ufeff")
    if _looks_binary(text):
        raise DecodeError("binary file", "control characters where text should be")
    return text
