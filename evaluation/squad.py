"""Read SQuAD-format QA files into questions and the gold paragraphs they are answered from.

Each distinct paragraph becomes one article with a stable id derived from its text, so the same
paragraph asked about in two files is indexed once and every question points at that one article.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from indexer.models import Article


class QAFileError(ValueError):
    """A QA file that cannot be read as SQuAD: names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class Question:
    dataset: str
    id: str
    text: str
    answers: tuple[str, ...]
    impossible: bool
    gold_article_id: str


@dataclass(frozen=True, slots=True)
class GoldParagraph:
    article_id: str
    dataset: str
    title: str
    text: str


@dataclass(slots=True)
class QASet:
    """Every question of the QA files, and the distinct gold paragraphs in first-seen order."""

    questions: list[Question]
    paragraphs: list[GoldParagraph]

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(q.dataset for q in self.questions))


def dataset_name(path: Path) -> str:
    """`../shared/eval/arcd.json` is called `arcd` in reports."""
    name = path.name
    for suffix in (".gz", ".json"):
        name = name.removesuffix(suffix)
    return name


def context_key(context: str) -> str:
    """Paragraphs that differ only in surrounding white space are the same paragraph."""
    normalised = " ".join(context.split())
    return hashlib.blake2b(normalised.encode(), digest_size=8).hexdigest()


def gold_article_id(dataset: str, context: str) -> str:
    return f"gold-{dataset}-{context_key(context)}"


def parse_squad(document: object, dataset: str, origin: str) -> tuple[list[Question], list[GoldParagraph]]:
    """Questions and paragraphs of one SQuAD document (v1.1 or v2 with `is_impossible`)."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise QAFileError(f"{origin}: not SQuAD format (expected an object with a 'data' list)")
    questions: list[Question] = []
    paragraphs: list[GoldParagraph] = []
    for a, entry in enumerate(document["data"]):
        title = str(entry.get("title", "")).strip() if isinstance(entry, dict) else ""
        items = entry.get("paragraphs") if isinstance(entry, dict) else None
        if not isinstance(items, list):
            raise QAFileError(f"{origin}: data[{a}] has no 'paragraphs' list")
        for p, paragraph in enumerate(items):
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            if not isinstance(context, str) or not context.strip():
                raise QAFileError(f"{origin}: data[{a}].paragraphs[{p}] has no 'context' text")
            article_id = gold_article_id(dataset, context)
            paragraphs.append(GoldParagraph(article_id, dataset, title, context.strip()))
            for q, qa in enumerate(paragraph.get("qas") or []):
                text = qa.get("question") if isinstance(qa, dict) else None
                if not isinstance(text, str) or not text.strip():
                    raise QAFileError(f"{origin}: data[{a}].paragraphs[{p}].qas[{q}] has no 'question'")
                answers = tuple(
                    dict.fromkeys(
                        str(ans["text"]).strip()
                        for ans in qa.get("answers") or []
                        if isinstance(ans, dict) and str(ans.get("text", "")).strip()
                    )
                )
                impossible = bool(qa.get("is_impossible", False))
                if not answers and not impossible:
                    raise QAFileError(
                        f"{origin}: question {qa.get('id', q)!r} has no answer text "
                        "and is not marked is_impossible"
                    )
                questions.append(
                    Question(
                        dataset,
                        str(qa.get("id", f"{a}.{p}.{q}")),
                        " ".join(text.split()),
                        answers,
                        impossible,
                        article_id,
                    )
                )
    return questions, paragraphs


def load_qa_files(paths: list[Path]) -> QASet:
    """All questions of the files; identical paragraphs (across files too) collapse to one article."""
    questions: list[Question] = []
    by_key: dict[str, GoldParagraph] = {}
    renamed: dict[str, str] = {}
    names = [dataset_name(path) for path in paths]
    if len(set(names)) != len(names):
        raise QAFileError(f"QA files must have distinct names, got {', '.join(map(str, paths))}")
    for path, name in zip(paths, names):
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise QAFileError(f"{path}: QA file not found") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise QAFileError(f"{path}: not a JSON file ({error})") from None
        file_questions, file_paragraphs = parse_squad(document, name, str(path))
        for paragraph in file_paragraphs:
            key = context_key(paragraph.text)
            first = by_key.setdefault(key, paragraph)
            renamed[paragraph.article_id] = first.article_id
        questions.extend(file_questions)
    questions = [
        q
        if renamed[q.gold_article_id] == q.gold_article_id
        else Question(q.dataset, q.id, q.text, q.answers, q.impossible, renamed[q.gold_article_id])
        for q in questions
    ]
    return QASet(questions, list(by_key.values()))


def gold_articles(qa: QASet) -> list[Article]:
    """The gold paragraphs as articles: the QA set's title (a Wikipedia page name) becomes the title."""
    return [
        Article(
            id=p.article_id,
            title=p.title,
            text=p.text,
            source=f"eval-{p.dataset}",
            origin=f"{p.dataset}:{p.article_id}",
        )
        for p in qa.paragraphs
    ]
