"""The Lucene peer of `isnad eval`: the same corpus and questions ranked by real Lucene BM25 (Debian's jars).

`LucenePeer.java` (beside this module) is compiled with javac against Debian's `liblucene8-java` into the
evaluation cache the first time, then run once per evaluation: it indexes every article of the evaluation
index as one document (title + body, ArabicAnalyzer, BM25 k1 1.2 b 0.75) in memory and prints the best
article ids for every question. That is what a user who picks Lucene or Elasticsearch out of the box gets,
so every Isnad figure is printed beside it.
"""

from __future__ import annotations

import glob
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

JAVA_SOURCE = Path(__file__).parent / "lucene" / "LucenePeer.java"
JAR_DIR = Path("/usr/share/java")
JARS = ("lucene-core", "lucene-analyzers-common")
PEERS = ("lucene",)


class PeerUnavailable(RuntimeError):
    """The peer cannot run here (no JDK or no Lucene jars); the message says what to install."""


def _jar(prefix: str, jar_dir: Path) -> str | None:
    found = sorted(glob.glob(str(jar_dir / f"{prefix}-8*.jar"))) or sorted(
        glob.glob(str(jar_dir / f"{prefix}-*.jar"))
    )
    return found[-1] if found else None


def lucene_command(cache_root: Path, jar_dir: Path = JAR_DIR) -> list[str]:
    """The java command line that runs LucenePeer, compiling it into the cache first when needed."""
    missing = [tool for tool in ("java", "javac") if shutil.which(tool) is None]
    if missing:
        raise PeerUnavailable(
            f"--peers lucene needs {' and '.join(missing)} (apt-get install default-jdk-headless, "
            "or `make system-deps`)"
        )
    jars = [_jar(prefix, jar_dir) for prefix in JARS]
    if None in jars:
        raise PeerUnavailable(
            f"--peers lucene needs Lucene 8's jars in {jar_dir} (apt-get install liblucene8-java, "
            "or `make system-deps`)"
        )
    classpath = ":".join(str(jar) for jar in jars)
    # Keyed by the source and the jars, so an edited program or an upgraded Lucene compiles afresh.
    key = hashlib.blake2b(
        (JAVA_SOURCE.read_text(encoding="utf-8") + classpath).encode(), digest_size=8
    ).hexdigest()
    classes = cache_root / "lucene-peer" / key
    if not (classes / "LucenePeer.class").is_file():
        classes.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=classes.parent))
        result = subprocess.run(
            ["javac", "-encoding", "UTF-8", "-d", str(building), "-cp", classpath, str(JAVA_SOURCE)],
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            raise PeerUnavailable(f"javac could not compile {JAVA_SOURCE}:\n{result.stderr.strip()}")
        if classes.exists():  # another run compiled it meanwhile
            shutil.rmtree(building, ignore_errors=True)
        else:
            building.replace(classes)
    return ["java", "-cp", f"{classes}:{classpath}", "LucenePeer"]


def _one_line(text: str) -> str:
    # Tabs separate fields and line ends separate records; to the tokenizer they are spaces like any other.
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def lucene_rankings(
    command: Sequence[str],
    documents: Iterable[tuple[str, str, str]],
    questions: Sequence[str],
    depth: int = 10,
) -> list[list[str]]:
    """Best document ids (up to `depth`) for each question, from one JVM over (id, title, body) documents."""
    with tempfile.TemporaryDirectory(prefix="isnad-lucene-") as folder:
        docs_path, questions_path = Path(folder) / "docs.tsv", Path(folder) / "questions.txt"
        with open(docs_path, "w", encoding="utf-8") as handle:
            handle.writelines(
                f"{_one_line(doc_id)}\t{_one_line(title)}\t{_one_line(body)}\n"
                for doc_id, title, body in documents
            )
        questions_path.write_text("".join(_one_line(q) + "\n" for q in questions), encoding="utf-8")
        result = subprocess.run(
            [*command, str(docs_path), str(questions_path), str(depth)], check=False, capture_output=True
        )
    if result.returncode != 0:
        raise PeerUnavailable(
            f"the Lucene peer failed (exit {result.returncode}):\n"
            f"{result.stderr.decode('utf-8', 'replace').strip()[-2000:]}"
        )
    lines = result.stdout.decode("utf-8").split("\n")
    if len(lines) != len(questions) + 1 or lines[-1] != "":
        raise PeerUnavailable(
            f"the Lucene peer printed {len(lines) - 1} rankings for {len(questions)} questions"
        )
    return [line.split("\t") if line else [] for line in lines[:-1]]
