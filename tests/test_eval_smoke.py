"""Smoke test of `isnad eval` on a tiny input: five questions among twenty distractors, real stores and model."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from cli.main import main
from retrieval import answer_model

# Five paragraphs we wrote, each with a question whose words appear in it (so keyword search ranks it first).
GOLD = [
    (
        "مدينة فاس",
        (
            "تأسست مدينة فاس المغربية في القرن الثامن الميلادي على يد إدريس الثاني، وتضم جامعة القرويين "
            "التي يعدها كثيرون أقدم جامعة ما زالت تعمل في العالم. وتشتهر المدينة القديمة بدباغة الجلود وأسواقها الضيقة."
        ),
        "من أسس مدينة فاس المغربية؟",
        "إدريس الثاني",
    ),
    (
        "نهر النيل",
        (
            "يبلغ طول نهر النيل نحو ستة آلاف وستمائة كيلومتر، ويجري من بحيرة فكتوريا شمالا حتى يصب في البحر "
            "المتوسط عند دلتا مصر. وقد قامت على ضفافه حضارة المصريين القدماء التي اعتمدت على فيضانه السنوي."
        ),
        "أين يصب نهر النيل؟",
        "البحر المتوسط",
    ),
    (
        "القهوة العربية",
        (
            "تقدم القهوة العربية في فناجين صغيرة مع التمر، وتحمص حبوبها تحميصا خفيفا وتضاف إليها "
            "حبات الهيل. وأدرجت منظمة اليونسكو القهوة العربية في قائمة التراث الثقافي غير المادي عام 2015."
        ),
        "متى أدرجت اليونسكو القهوة العربية في قائمة التراث؟",
        "2015",
    ),
    (
        "الخوارزمي",
        (
            "يعد محمد بن موسى الخوارزمي من أبرز علماء الرياضيات في بغداد زمن المأمون، وإليه ينسب علم "
            "الجبر الذي أخذ اسمه من كتابه المختصر في حساب الجبر والمقابلة، ومن اسمه اشتقت كلمة الخوارزمية."
        ),
        "ما الكتاب الذي ألفه الخوارزمي في الجبر؟",
        "المختصر في حساب الجبر والمقابلة",
    ),
    (
        "البتراء",
        (
            "تقع مدينة البتراء الأثرية في جنوب الأردن، وقد نحتها الأنباط في الصخر الوردي قبل أكثر من ألفي "
            "عام، واختيرت عام 2007 واحدة من عجائب الدنيا السبع الجديدة."
        ),
        "من نحت مدينة البتراء في الصخر الوردي؟",
        "الأنباط",
    ),
]
TOPICS = ["الاقتصاد", "الرياضة", "الطقس", "التعليم", "الصحة"]
PLACES = ["عمان", "الرياض", "القاهرة", "تونس"]


def squad_file(path: Path) -> Path:
    data = [
        {
            "title": title,
            "paragraphs": [
                {
                    "context": context,
                    "qas": [
                        {
                            "id": f"q{n}",
                            "question": question,
                            "answers": [{"text": answer, "answer_start": context.find(answer)}],
                        },
                    ],
                }
            ],
        }
        for n, (title, context, question, answer) in enumerate(GOLD)
    ]
    path.write_text(json.dumps({"version": "1.1", "data": data}, ensure_ascii=False), encoding="utf-8")
    return path


def distractor_file(path: Path, count: int = 20) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for n in range(count):
            topic, place = TOPICS[n % len(TOPICS)], PLACES[n % len(PLACES)]
            text = (
                f"أعلنت السلطات في {place} اليوم عن خطة جديدة في مجال {topic} تشمل عددا من المشروعات. "
                f"وقال مسؤول إن الخطة رقم {n} ستنفذ خلال العام المقبل بتمويل حكومي. "
                f"ورحب المواطنون في {place} بالخطة وطالبوا بسرعة التنفيذ."
            )
            handle.write(
                json.dumps(
                    {
                        "title": f"خطة {topic} في {place} رقم {n}",
                        "text": text,
                        "src": "وكالة",
                        "url": f"https://example.org/{n}",
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    return path


def run_eval(tmp_path: Path, modes: str, *extra: str) -> dict:
    out = tmp_path / "out" / f"report-{modes.replace(',', '-')}.json"
    code = main(
        [
            "eval",
            "--qa",
            str(squad_file(tmp_path / "tiny-qa.json")),
            "--distractors",
            str(distractor_file(tmp_path / "news.jsonl.gz")),
            "--distractor-limit",
            "20",
            "--modes",
            modes,
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(out),
            *extra,
        ]
    )
    assert code == 0
    return json.loads(out.read_text(encoding="utf-8"))


def rows_by(report: dict) -> dict[tuple[str, str], dict]:
    return {(row["dataset"], row["mode"]): row for row in report["results"]}


def test_keyword_eval_report_and_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = run_eval(tmp_path, "keyword")
    table = capsys.readouterr().out
    assert "| dataset | mode |" in table and "tiny-qa" in table
    assert report["index"]["counts"]["articles"] == 25  # 20 distractors + 5 gold paragraphs
    assert report["index"]["counts"]["vectors"] == 0  # keyword-only runs skip embedding the corpus
    assert report["gold_missing_from_index"] == []
    rows = rows_by(report)
    assert set(rows) == {("tiny-qa", "keyword"), ("all", "keyword")}
    row = rows[("tiny-qa", "keyword")]
    assert row["questions"] == 5
    # Every question shares rare words with its paragraph only: BM25 must put the paragraph first.
    assert row["recall@1"] == 1.0 and row["mrr@10"] == 1.0
    assert row["answer_in_top5"] == 1.0
    assert 0.0 <= row["abstention_rate"] <= 1.0
    assert 0.0 <= row["answer_in_answer"] <= 1.0
    details = (tmp_path / "out" / "report-keyword.questions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(details) == 5 and json.loads(details[0])["rank"] == 1

    # A second run finds both cached indexes and indexes nothing.
    marker = Path(report["index"]["data_dir"]).parent / "complete.json"
    built = marker.stat().st_mtime_ns
    again = run_eval(tmp_path, "keyword", "--ask-modes", "none")
    assert marker.stat().st_mtime_ns == built
    assert rows_by(again)[("tiny-qa", "keyword")]["recall@1"] == 1.0
    assert rows_by(again)[("tiny-qa", "keyword")]["answer_in_answer"] is None  # search only


def test_all_modes_on_tiny_data(tmp_path: Path) -> None:
    report = run_eval(tmp_path, "keyword,semantic,hybrid", "--ask-modes", "hybrid")
    assert report["index"]["counts"]["vectors"] == report["index"]["counts"]["passages"] > 0
    rows = rows_by(report)
    for mode in ("keyword", "semantic", "hybrid"):
        row = rows[("tiny-qa", mode)]
        assert row["questions"] == 5
        # Five distinct topics among look-alike distractors: every mode finds each paragraph in its top five.
        assert row["recall@5"] == 1.0, mode
    assert rows[("tiny-qa", "keyword")]["answer_in_answer"] is None  # answers scored in hybrid only
    assert rows[("tiny-qa", "hybrid")]["answer_in_answer"] is not None
    # Beside the in-sample asks, the shipped answer model's held-out folds: one row per shared set and all pooled.
    shipped = json.loads(answer_model.MODEL_FILE.read_text(encoding="utf-8"))
    held_out = report["answer_model_held_out"]
    assert [r["held_out"] for r in held_out] == [f["held_out"] for f in shipped["folds"]] + [
        "all (out of fold)"
    ]
    assert held_out[-1]["right"] == shipped["out_of_fold"]["right"]
    assert f"answer model {shipped['version']}, held-out folds" in report["table"]


def test_bad_arguments_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qa = squad_file(tmp_path / "qa.json")
    assert main(["eval", "--qa", str(qa), "--distractors", str(tmp_path / "none.jsonl.gz")]) == 2
    assert "none.jsonl.gz: file not found" in capsys.readouterr().err
    news = distractor_file(tmp_path / "news.jsonl.gz")
    assert main(["eval", "--qa", str(qa), "--distractors", str(news), "--modes", "fuzzy"]) == 2
    assert "unknown mode fuzzy" in capsys.readouterr().err


def test_vectors_are_reused_by_passage_text(tmp_path: Path) -> None:
    """A vector depends on the text and the model only: an index of the same texts under other article
    ids (hence other passage ids) takes every vector from the first and embeds nothing itself."""
    import numpy as np

    from evaluation import indexing
    from indexer.settings import load_settings
    from indexer.stores import open_stores

    def corpus(path: Path, prefix: str) -> Path:
        rows = [
            {"id": f"{prefix}-{n}", "title": title, "text": context, "src": "وكالة"}
            for n, (title, context, _, _) in enumerate(GOLD)
        ]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return path

    donor = {**load_settings(), "data.dir": str(tmp_path / "donor" / "data")}
    indexing.index_files(donor, [corpus(tmp_path / "a.jsonl", "a")], embed=True)
    taker = {**load_settings(), "data.dir": str(tmp_path / "taker" / "data")}
    indexing.index_files(taker, [corpus(tmp_path / "b.jsonl", "b")], embed=False)
    before = indexing.counts(taker)
    assert before["vectors"] == 0 and before["pending_vectors"] == before["passages"] > 0

    assert indexing.reuse_embeddings(taker, [tmp_path / "donor" / "data"]) == before["passages"]
    after = indexing.counts(taker)
    assert after["vectors"] == after["passages"] and after["pending_vectors"] == 0
    # The copied vectors are the donor's for the same text, and the vector index serves them.
    stores = open_stores(taker, check=False)
    try:
        passages = stores.docs.article_passages("b-0")
        found, vectors = stores.docs.get_embeddings([p.id for p in passages], stores.vectors.dim)
        assert len(found) == len(passages)
        assert np.allclose(vectors, stores.embedder.embed_passages([p.text for p in passages]), atol=1e-5)
        assert stores.vectors.search(vectors[0], 1)[0].passage_id == passages[0].id
    finally:
        stores.close()


def test_collapse_none_keeps_near_copy_gold_paragraphs_apart(tmp_path: Path) -> None:
    """Two sets can hold near-identical paragraphs (the same Wikipedia page); they are one copy group. With
    stories not collapsed (the default) each question finds its own; collapsed, one hides under the other."""
    base = GOLD[0][1]
    paragraphs = [(base, "q-a"), (base + " وتعد فاس العاصمة العلمية للمغرب.", "q-b")]
    data = [
        {
            "title": "مدينة فاس",
            "paragraphs": [
                {
                    "context": context,
                    "qas": [{"id": qid, "question": GOLD[0][2], "answers": [{"text": "إدريس الثاني"}]}],
                }
            ],
        }
        for context, qid in paragraphs
    ]
    qa = tmp_path / "copies.json"
    qa.write_text(json.dumps({"version": "1.1", "data": data}, ensure_ascii=False), encoding="utf-8")
    news = distractor_file(tmp_path / "news.jsonl.gz")

    def recall(*extra: str) -> dict:
        out = tmp_path / "out" / f"report{'-'.join(extra)}.json"
        argv = ["eval", "--qa", str(qa), "--distractors", str(news), "--distractor-limit", "20"]
        argv += ["--modes", "keyword", "--ask-modes", "none", "--cache-dir", str(tmp_path / "cache")]
        assert main([*argv, "--out", str(out), *extra]) == 0
        report = json.loads(out.read_text(encoding="utf-8"))
        return {"collapse": report["collapse"], **rows_by(report)[("copies", "keyword")]}

    apart = recall()
    assert apart["collapse"] == "none" and apart["recall@5"] == 1.0
    together = recall("--collapse", "copy")
    assert together["collapse"] == "copy" and together["recall@10"] == 0.5
