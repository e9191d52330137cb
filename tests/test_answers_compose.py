"""Pure parts of answering: sentence splitting, follow-up context, evidence features, sentence choice."""

from __future__ import annotations

from indexer.analysis import analyze
from retrieval import compose, evidence
from retrieval.sentences import split_sentences

IGNORE = compose.question_terms(analyze)


def test_sentences_end_at_arabic_and_latin_marks_not_inside_numbers_or_abbreviations() -> None:
    text = "قال بوتين (أ.ب) إن 3.5 مليون وصلوا. ثم غادر! هل عاد؟ نعم\nسطر «جديد.» وآخر"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "قال بوتين (أ.ب) إن 3.5 مليون وصلوا.",
        "ثم غادر!",
        "هل عاد؟",
        "نعم",
        "سطر «جديد.»",
        "وآخر",
    ]


def test_sentence_spans_index_the_text() -> None:
    text = "  أولى.   ثانية؟  "
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == ["أولى.", "ثانية؟"]


def test_question_words_are_not_key_terms() -> None:
    assert compose.key_terms("متى زار بوتين كوريا الشمالية؟", analyze, IGNORE) == [
        "زار",
        "بوت",
        "كوريا",
        "شمال",
    ]


def test_short_and_pointing_questions_are_follow_ups() -> None:
    assert compose.is_follow_up("ومتى حدث ذلك؟", analyze, IGNORE)
    assert compose.is_follow_up("ومن قال ذلك؟", analyze, IGNORE)
    assert compose.is_follow_up("ماذا قالت واشنطن عن هذه الصفقة العسكرية؟", analyze, IGNORE)
    assert not compose.is_follow_up("متى زار بوتين كوريا الشمالية؟", analyze, IGNORE)


def test_follow_up_borrows_the_earlier_user_turns() -> None:
    history = [
        {"role": "user", "content": "متى زار بوتين كوريا الشمالية؟"},
        {"role": "assistant", "content": "لم أجد في المقالات المفهرسة ما يجيب عن هذا السؤال."},
    ]
    context = compose.with_context("ومن رافقه؟", history, analyze, IGNORE)
    assert context == "متى زار بوتين كوريا الشمالية؟ ومن رافقه؟"
    # A question that stands alone is not changed, and without history nothing is borrowed.
    assert (
        compose.with_context("ما عاصمة فيتنام التي زارها بوتين؟", history, analyze, IGNORE)
        == "ما عاصمة فيتنام التي زارها بوتين؟"
    )
    assert compose.with_context("ومتى حدث ذلك؟", [], analyze, IGNORE) == "ومتى حدث ذلك؟"


def test_answer_types_from_the_question_word_and_the_noun_after_it() -> None:
    assert evidence.answer_type("ومتى حدث ذلك؟") == "date"
    assert evidence.answer_type("في أي عام افتتح المعرض؟") == "date"
    assert evidence.answer_type("كم عدد الإطفائيين؟") == "number"
    assert evidence.answer_type("ما عدد سكان المدينة؟") == "number"
    assert evidence.answer_type("من قال ذلك؟") == "person"
    assert evidence.answer_type("أين تقع القاعدة الفضائية؟") == "place"
    assert evidence.answer_type("لماذا تأخر القطار؟") == "reason"
    assert evidence.answer_type("ما هو التضخم؟") is None
    assert evidence.answer_type("هل عاد الوفد من موسكو؟") is None  # من inside a question is "from"


def test_type_spans_find_the_fact_asked_for() -> None:
    text = "وصل الوفد يوم الثلاثاء 12 سبتمبر 2023 وأرسل 208 إطفائيين إلى مدينة فلاديفوستوك بسبب الحرائق"
    dates = [text[a:b] for a, b in evidence.type_spans(text, "date")]
    assert "2023" in dates and "الثلاثاء" in " ".join(dates) and "سبتمبر" in " ".join(dates)
    assert "208" in [text[a:b] for a, b in evidence.type_spans(text, "number")]
    assert any(text[a:b].startswith("مدينة") for a, b in evidence.type_spans(text, "place"))
    assert any(text[a:b].startswith("بسبب") for a, b in evidence.type_spans(text, "reason"))
    assert evidence.type_spans("وصل إلى موسكو", "number") == []
    assert evidence.type_spans(text, None) == []
    person = "والتقى الرئيس فلاديمير بوتين بالشيخ محمد بن زايد"
    names = [person[a:b] for a, b in evidence.type_spans(person, "person")]
    assert "الرئيس فلاديمير بوتين" in names and any("بن زايد" in n for n in names)


def test_rare_terms_among_the_evidence_weigh_more() -> None:
    passages = [frozenset({"بوت", "زيار", "موسكو"}), frozenset({"بوت", "زيار"}), frozenset({"بوت", "قطار"})]
    weights = evidence.term_weights(passages)
    assert weights["قطار"] > weights["زيار"] > weights["بوت"]
    keys = ["بوت", "قطار"]
    assert evidence.overlap(frozenset({"قطار"}), keys) == evidence.overlap(frozenset({"بوت"}), keys) == 0.5
    assert evidence.weighted_overlap(frozenset({"قطار"}), keys, weights) > evidence.weighted_overlap(
        frozenset({"بوت"}), keys, weights
    )
    assert evidence.weighted_overlap(frozenset(), [], weights) == 0.0


def sentence(passage: int, text: str) -> compose.Sentence:
    return compose.Sentence(passage, 0, len(text), text, frozenset(t.term for t in analyze(text)))


def test_choose_skips_near_duplicates_and_same_passage() -> None:
    sentences = [
        sentence(0, "وصل الزعيم الكوري الشمالي كيم جونغ أون إلى روسيا اليوم الثلاثاء في زيارة نادرة"),
        sentence(
            1, "وصل الزعيم الكوري الشمالي كيم جونغ أون إلى روسيا الثلاثاء في زيارة نادرة"
        ),  # agency copy
        sentence(0, "وسيلتقي الرئيس فلاديمير بوتين في قاعدة فوستوشني الفضائية شرق البلاد"),  # same passage
        sentence(2, "وحذرت واشنطن من صفقة أسلحة محتملة لحرب موسكو في أوكرانيا بين البلدين"),
        sentence(3, "ارتفعت أسعار القمح في الأسواق العالمية بعد موجة جفاف طويلة"),  # far below the best
    ]
    scores = [0.90, 0.89, 0.88, 0.87, 0.70]
    assert compose.choose(sentences, scores, 3) == [0, 3]
    assert compose.choose(sentences, scores, 1) == [0]


def test_added_sentences_need_the_floor_as_well_as_the_margin() -> None:
    sentences = [
        sentence(0, "وصل الزعيم الكوري الشمالي إلى روسيا يوم الثلاثاء في زيارة نادرة"),
        sentence(1, "وحذرت واشنطن من صفقة أسلحة محتملة لحرب موسكو في أوكرانيا بين البلدين"),
    ]
    assert compose.choose(sentences, [0.7, 0.6], 3, margin=0.15) == [0, 1]
    assert compose.choose(sentences, [0.7, 0.6], 3, margin=0.15, floor=0.65) == [0]


def test_when_the_best_sentence_has_the_date_asked_for_added_ones_need_one_too() -> None:
    sentences = [
        sentence(0, "وصل الزعيم الكوري الشمالي إلى روسيا يوم الثلاثاء في زيارة نادرة"),
        sentence(1, "وكانت رحلة خارجية نادرة للزعيم الكوري منذ سنوات طويلة مضت"),
        sentence(2, "ووصل القطار المصفح إلى محطة فوستوشني صباح الأربعاء وسط حراسة مشددة"),
    ]
    scores = [0.90, 0.89, 0.88]
    cues = [bool(evidence.type_spans(s.text, "date")) for s in sentences]
    assert cues == [True, False, True]
    assert compose.choose(sentences, scores, 3, cues) == [0, 2]
    assert compose.choose(sentences, scores, 3) == [0, 1, 2]


def test_questions_that_only_point_back_have_no_subject() -> None:
    assert compose.has_no_subject("ومن قال ذلك؟", analyze, IGNORE)
    assert compose.has_no_subject("ومتى حدث ذلك؟", analyze, IGNORE)
    assert not compose.has_no_subject("ما هو التضخم؟", analyze, IGNORE)
    assert not compose.has_no_subject("من قال إن الأمطار ستتراجع؟", analyze, IGNORE)
