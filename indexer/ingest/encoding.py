"""Turn input bytes into text: BOMs, UTF-16/32, cp1256 and other legacy encodings; binary data rejected."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

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
    if mostly_utf8(sample):
        return "utf-8"  # a few damaged bytes in UTF-8 text: the reader replaces and reports them
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


# Valid multi-byte UTF-8 characters per invalid byte above which bytes are UTF-8 with damage, not another
# encoding. Arabic news in cp1256 or ISO-8859-6 rarely forms a valid UTF-8 sequence: in 6,000 64 KiB
# samples of the shared corpora in those and cp1252 the ratio stayed at or below 0.022, and 0.4 for a lone
# headline (`python -m evaluation.scripts.encoding_margin ../shared/corpus/news`), so 4 leaves a wide margin, while
# UTF-8 text with a few bad bytes has hundreds or thousands of valid characters per bad one.
UTF8_VALID_PER_INVALID = 4


def utf8_damage(data: bytes) -> tuple[int, int]:
    """(valid non-ASCII characters, invalid bytes) of `data` read as UTF-8."""
    text = data.decode("utf-8", "surrogateescape")  # each invalid byte becomes one lone surrogate
    invalid = len(_INVALID_BYTES.findall(text))
    return sum(1 for ch in text if ord(ch) > 127) - invalid, invalid


def mostly_utf8(data: bytes) -> bool:
    """True when `data` is UTF-8 but for a few invalid bytes (see UTF8_VALID_PER_INVALID)."""
    valid, invalid = utf8_damage(data)
    return valid > 0 and valid >= UTF8_VALID_PER_INVALID * invalid


_INVALID_BYTES = re.compile("[\udc80-\udcff]")
_INVALID_RUNS = re.compile("[\udc80-\udcff]+")
# Encodings a reader can be sure of: a byte-order mark says so, or every byte decodes as UTF-8.
CERTAIN_ENCODINGS = frozenset({"utf-8", "utf-8-sig", "utf-16", "utf-32"})


def decode_utf8_repairing(data: bytes) -> tuple[str, list[int], int]:
    """UTF-8 text with each run of invalid bytes replaced by U+FFFD; also the (1-based) lines that held
    invalid bytes and how many bytes were replaced."""
    text = data.decode("utf-8", "surrogateescape")
    lines: list[int] = []
    replaced = 0
    line, counted_to = 1, 0
    for match in _INVALID_RUNS.finditer(text):
        line += text.count("\n", counted_to, match.start())
        counted_to = match.start()
        if not lines or lines[-1] != line:
            lines.append(line)
        replaced += match.end() - match.start()
    if replaced:
        text = _INVALID_RUNS.sub("\ufffd", text)
    return text, lines, replaced


@dataclass(slots=True)
class Decoded:
    """A file's text and how it was obtained: the encoding, and the lines where invalid UTF-8 was replaced."""

    text: str
    encoding: str
    repaired_lines: list[int] = field(default_factory=list)
    replaced_bytes: int = 0

    @property
    def guessed(self) -> bool:
        """The encoding is a guess (no byte-order mark, not UTF-8): the reader says which one it used."""
        return self.encoding not in CERTAIN_ENCODINGS


def decode(data: bytes) -> Decoded:
    """Decode a whole file's bytes to text, without a BOM; DecodeError when the bytes are not text.

    UTF-8 with a few invalid bytes stays UTF-8 (the bytes become U+FFFD and are counted), rather than
    being read whole in a legacy encoding, which would garble every Arabic letter of the file.
    """
    encoding = detect_encoding(data[:SNIFF_BYTES])
    repaired: list[int] = []
    replaced = 0
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        if encoding == "utf-8" or mostly_utf8(data):
            encoding = "utf-8"
            text, repaired, replaced = decode_utf8_repairing(data)
        else:
            best = charset_normalizer.from_bytes(data).best()
            if best is None:
                raise DecodeError("binary file", "no text encoding fits") from None
            text, encoding = str(best), best.encoding
    text = text.removeprefix("\ufeff")
    if _looks_binary(text):
        raise DecodeError("binary file", "control characters where text should be")
    return Decoded(text, encoding, repaired, replaced)


def decode_bytes(data: bytes) -> str:
    """Decode a whole file's bytes to text (see `decode`)."""
    return decode(data).text
