"""`isnad eval`: open-domain QA evaluation of search and answers over gold paragraphs hidden among news.

Every gold paragraph of the QA files becomes an article, indexed with N distractor news articles; every
question then goes through the JSON API (GET /api/v1/search and POST /api/v1/ask, in process) in each mode,
and the ranks of the gold article and the answers are scored (see metrics.py).

The distractor index is the slow part (embedding), so it is cached (cache.py): `distractors-<key>` holds the
distractors alone, and `run-<key>` a copy of it with the gold paragraphs of these QA files added. A second
run with the same inputs indexes nothing; new QA files cost only their own paragraphs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from evaluation import indexing
from evaluation.cache import (
    DEFAULT_CACHE_ROOT,
    cache_key,
    copy_index,
    file_fingerprint,
    index_identity,
    is_complete,
    mark_complete,
    read_complete,
)
from evaluation.distractors import neutral_titles, sample_articles, write_jsonl
from evaluation.lucene_peer import PEERS, lucene_command, lucene_rankings
from evaluation.machine import code_version, machine_info
from evaluation.metrics import (
    MODES,
    Outcome,
    contains_answer,
    fusion_diagnostics,
    gold_rank,
    summarise_groups,
)
from evaluation.report import ANSWER_MODEL_COLUMNS, EVAL_COLUMNS, FUSION_COLUMNS, markdown_table, write_json
from evaluation.squad import QASet, Question, gold_articles, load_qa_files
from indexer.models import Article
from indexer.settings import PROJECT_ROOT
from retrieval import answer_model

TITLES = ("keep", "neutral")
Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(slots=True)
class EvalOptions:
    qa_files: list[Path]
    distractors: Path
    distractor_limit: int | None = 10000
    modes: tuple[str, ...] = MODES
    ask_modes: tuple[str, ...] = MODES
    out: Path | None = None
    cache_root: Path = DEFAULT_CACHE_ROOT
    max_questions: int | None = None  # per dataset, for quick runs
    ask_max_questions: int | None = None  # per dataset: answers composed for the first N questions only
    peers: tuple[str, ...] = ()  # other engines ranking the same corpus and questions (PEERS)
    titles: str = "keep"  # "neutral": every title replaced by its source's name (TITLES)
    # Stories are not collapsed by default: the gold is one article, Lucene's rows and the fusion sweep rank
    # uncollapsed articles, and collapsing would hide a gold paragraph under a near-copy gold of another set
    # (README "Quality").
    collapse: str = "none"
    command: str = ""
    log: Log = field(default=_stderr)


def _settings_for(settings: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    return {**settings, "data.dir": str(data_dir)}


def needs_vectors(options: EvalOptions) -> bool:
    """Keyword-only runs (search and answers) skip embedding the corpus, which is the slow part."""
    return any(mode != "keyword" for mode in (*options.modes, *options.ask_modes))


def build_distractor_index(options: EvalOptions, settings: dict[str, Any]) -> Path:
    """The cached index of the distractor sample alone; built (or resumed) when missing."""
    parts = {
        "distractors": file_fingerprint(options.distractors),
        "limit": options.distractor_limit,
        **index_identity(settings),
    }
    if not needs_vectors(options):
        parts["vectors"] = False
    if options.titles != "keep":
        parts["titles"] = options.titles
    folder = options.cache_root / "isnad-eval" / f"distractors-{cache_key(parts)}"
    if is_complete(folder):
        options.log(f"distractor index: cached in {folder}")
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inputs.json").write_text(
        json.dumps(parts, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    sample = folder / "distractors.jsonl"
    if not sample.exists():
        options.log(f"sampling {options.distractor_limit or 'all'} distractors from {options.distractors} …")
        articles = sample_articles(indexing.read_articles(options.distractors), options.distractor_limit)
        write_jsonl(_titled(articles, options.titles), sample)
    options.log(f"indexing distractors into {folder / 'data'} (resumable: run again after an interruption) …")
    started = time.perf_counter()
    counts = _index_reusing_vectors(options, _settings_for(settings, folder / "data"), sample)
    mark_complete(
        folder,
        {
            "inputs": parts,
            "counts": counts,
            "seconds": round(time.perf_counter() - started, 1),
            "built": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return folder


def _index_reusing_vectors(options: EvalOptions, settings: dict[str, Any], path: Path) -> dict[str, int]:
    """Keyword phase, then vectors copied from other cached indexes, then embedding of the rest."""
    data = Path(settings["data.dir"])
    indexing.index_files(settings, [path], embed=False)
    if not needs_vectors(options):
        return indexing.counts(settings)
    reused = indexing.reuse_embeddings(
        settings, indexing.embedding_donors(options.cache_root, settings, data)
    )
    if reused:
        options.log(f"reused {reused} vectors of identical passages from other cached indexes")
    indexing.index_files(settings, [], embed=True)
    return indexing.counts(settings)


def _titled(articles: Sequence[Article], titles: str) -> Sequence[Article]:
    """The articles with their titles as `--titles` asks: kept, or all replaced by the source's name."""
    return neutral_titles(articles) if titles == "neutral" else articles


def build_eval_index(options: EvalOptions, settings: dict[str, Any], qa: QASet) -> Path:
    """A copy of the distractor index with the gold paragraphs of the chosen questions added; cached too."""
    base = build_distractor_index(options, settings)
    parts = {
        "base": base.name,
        "qa": [file_fingerprint(path) for path in options.qa_files],
        "max_questions": options.max_questions,
    }
    folder = options.cache_root / "isnad-eval" / f"run-{cache_key(parts)}"
    if is_complete(folder):
        options.log(f"evaluation index: cached in {folder}")
        # A keyword index made with an older schema or analyzer is rebuilt from SQLite (seconds, no embedding).
        indexing.index_files(_settings_for(settings, folder / "data"), [], embed=False)
        return folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "data").exists():
        copy_index(base / "data", folder / "data")
    gold = folder / "gold.jsonl"
    write_jsonl(_titled(gold_articles(qa), options.titles), gold)
    options.log(f"indexing {len(qa.paragraphs)} gold paragraphs into {folder / 'data'} …")
    counts = _index_reusing_vectors(options, _settings_for(settings, folder / "data"), gold)
    mark_complete(
        folder, {"inputs": parts, "counts": counts, "built": datetime.now(UTC).isoformat(timespec="seconds")}
    )
    return folder / "data"


def missing_gold(settings: dict[str, Any], qa: QASet) -> set[str]:
    """Gold articles the index does not hold (e.g. dropped as duplicates): their questions cannot be found."""
    held = indexing.held_articles(settings, [p.article_id for p in qa.paragraphs])
    return {p.article_id for p in qa.paragraphs} - held


class ApiClient:
    """The JSON API in process, through Flask's test client: the same views, parsing and services as HTTP."""

    def __init__(self, settings: dict[str, Any], collapse: str = "none") -> None:
        self.collapse = collapse
        self.app = indexing.make_app(settings)
        self.client = self.app.test_client()
        self.docs = indexing.app_documents(self.app)

    def search(self, question: str, mode: str) -> tuple[list[str], list[str], float]:
        """Article ids of the first ten results, texts of the first five results' passages, and ms taken."""
        started = time.perf_counter()
        response = self.client.get(
            "/api/v1/search",
            query_string={"q": question, "mode": mode, "size": 10, "collapse": self.collapse},
        )
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(
                f"search {mode} {question!r}: HTTP {response.status_code} {response.get_data(True)[:300]}"
            )
        results = response.get_json()["results"]
        ids = [int(r["passage_id"]) for r in results[:5]]
        found = self.docs.get_passages(ids)
        texts = [found[pid].text for pid in ids if pid in found]
        return [str(r["article_id"]) for r in results], texts, elapsed

    def ask(self, question: str, mode: str) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        response = self.client.post("/api/v1/ask", json={"question": question, "mode": mode})
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(
                f"ask {mode} {question!r}: HTTP {response.status_code} {response.get_data(True)[:300]}"
            )
        return response.get_json(), elapsed

    def close(self) -> None:
        indexing.close_app(self.app)


def score_question(api: ApiClient, question: Question, mode: str, ask: bool) -> Outcome:
    article_ids, top5, search_ms = api.search(question.text, mode)
    outcome = Outcome(
        question.dataset,
        mode,
        question.id,
        question.impossible,
        gold_rank(article_ids, question.gold_article_id),
        contains_answer(" \n ".join(top5), question.answers),
        answered=True,
        answer_in_answer=False,
        cited_gold=False,
        search_ms=round(search_ms, 1),
    )
    if ask:
        outcome.asked = True
        reply, ask_ms = api.ask(question.text, mode)
        outcome.answered = bool(reply.get("answered"))
        outcome.answer_in_answer = outcome.answered and contains_answer(
            str(reply.get("answer", "")), question.answers
        )
        outcome.cited_gold = any(
            str(c.get("article_id")) == question.gold_article_id for c in reply.get("citations") or []
        )
        outcome.ask_ms = round(ask_ms, 1)
    return outcome


def peer_outcomes(
    peer: str, options: EvalOptions, settings: dict[str, Any], questions: Sequence[Question]
) -> list[Outcome]:
    """Every question ranked by a peer engine over the articles of the evaluation index (whole articles:
    "answer in top-5" then looks in the five best articles' titles and bodies)."""
    if peer != "lucene":
        raise ValueError(f"unknown peer {peer!r}; valid: {', '.join(PEERS)}")
    started = time.perf_counter()
    articles = indexing.all_articles(settings)
    command = lucene_command(options.cache_root)
    rankings = lucene_rankings(
        command, ((a.id, a.title, a.text) for a in articles.values()), [q.text for q in questions]
    )
    per_question_ms = (time.perf_counter() - started) * 1000 / max(1, len(questions))
    options.log(
        f"peer lucene: {len(articles)} articles, {len(questions)} questions, "
        f"{time.perf_counter() - started:.0f} s"
    )
    outcomes = []
    for question, ranking in zip(questions, rankings, strict=True):
        top5 = " \n ".join(
            f"{articles[aid].title}\n{articles[aid].text}" for aid in ranking[:5] if aid in articles
        )
        outcomes.append(
            Outcome(
                question.dataset,
                peer,
                question.id,
                question.impossible,
                gold_rank(ranking, question.gold_article_id),
                contains_answer(top5, question.answers),
                answered=True,
                answer_in_answer=False,
                cited_gold=False,
                search_ms=round(per_question_ms, 1),
            )
        )
    return outcomes


def restrict(qa: QASet, per_dataset: int | None) -> QASet:
    """The first `per_dataset` questions of each QA file and only their gold paragraphs (quick runs)."""
    if per_dataset is None:
        return qa
    taken: dict[str, int] = {}
    chosen = []
    for question in qa.questions:
        if taken.get(question.dataset, 0) < per_dataset:
            taken[question.dataset] = taken.get(question.dataset, 0) + 1
            chosen.append(question)
    wanted = {q.gold_article_id for q in chosen}
    return QASet(chosen, [p for p in qa.paragraphs if p.article_id in wanted])


def run_eval(options: EvalOptions, settings: dict[str, Any]) -> dict[str, Any]:
    """Build or reuse the index, ask every question in every mode, print the table, write the report."""
    qa = restrict(load_qa_files(options.qa_files), options.max_questions)
    if "lucene" in options.peers:
        lucene_command(options.cache_root)  # fail before the long part when no JDK or Lucene is installed
    data_dir = build_eval_index(options, settings, qa)
    run_settings = _settings_for(settings, data_dir)
    absent = missing_gold(run_settings, qa)
    if absent:
        options.log(
            f"warning: {len(absent)} gold paragraphs are not in the index; their questions count as misses"
        )
    questions = qa.questions
    api = ApiClient(run_settings, options.collapse)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    try:
        for mode in options.modes:
            asked: dict[str, int] = {}
            mode_started = time.perf_counter()
            for n, question in enumerate(
                tqdm(
                    questions, desc=f"eval {mode}", unit="q", file=sys.stderr, disable=not sys.stderr.isatty()
                ),
                start=1,
            ):
                ask = mode in options.ask_modes and (
                    options.ask_max_questions is None
                    or asked.get(question.dataset, 0) < options.ask_max_questions
                )
                asked[question.dataset] = asked.get(question.dataset, 0) + ask
                outcomes.append(score_question(api, question, mode, ask))
                if n % 100 == 0 and not sys.stderr.isatty():
                    options.log(
                        f"eval {mode}: {n}/{len(questions)} questions, "
                        f"{time.perf_counter() - mode_started:.0f} s"
                    )
    finally:
        api.close()
    for peer in options.peers:
        outcomes.extend(peer_outcomes(peer, options, run_settings, questions))
    rows = summarise_groups(outcomes, qa.datasets(), (*options.modes, *options.peers))
    table = markdown_table(rows, EVAL_COLUMNS)
    fusion = fusion_diagnostics(outcomes, qa.datasets())
    if fusion:
        table += "\n\n" + markdown_table(fusion, FUSION_COLUMNS)
    held_out = answer_model_folds() if options.ask_modes else []
    if held_out:
        # The asks above use the shipped model, fitted on all three shared sets: in-sample for them.
        # Its held-out figures come from its training (each set scored by a model fitted on the other two).
        table += (
            f"\n\nanswer model {held_out[0]['version']}, held-out folds from `make train-answers` "
            f"(the asks above are in-sample for the shared sets):\n"
            + markdown_table(held_out, ANSWER_MODEL_COLUMNS)
        )
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": options.command,
        "machine": machine_info(),
        "code": code_version(PROJECT_ROOT),
        "qa_files": [str(p) for p in options.qa_files],
        "distractors": {"file": str(options.distractors), "limit": options.distractor_limit},
        "index": {"data_dir": str(data_dir), **read_complete(data_dir.parent)},
        "questions": len(questions),
        "max_questions_per_file": options.max_questions,
        "ask_max_questions_per_file": options.ask_max_questions,
        "gold_paragraphs": len(qa.paragraphs),
        "gold_missing_from_index": sorted(absent),
        "settings": {
            k: v
            for k, v in settings.items()
            if k.split(".")[0] in ("search", "answer", "embedder", "vectors")
        },
        "modes": list(options.modes),
        "peers": list(options.peers),
        "titles": options.titles,
        "collapse": options.collapse,
        "ask_modes": list(options.ask_modes),
        "seconds": round(time.perf_counter() - started, 1),
        "results": rows,
        "fusion_top5": fusion,
        "answer_model_held_out": held_out,
        "table": table,
    }
    if options.out:
        write_json(options.out, report)
        details = options.out.with_suffix(".questions.jsonl")
        details.write_text(
            "".join(json.dumps(o.to_json(), ensure_ascii=False) + "\n" for o in outcomes), encoding="utf-8"
        )
    return report


def answer_model_folds() -> list[dict[str, Any]]:
    """The shipped answer model's held-out rows (one per set, then all pooled), empty when it has none."""
    try:
        data = json.loads(answer_model.MODEL_FILE.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []  # asking reports the unreadable model itself, naming the file
    rows = [{**fold, "version": data.get("version")} for fold in data.get("folds", [])]
    if "out_of_fold" in data:
        rows.append({**data["out_of_fold"], "held_out": "all (out of fold)", "version": data.get("version")})
    return rows


def parse_peers(text: str) -> tuple[str, ...]:
    """`--peers lucene` (comma-separated; 'none' or empty for no peer)."""
    if text.strip() in ("", "none"):
        return ()
    peers = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        raise ValueError(f"--peers: unknown peer {', '.join(unknown)}; valid: {', '.join(PEERS)}")
    return peers


def parse_modes(text: str, allowed: Sequence[str] = MODES, allow_none: bool = False) -> tuple[str, ...]:
    if allow_none and text.strip() == "none":
        return ()
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in modes if m not in allowed]
    if unknown or not modes:
        raise ValueError(
            f"--modes: unknown mode {', '.join(unknown) or '(none)'}; valid: {', '.join(allowed)}"
        )
    return modes
