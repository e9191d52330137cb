"""Pure parts of answering: sentence splitting, follow-up context, sentence choice without duplicates."""

from __future__ import annotations

from indexer.analysis import analyze
from webapp import compose
from webapp.sentences import split_sentences

IGNORE = compose.question_terms(analyze)


def test_sentences_end_at_arabic_and_latin_marks_not_inside_numbers_or_abbreviations() -> None:
    text = "قال بوتين (أ.ب) إن 3.5 مليون وصلوا. ثم غادر! هل عاد؟ نعم\nسطر «جديد.» وآخر"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "قال بوتين (أ.ب) إن 3.5 مليون وصلوا.", "ثم غادر!", "هل عاد؟", "نعم", "سطر «جديد.»", "وآخر"]


def test_sentence_spans_index_the_text() -> None:
    text = "  أولى.   ثانية؟  "
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == ["أولى.", "ثانية؟"]


def test_question_words_are_not_key_terms() -> None:
    assert compose.key_terms("متى زار بوتين كوريا الشمالية؟", analyze, IGNORE) == ["زار", "بوت", "كوريا", "شمال"]


def test_short_and_pointing_questions_are_follow_ups() -> None:
    assert compose.is_follow_up("ومتى حدث ذلك؟", analyze, IGNORE)
    assert compose.is_follow_up("ومن قال ذلك؟", analyze, IGNORE)
    assert compose.is_follow_up("ماذا قالت واشنطن عن هذه الصفقة العسكرية؟", analyze, IGNORE)
    assert not compose.is_follow_up("متى زار بوتين كوريا الشمالية؟", analyze, IGNORE)


def test_follow_up_borrows_the_earlier_user_turns() -> None:
    history = [{"role": "user", "content": "متى زار بوتين كوريا الشمالية؟"},
               {"role": "assistant", "content": "لم أجد في المقالات المفهرسة ما يجيب عن هذا السؤال."}]
    context = compose.with_context("ومن رافقه؟", history, analyze, IGNORE)
    assert context == "متى زار بوتين كوريا الشمالية؟ ومن رافقه؟"
    # A question that stands alone is not changed, and without history nothing is borrowed.
    assert compose.with_context("ما عاصمة فيتنام التي زارها بوتين؟", history, analyze, IGNORE) == \
        "ما عاصمة فيتنام التي زارها بوتين؟"
    assert compose.with_context("ومتى حدث ذلك؟", [], analyze, IGNORE) == "ومتى حدث ذلك؟"


def test_answer_cues() -> None:
    assert compose.answer_cue("ومتى حدث ذلك؟") == "date"
    assert compose.answer_cue("كم عدد الإطفائيين؟") == "number"
    assert compose.answer_cue("من قال ذلك؟") is None
    assert compose.has_cue("وصل يوم الثلاثاء إلى موسكو", "date")
    assert compose.has_cue("أرسل 208 إطفائيين", "number")
    assert not compose.has_cue("وصل إلى موسكو", "number")


def sentence(passage: int, text: str) -> compose.Sentence:
    return compose.Sentence(passage, 0, len(text), text, frozenset(t.term for t in analyze(text)))


def test_choose_skips_near_duplicates_and_same_passage() -> None:
    sentences = [
        sentence(0, "وصل الزعيم الكوري الشمالي كيم جونغ أون إلى روسيا اليوم الثلاثاء في زيارة نادرة"),
        sentence(1, "وصل الزعيم الكوري الشمالي كيم جونغ أون إلى روسيا الثلاثاء في زيارة نادرة"),  # agency copy
        sentence(0, "وسيلتقي الرئيس فلاديمير بوتين في قاعدة فوستوشني الفضائية شرق البلاد"),  # same passage
        sentence(2, "وحذرت واشنطن من صفقة أسلحة محتملة لحرب موسكو في أوكرانيا بين البلدين"),
        sentence(3, "ارتفعت أسعار القمح في الأسواق العالمية بعد موجة جفاف طويلة"),  # far below the best
    ]
    scores = [0.90, 0.89, 0.88, 0.87, 0.70]
    assert compose.choose(sentences, scores, 3) == [0, 3]
    assert compose.choose(sentences, scores, 1) == [0]


def test_score_rewards_key_terms_and_cue() -> None:
    s = sentence(0, "وصل بوتين إلى بيونغ يانغ يوم الثلاثاء")
    keys = compose.key_terms("متى وصل بوتين إلى بيونغ يانغ؟", analyze, IGNORE)
    with_terms = compose.score_sentence(0.8, s, keys, "date")
    assert with_terms == 0.8 + compose.OVERLAP_WEIGHT + compose.CUE_BONUS
    assert compose.score_sentence(0.8, s, ["غائب"], None) == 0.8


def test_when_the_best_sentence_has_the_date_asked_for_added_ones_need_one_too() -> None:
    sentences = [
        sentence(0, "وصل الزعيم الكوري الشمالي إلى روسيا يوم الثلاثاء في زيارة نادرة"),
        sentence(1, "وكانت رحلة خارجية نادرة للزعيم الكوري منذ سنوات طويلة مضت"),
        sentence(2, "ووصل القطار المصفح إلى محطة فوستوشني صباح الأربعاء وسط حراسة مشددة"),
    ]
    scores = [0.90, 0.89, 0.88]
    cues = [compose.has_cue(s.text, "date") for s in sentences]
    assert cues == [True, False, True]
    assert compose.choose(sentences, scores, 3, cues) == [0, 2]
    assert compose.choose(sentences, scores, 3) == [0, 1, 2]


def test_questions_that_only_point_back_have_no_subject() -> None:
    assert compose.has_no_subject("ومن قال ذلك؟", analyze, IGNORE)
    assert compose.has_no_subject("ومتى حدث ذلك؟", analyze, IGNORE)
    assert not compose.has_no_subject("ما هو التضخم؟", analyze, IGNORE)
    assert not compose.has_no_subject("من قال إن الأمطار ستتراجع؟", analyze, IGNORE)
