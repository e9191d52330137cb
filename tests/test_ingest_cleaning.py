"""Line rules for scraped pages, and page splitting on pages written for the test (no shared data needed)."""

from __future__ import annotations

import pytest

from indexer.ingest import cleaning as c
from indexer.ingest.scraped import split_page


@pytest.mark.parametrize(
    "line",
    [
        "Please enable JavaScript in your browser to read this page.",
        "يرجى تفعيل الجافا سكريبت لعرض الصفحة",
        "TT",
        "—",
        "-----",
        "ملخص",
        "play-circle",
        "اقرأ المزيد",
        "إقرأ أيضاً:",
        "اقرأ أيضا: افتتاح قاعة جديدة في المكتبة",
        "للمزيد: نتائج الجولة الأولى",
        "يحتوي هذا القسم على المقلات ذات صلة, الموضوعة في (Related Nodes field)",
    ],
)
def test_boilerplate_lines(line: str) -> None:
    assert c.is_boilerplate(line)


@pytest.mark.parametrize(
    "line",
    [
        "قال وزير الاقتصاد إن النمو بلغ 3 في المئة هذا العام.",
        "موقف سيول",
        "اقرأوا الخبر كاملا في عدد الغد من الصحيفة المطبوعة، فقد قال المحرر إن التحقيق طويل ومفصل ويستحق القراءة.",
        "المزيد من المخاطر",
    ],
)
def test_content_lines_are_not_boilerplate(line: str) -> None:
    assert not c.is_boilerplate(line)


def test_related_headers_footers_and_source_lines() -> None:
    assert c.is_related_header("مقالات ذات صلة") and c.is_related_header("مقالات مشابهة")
    assert not c.is_related_header("مقالات ذات صلة بالاقتصاد نشرت أمس وقرأها الآلاف.")
    assert c.is_more_footer("المزيد من دوليات") and not c.is_more_footer("المزيد من الأمطار متوقع غدا.")
    assert c.source_line("المصدر: لجريدة عمان") == "جريدة عمان"
    assert c.source_line("المصدر: RT") == "RT"
    assert c.source_line("المصدر: قال مسؤول في الوزارة إن الاجتماع سيعقد الأسبوع المقبل في العاصمة") is None
    assert c.signature_outlet("«الشرق الأوسط» (كييف)") == "الشرق الأوسط"
    assert c.dateline_source('عواصم "وكالات": يقوم الرئيس بزيارة') == "وكالات"
    assert c.dateline_source("القاهرة (رويترز) - قال مسؤول") == "رويترز"
    assert c.dateline_source("قال مسؤول (في الوزارة) إن ...") is None
    assert c.outlet_line("سي إن إن") == "سي إن إن" and c.outlet_line("قناة الخليج") == "قناة الخليج"
    assert c.outlet_line("موقف سيول") is None


def test_captions_and_credits() -> None:
    assert c.is_caption("الزعيم الكوري الشمالي يغادر بالقطار متوجهاً إلى روسيا (أ.ب)")
    assert c.is_caption("أفغان يدخلون حافلة بمطار هانوفر (أرشيفية - رويترز)")
    assert c.is_caption("المزارعون في وقفة احتجاجية (أ.ف.ب) play-circle")
    assert not c.is_caption("قال ألكسندر لوكاشينكو رئيس روسيا البيضاء اليوم (الخميس) إن بلاده تقترب من صفقة")
    assert not c.is_caption("وأكد المتحدث أن الاجتماع انتهى (بحسب رويترز).")
    assert c.is_credit_line("سبوتنيك / رويترز") and c.is_credit_line("AFP")
    assert not c.is_credit_line("روسيا / أوكرانيا")


def test_date_lines() -> None:
    assert c.date_line("الأحد 18 فبراير 2024") == "2024-02-18"
    assert c.date_line("نشر في: 2024/02/18 - 10:30") == "2024-02-18T10:30:00"
    assert c.date_line("تساقطت الثلوج في 18 فبراير 2024 على القرى الجبلية المرتفعة.") is None
    assert c.date_line("موقف سيول") is None


def test_derived_title_skips_the_dateline_and_is_cut() -> None:
    text = 'عواصم "وكالات": يقوم الرئيس بزيارة رسمية إلى البلدين في الفترة من 18 إلى 20 يونيو الجاري وسط اهتمام كبير.'
    assert c.derive_title(text) == "يقوم الرئيس بزيارة رسمية إلى البلدين في الفترة من 18 إلى 20 يونيو الجاري…"
    assert c.derive_title("أمطار غزيرة على الساحل. وتحذير للصيادين.") == "أمطار غزيرة على الساحل"


WEATHER = [
    (
        "توقعت دائرة الأرصاد الجوية أن تهطل أمطار غزيرة على المناطق الساحلية مساء الخميس، مع رياح نشطة "
        "قد تتجاوز سرعتها ستين كيلومترا في الساعة، ودعت الصيادين إلى عدم الإبحار حتى صباح السبت."
    ),
    (
        "وقال مدير الدائرة إن المنخفض الجوي القادم من البحر سيجلب معه انخفاضا ملموسا في درجات الحرارة، "
        "وإن الثلوج قد تتساقط على المرتفعات الجبلية التي يزيد ارتفاعها على ألف وخمسمئة متر."
    ),
    (
        "وأضاف أن فرق الطوارئ في البلديات رفعت جاهزيتها لتصريف مياه الأمطار في الشوارع والأنفاق، "
        "ونصح السائقين بتخفيف السرعة على الطرق السريعة أثناء العاصفة."
    ),
]
FOOTBALL = [
    (
        "فاز نادي الشباب على ضيفه نادي الوحدة بثلاثة أهداف مقابل هدف واحد في المباراة التي أقيمت مساء أمس "
        "على الملعب البلدي أمام نحو عشرين ألف متفرج ضمن الجولة العاشرة من الدوري."
    ),
    (
        "وسجل المهاجم الشاب هدفين في الشوط الثاني، ليرفع رصيده إلى تسعة أهداف في صدارة ترتيب الهدافين، "
        "بينما أحرز لاعب الوسط الهدف الثالث من ركلة جزاء."
    ),
]


def test_two_stories_without_markers_are_split_by_topic() -> None:
    page = "\n\n".join(
        [
            "أمطار غزيرة ورياح نشطة على الساحل نهاية الأسبوع",
            *WEATHER,
            "نادي الشباب يهزم الوحدة ويعزز موقعه في الصدارة",
            *FOOTBALL,
        ]
    )
    stories = split_page(page)
    assert [s.title for s in stories] == [
        "أمطار غزيرة ورياح نشطة على الساحل نهاية الأسبوع",
        "نادي الشباب يهزم الوحدة ويعزز موقعه في الصدارة",
    ]
    assert stories[0].paragraphs == WEATHER and stories[1].paragraphs == FOOTBALL


def test_sub_headings_stay_inside_their_story() -> None:
    page = "\n\n".join(
        [
            "أمطار غزيرة ورياح نشطة على الساحل نهاية الأسبوع",
            *WEATHER[:2],
            "جاهزية فرق الطوارئ في البلديات لتصريف مياه الأمطار",
            WEATHER[2],
        ]
    )
    [story] = split_page(page)
    assert story.paragraphs[2] == "جاهزية فرق الطوارئ في البلديات لتصريف مياه الأمطار"


def test_page_furniture_is_removed_and_source_found() -> None:
    page = "\n".join(
        [
            "Please enable JavaScript in your browser to read this page.",
            "قناة الخليج",
            "—",
            "أمطار غزيرة ورياح نشطة على الساحل نهاية الأسبوع",
            "",
            "صورة لأمواج عالية على الكورنيش (رويترز)",
            "صورة لأمواج عالية على الكورنيش (رويترز)",
            "TT",
            "",
            "أمطار غزيرة ورياح نشطة على الساحل نهاية الأسبوع",
            "",
            WEATHER[0],
            "",
            "اقرأ المزيد",
            "",
            WEATHER[1],
            "",
            "مقالات ذات صلة",
            "",
            "• نادي الشباب يهزم الوحدة",
            "• افتتاح قاعة للأطفال في المكتبة",
            "",
            "المزيد من أخبار الطقس",
        ]
    )
    [story] = split_page(page)
    assert story.title == "أمطار غزيرة ورياح نشطة على الساحل نهاية الأسبوع"
    assert story.paragraphs == WEATHER[:2]
    assert story.source == "قناة الخليج"


def test_a_lone_agency_byline_does_not_swallow_the_first_paragraph() -> None:
    page = "\n".join(["رويترز", "أمطار غزيرة ورياح نشطة على الساحل نهاية الأسبوع", *WEATHER])
    [story] = split_page(page)
    assert story.paragraphs == WEATHER and story.source == "رويترز"
    [story] = split_page("\n".join([*WEATHER[:2], "رويترز", WEATHER[2]]))
    assert story.paragraphs == WEATHER


def test_question_sub_headings_and_numbered_points_stay_in_the_story() -> None:
    page = "\n\n".join(
        [
            "أمطار غزيرة ورياح نشطة على الساحل نهاية الأسبوع",
            *WEATHER[:2],
            "ما الذي يجعل هذه العاصفة مختلفة عن غيرها؟",
            FOOTBALL[0],
            "1. ملاعب المدينة تؤجل مباريات الدوري المحلي",
            FOOTBALL[1],
        ]
    )
    [story] = split_page(page)
    assert len(story.paragraphs) == 6
