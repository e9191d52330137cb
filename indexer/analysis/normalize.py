"""Per-term character steps of the chain: Java-style lowercasing, decimal digits to 0-9, Arabic normalization."""

from __future__ import annotations

import re
import sys
import unicodedata

# Alef wasla (U+0671) -> alef: Isnad's one addition, a 1:1 character filter applied before tokenizing.
ALEF_WASLA_MAP: dict[str, str] = {"\u0671": "\u0627"}
_WASLA_TABLE = str.maketrans(ALEF_WASLA_MAP)


def fold_alef_wasla(text: str) -> str:
    """The character filter: ٱ -> ا. One character for one, so offsets into the result equal offsets into `text`."""
    return text.translate(_WASLA_TABLE) if "\u0671" in text else text


def java_lower(term: str) -> str:
    """Lowercase one code point at a time, as Lucene's LowerCaseFilter (Character.toLowerCase) does.

    Python's str.lower() applies two context rules Java's per-character mapping does not: final sigma
    (Σ -> ς at a word end) and İ -> i + combining dot. Everything else agrees, so only those take the slow path.
    """
    if term.isascii():
        return term.lower()
    if "\u03a3" not in term and "\u0130" not in term:
        return term.lower()
    return "".join("i" if ch == "\u0130" else ch.lower() for ch in term)


def _decimal_digit_table() -> dict[int, str]:
    """Every Unicode decimal digit (general category Nd) that is not ASCII, mapped to its ASCII digit."""
    table: dict[int, str] = {}
    for code in range(0x80, sys.maxunicode + 1):
        ch = chr(code)
        if unicodedata.category(ch) == "Nd":
            table[code] = str(unicodedata.decimal(ch))
    return table


# Lucene's DecimalDigitFilter: any character of type DECIMAL_DIGIT_NUMBER becomes '0' + its value.
DECIMAL_DIGITS: dict[int, str] = _decimal_digit_table()
_ANY_DIGIT = re.compile("[" + "".join(f"\\U{code:08X}" for code in DECIMAL_DIGITS) + "]")


def fold_digits(term: str) -> str:
    """All Unicode Nd digits (Arabic-Indic ٠-٩, Persian ۰-۹, ...) to ASCII 0-9."""
    # Most words are all letters (isalpha is one C pass); translate() pays a lookup for every character.
    if term.isascii() or term.isalpha() or _ANY_DIGIT.search(term) is None:
        return term
    return term.translate(DECIMAL_DIGITS)


# Lucene's ArabicNormalizationFilter, from its documented behaviour: hamza-carrying alefs أ إ آ -> bare alef ا,
# alef maqsura ى -> yeh ي, teh marbuta ة -> heh ه; tatweel and the eight harakat (fathatan .. sukun) removed.
# Superscript alef (U+0670), hamza above/below (U+0654/5) and presentation forms are left as they are.
ARABIC_NORMALIZATION: dict[int, str | None] = {
    0x0622: "\u0627",
    0x0623: "\u0627",
    0x0625: "\u0627",  # آ أ إ -> ا
    0x0649: "\u064a",  # ى -> ي
    0x0629: "\u0647",  # ة -> ه
    0x0640: None,  # tatweel
    **{
        code: None for code in range(0x064B, 0x0653)
    },  # fathatan, dammatan, kasratan, fatha, damma, kasra, shadda, sukun
}


# The same table as replacements and one pattern of removals: str.replace on an absent character costs
# almost nothing, where translate() pays a dictionary lookup for every character.
_REPLACEMENTS = tuple((chr(code), new) for code, new in ARABIC_NORMALIZATION.items() if new is not None)
_REMOVED = re.compile(
    "[" + "".join(chr(code) for code, new in ARABIC_NORMALIZATION.items() if new is None) + "]"
)


def normalize_arabic(term: str) -> str:
    """Arabic normalization of one lowercased term."""
    if term.isascii():
        return term
    for old, new in _REPLACEMENTS:
        term = term.replace(old, new)
    return _REMOVED.sub("", term) if _REMOVED.search(term) else term
