"""Parity with real Lucene: analyze() and analyze_exact() must give Lucene 8's tokens, offsets and positions.

A small Java program (tests/lucene/LuceneTokens.java) is compiled against Debian's liblucene8-java and run once
over all lines. It applies the same alef wasla -> alef mapping first (one BMP character for one, so offsets do
not move), prints ArabicAnalyzer's tokens, and the tokens of the exact chain built from Lucene's own parts
(StandardTokenizer, LowerCaseFilter, DecimalDigitFilter, ArabicNormalizationFilter). Lines are the input split
on "\\n" only, on both sides. Skipped only where java, javac or the Lucene jars are missing (`make test`
installs them) or the shared corpora are absent.
"""

from __future__ import annotations

import glob
import gzip
import json
import random
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.analysis import analyze, analyze_exact, analyze_exact_terms, analyze_terms

JAVA_SOURCE = Path(__file__).parent / "lucene" / "LuceneTokens.java"
JAR_DIR = Path("/usr/share/java")
NEWS_SAMPLE_LINES = 20_000
SAMPLE_SEED = 20260521

TokenTuple = tuple[str, int, int, int]


def _jar(prefix: str) -> str | None:
    found = sorted(glob.glob(str(JAR_DIR / f"{prefix}-8*.jar"))) or sorted(
        glob.glob(str(JAR_DIR / f"{prefix}*.jar"))
    )
    return found[-1] if found else None


@pytest.fixture(scope="module")
def lucene(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The java command line that runs LuceneTokens (compiled once into a temporary directory)."""
    missing = [tool for tool in ("java", "javac") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install default-jdk-headless)")
    jars = [_jar("lucene-core"), _jar("lucene-analyzers-common")]
    if None in jars:
        pytest.skip(f"Lucene 8 jars not found in {JAR_DIR} (apt-get install liblucene8-java)")
    classpath = ":".join(str(jar) for jar in jars)
    out_dir = tmp_path_factory.mktemp("lucene")
    subprocess.run(["javac", "-d", str(out_dir), "-cp", classpath, str(JAVA_SOURCE)], check=True)
    return ["java", "-cp", f"{out_dir}:{classpath}", "LuceneTokens"]


def _parse(field: str) -> list[TokenTuple]:
    tokens = []
    for item in field.split("\x01")[1:]:
        term, start, end, position = item.split("\x02")
        tokens.append((term, int(start), int(end), int(position)))
    return tokens


def run_lucene(command: list[str], lines: list[str]) -> list[tuple[list[TokenTuple], list[TokenTuple]]]:
    """(ArabicAnalyzer tokens, exact-chain tokens) for every line, from one JVM."""
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    result = subprocess.run(command, input=data, capture_output=True, check=True)
    out = result.stdout.decode("utf-8").split("\n")
    assert len(out) == 2 * len(lines) + 1, result.stderr.decode("utf-8", "replace")
    pairs = []
    for i in range(len(lines)):
        full, exact = out[2 * i], out[2 * i + 1]
        assert full[:1] == "A" and exact[:1] == "E"
        pairs.append((_parse(full[1:]), _parse(exact[1:])))
    return pairs


def _clean(line: str) -> str:
    # Lone surrogates (from JSON escapes) cannot be encoded; both sides get the same replacement.
    return line.encode("utf-8", "replace").decode("utf-8")


def _tuples(tokens: list) -> list[TokenTuple]:
    return [(t.term, t.start, t.end, t.position) for t in tokens]


def compare(command: list[str], lines: list[str]) -> tuple[int, int]:
    """Assert identical tokens on every line; return (lines, tokens) compared."""
    expected = run_lucene(command, lines)
    mismatches = []
    tokens = 0
    for line, (lucene_full, lucene_exact) in zip(lines, expected):
        ours_full, ours_exact = _tuples(analyze(line)), _tuples(analyze_exact(line))
        tokens += len(lucene_full) + len(lucene_exact)
        # The indexing fast paths must give the same terms (they have their own code and caches).
        terms_only = [
            (
                "analyze_terms",
                [(t, 0, 0, 0) for t in analyze_terms(line)],
                [(t[0], 0, 0, 0) for t in lucene_full],
            ),
            (
                "analyze_exact_terms",
                [(t, 0, 0, 0) for t in analyze_exact_terms(line)],
                [(t[0], 0, 0, 0) for t in lucene_exact],
            ),
        ]
        for chain, ours, theirs in (
            ("analyze", ours_full, lucene_full),
            ("analyze_exact", ours_exact, lucene_exact),
            *terms_only,
        ):
            if ours != theirs:
                first = next(
                    (i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs))
                )
                mismatches.append(
                    f"{chain} on {line[:200]!r}\n  first difference at token {first}:"
                    f"\n  ours:   {ours[first : first + 3]}\n  lucene: {theirs[first : first + 3]}"
                )
    if mismatches:
        pytest.fail(
            f"{len(mismatches)} of {4 * len(lines)} analyses differ from Lucene; first ones:\n"
            + "\n".join(mismatches[:8])
        )
    return len(lines), tokens


def seed_lines(seeds_dir: Path) -> list[str]:
    lines: list[str] = []
    for path in sorted(seeds_dir.glob("*.txt")):
        lines.extend(_clean(line) for line in path.read_text(encoding="utf-8").split("\n"))
    return lines


def news_lines(news_dir: Path) -> Iterator[str]:
    """Title and body lines of every article, in file order."""
    for path in sorted(news_dir.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for raw in handle:
                record = json.loads(raw)
                yield from (record.get("title") or "").split("\n")
                yield from (record.get("text") or record.get("content") or "").split("\n")


def sample_news_lines(news_dir: Path, count: int) -> list[str]:
    """A deterministic uniform sample of non-empty lines (reservoir sampling with a fixed seed)."""
    rng = random.Random(SAMPLE_SEED)
    sample: list[str] = []
    seen = 0
    for line in news_lines(news_dir):
        if not line.strip():
            continue
        seen += 1
        if len(sample) < count:
            sample.append(line)
        else:
            slot = rng.randrange(seen)
            if slot < count:
                sample[slot] = line
    return [_clean(line) for line in sample]


# Hand-picked lines exercising the tokenizer's rules (UAX #29) and every filter's corner cases.
EDGE_LINES = [
    "الكتاب والمدرسة بالقلم فالبيت كالأسد للطلاب وكتب و3.5",
    "مُحَمَّدٌ أَحْمَدُ إِلَى مَكْتَبَةٌ  كتــــاب ــــ ـب بـ ٱلله ٱلرَّحمٰن بٰت ٔا",
    "١٢٣ ۴۵ ١٫٥ ١٬٠٠٠ 106,78 3.5 1,000.5 1,,2 1،5 ١،٥ ٫ a1b2 1.a a.1",
    "can't U.S.A. a:b a·b a’b a‘b a\"b a..b .a a. foo_bar ___ _ _a a_ _1 1_ 1_a",
    "ΟΔΟΣ İstanbul ÀÉÎ ǅ Straße ﷲ ﻻ ﷺ 𝐀𝐁 a\u200db ب\u200cت ب\u200fت",
    "😀 👍🏽 © ©️ ❤ ❤️ 🇸🇦 1️⃣ #️⃣ 👨‍👩‍👧 🏳️‍🌈 ★ ☆ ™ a🏻 🏻 🇸 🥰 🫠",
    "ℹ ℹa aℹ Ⓜ 🅰 🅰️ 🅰a ℹ️ aℹ️ 🏻🏻 😀🏻 ☝🏻 😀\u200d 😀\u200da a\u200d😀 😀\u0301 ☺\ufe0e #⃣ 1⃣ 1️⃣2 🇸🇦🇸🇦 😀️ ❤️❤️ 1️⃣1️⃣ ١️⃣",
    "中文 ひらがな カタカナ ไทย 한국어 שָׁלוֹם ש\"ב ש'",
    "a" * 300 + " " + "ب" * 254 + "\u064e" * 3 + "ت",
]


def test_edge_lines_match_lucene(lucene: list[str]) -> None:
    compare(lucene, EDGE_LINES)


# Every assigned code point alone and inside Latin, digit and Arabic words: catches any character whose
# word-break class, case mapping or digit value differs from Lucene's (Unicode 9 word-break data).
CODE_POINT_CONTEXTS = ("X", "aXb", "1X2", "بXت", "X\u200d👨")


def every_code_point_lines() -> list[str]:
    lines: list[str] = []
    for code in range(0x20, 0x110000):
        char = chr(code)
        if char == "\n" or unicodedata.category(char) in ("Cn", "Co", "Cs"):
            continue
        lines.extend(context.replace("X", char) for context in CODE_POINT_CONTEXTS)
    return lines


def test_every_code_point_matches_lucene(lucene: list[str]) -> None:
    lines, _ = compare(lucene, every_code_point_lines())
    print(f"code points: {lines} lines identical to Lucene")


def test_seed_pages_match_lucene(lucene: list[str], seeds_dir: Path) -> None:
    lines, tokens = compare(lucene, seed_lines(seeds_dir))
    print(
        f"seeds: {lines} lines, {tokens} tokens (ArabicAnalyzer and exact chain together) identical to Lucene"
    )


def test_news_sample_matches_lucene(lucene: list[str], shared_dir: Path) -> None:
    news_dir = shared_dir / "corpus" / "news"
    if not any(news_dir.glob("*.jsonl.gz")):
        pytest.skip(f"news corpora not found in {news_dir}")
    lines, tokens = compare(lucene, sample_news_lines(news_dir, NEWS_SAMPLE_LINES))
    print(
        f"news sample: {lines} lines, {tokens} tokens (ArabicAnalyzer and exact chain together) identical to Lucene"
    )
