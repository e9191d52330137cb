"""Pure text rules for scraped news pages: what a boilerplate line looks like, captions, credits, titles."""

from __future__ import annotations

import re

from indexer.ingest.dates import to_iso

_HARAKAT_TATWEEL = re.compile("[\u064b-\u0652\u0670\u0640]")
_FOLD_PAIRS = (("أ", "ا"), ("إ", "ا"), ("آ", "ا"), ("ٱ", "ا"), ("ى", "ي"), ("ة", "ه"))
_INVISIBLE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_UNUSUAL = re.compile("[\u00a0\u2000-\u200f\u202a-\u202f\u205f\u2066-\u2069\u3000\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
SENTENCE_END = ".!?؟؛…"


def fold(text: str) -> str:
    """Spelling-insensitive form for matching rules: harakat and tatweel dropped, alef/yeh/teh marbuta folded."""
    # Chained replace: far faster than str.translate with a dict table on non-ASCII text.
    text = _HARAKAT_TATWEEL.sub("", text)
    for variant, plain in _FOLD_PAIRS:
        if variant in text:
            text = text.replace(variant, plain)
    return text.lower()


def normalize_line(line: str) -> str:
    """One line with invisible marks removed and runs of spaces (NBSP included) collapsed."""
    if line.isascii() or not _UNUSUAL.search(line):
        return " ".join(line.split())  # the common case, without the two substitutions below
    return _SPACES.sub(" ", _INVISIBLE.sub("", line)).strip()


def clean_body(text: str) -> str:
    """Whitespace-normalised body: trimmed lines, at most one blank line between paragraphs."""
    paragraphs: list[list[str]] = [[]]
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = normalize_line(raw)
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join("\n".join(lines) for lines in paragraphs if lines)


def word_count(text: str) -> int:
    return len(text.split())


def ends_sentence(line: str) -> bool:
    """True when the line ends like running prose (final punctuation, possibly inside closing quotes)."""
    stripped = line.rstrip("\"'”»)]").rstrip()
    return bool(stripped) and stripped[-1] in SENTENCE_END + ":،,"


# --- boilerplate lines --------------------------------------------------------------------------------------

_JS_WARNING = re.compile(
    r"(enable|activate|turn on)\s+javascript|javascript\s+(is\s+)?(disabled|required)|(تفعيل|تمكين)\s+(ال)?جافا\s*سكري?بت",
    re.IGNORECASE,
)
# UI leftovers that are never content on their own line: the "TT" font-size toggle, share/print labels, icons.
_UI_LABELS = {
    "tt",
    "ملخص",
    "play-circle",
    "شارك",
    "مشاركه",
    "طباعه",
    "تابعنا",
    "حجم الخط",
    "اضف تعليق",
    "اقرا ايضا",
    "اقرا المزيد",
    "المزيد",
    "اعلان",
    "advertisement",
    "share",
    "print",
}
_DASHES_ONLY = re.compile(r"^[\-–—ـ_=*•·|/\\.]+$")
_READ_MORE = re.compile(r"^(?:(اقرا|طالع)\s*(ايضا|المزيد)\b|للمزيد\s*:)")
# CMS placeholder of an empty related-articles widget: "يحتوي هذا القسم على المقلات ذات صلة ..." (sic).
_RELATED_PLACEHOLDER = re.compile(r"^يحتوي هذا القسم علي\s+(ال)?مق(ا)?لات")
_RELATED_HEADER = re.compile(
    r"^(مقالات|اخبار|مواضيع|موضوعات|قصص)\s+(ذات صله|مشابهه|متعلقه|مقترحه|قد تهمك)\s*:?$|^(قد يعجبك|قد يهمك)\s+(ايضا)?\s*:?$"
)
_MORE_FOOTER = re.compile(r"^المزيد\s+(من|في)\s+\S+")
_KEYWORDS = re.compile(r"^(كلمات دلاليه|الكلمات المفتاحيه|الوسوم|وسوم|كلمات مفتاحيه)\s*:")
_SOURCE = re.compile(r"^(?:المصدر|مصدر الخبر)\s*[:：]\s*(?P<name>.{2,60})$")
_SIGNATURE = re.compile(r"^«(?P<name>[^»]{2,40})»\s*\([^)]{2,40}\)$")


def is_js_warning(line: str) -> bool:
    return bool(_JS_WARNING.search(line)) and word_count(line) <= 30


def is_ui_label(line: str) -> bool:
    """Stray widget text: "TT", lone dashes, "ملخص", share/print labels."""
    folded = fold(line).strip(" :.")
    return folded in _UI_LABELS or bool(_DASHES_ONLY.match(line))


def is_read_more(line: str) -> bool:
    """A "read more / read also" link or label (the line is a pointer to another page, not content)."""
    return bool(_READ_MORE.match(fold(line))) and word_count(line) <= 20


def is_related_placeholder(line: str) -> bool:
    return bool(_RELATED_PLACEHOLDER.match(fold(line)))


def is_related_header(line: str) -> bool:
    """The heading of a related-articles list ("مقالات ذات صلة", "مقالات مشابهة"...): the list that follows is noise."""
    return bool(_RELATED_HEADER.match(fold(line).strip()))


def is_more_footer(line: str) -> bool:
    """Section footers like "المزيد من دوليات"."""
    return bool(_MORE_FOOTER.match(fold(line))) and word_count(line) <= 5 and not ends_sentence(line)


def is_keywords_line(line: str) -> bool:
    return bool(_KEYWORDS.match(fold(line)))


def is_bullet(line: str) -> bool:
    return line[:1] in "•●▪◦·"


def source_line(line: str) -> str | None:
    """The outlet named by a credit line such as "المصدر: RT", else None."""
    match = _SOURCE.match(line)
    if not match or word_count(match["name"]) > 6:
        return None
    name = match["name"].strip(" .")
    # "المصدر: لجريدة عمان" — a stray lam ("for") glued to the outlet word.
    return re.sub(r"^ل(?=(جريده|جريدة|صحيفة|صحيفه|وكالة|وكاله|موقع|قناة|قناه)\b)", "", name)


def signature_outlet(line: str) -> str | None:
    """The site name in a teaser signature like «الشرق الأوسط» (كييف), else None."""
    match = _SIGNATURE.match(line)
    return match["name"].strip() if match else None


# --- captions and credits -----------------------------------------------------------------------------------

# Photo credits as they appear in parentheses at the end of captions: wire-agency abbreviations and names.
_CREDIT_WORDS = (
    "أ.ب",
    "أ.ف.ب",
    "إ.ب.أ",
    "د.ب.أ",
    "أ ف ب",
    "أ ب",
    "رويترز",
    "أرشيفية",
    "وكالة",
    "غيتي",
    "جيتي",
    "تليغراف",
    "أسوشيتد",
    "إيبا",
    "سبوتنيك",
    "تاس",
    "شينخوا",
    "الأناضول",
    "afp",
    "ap",
    "epa",
    "reuters",
    "getty",
    "dpa",
)
_FOLDED_CREDITS = tuple(fold(word) for word in _CREDIT_WORDS)
_TRAILING_PARENS = re.compile(r"\((?P<credit>[^()]{1,80})\)\s*(?:play-circle)?$", re.IGNORECASE)
# Agencies and photo services that appear alone (or joined by "/") on a credit line above a caption.
_AGENCIES = {
    fold(name)
    for name in (
        "رويترز",
        "سبوتنيك",
        "أ ف ب",
        "فرانس برس",
        "أسوشيتد برس",
        "غيتي",
        "غيتي إيماجز",
        "جيتي",
        "إيبا",
        "تاس",
        "شينخوا",
        "الأناضول",
        "دب أ",
        "أ ب",
        "ا ب",
        "يونهاب",
        "نوفوستي",
        "كنا",
        "وام",
        "واس",
        "قنا",
        "بترا",
        "سانا",
        "Reuters",
        "AFP",
        "AP",
        "Getty Images",
        "Getty",
        "EPA",
        "Sputnik",
        "Anadolu",
        "Xinhua",
        "KCNA",
    )
}


def _is_credit_text(text: str) -> bool:
    folded = fold(text)
    return any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", folded) for word in _FOLDED_CREDITS)


def is_caption(line: str) -> bool:
    """A photo caption: a line ending in a parenthesised photo credit such as "(أ.ب)" or "(أرشيفية - رويترز)"."""
    match = _TRAILING_PARENS.search(line)
    if not match or not _is_credit_text(match["credit"]):
        return False
    before = line[: match.start()].rstrip()
    return not before or before[-1] not in ".!؟?"


def is_credit_line(line: str) -> bool:
    """A bare agency credit line above a photo caption, such as "سبوتنيك / رويترز"."""
    parts = [part.strip() for part in re.split(r"[/|،,]| - ", line) if part.strip()]
    if not parts or len(parts) > 4 or word_count(line) > 8:
        return False
    return all(fold(part) in _AGENCIES for part in parts)


def is_joined_credit(line: str) -> bool:
    """Several credits joined by "/" or "|", as photo services print them above a caption."""
    return is_credit_line(line) and bool(re.search(r"[/|]", line))


# --- titles, outlets and datelines --------------------------------------------------------------------------

_OUTLET_WORDS = (
    "وكالة",
    "وكاله",
    "قناة",
    "قناه",
    "صحيفة",
    "صحيفه",
    "جريدة",
    "جريده",
    "موقع",
    "شبكة",
    "شبكه",
    "إذاعة",
)
# Outlets that name themselves on a page's first line without a generic word like "قناة" (best-effort list).
_KNOWN_OUTLETS = {
    fold(name)
    for name in (
        "سي إن إن",
        "سي إن إن بالعربية",
        "بي بي سي",
        "بي بي سي عربي",
        "سكاي نيوز عربية",
        "العربية",
        "العربية نت",
        "الجزيرة",
        "الجزيرة نت",
        "فرانس 24",
        "روسيا اليوم",
        "آر تي",
        "RT",
        "دويتشه فيله",
        "يورونيوز",
        "الحرة",
        "الشرق الأوسط",
        "اندبندنت عربية",
        "إندبندنت عربية",
        "CNN",
        "BBC",
        "رويترز",
        "سبوتنيك",
    )
}
_DATELINE = re.compile(
    r"^(?P<place>[^\W\d][\w ]{1,30}?)\s*[(\"«“]\s*(?P<agency>[^)\"»”]{2,30}?)\s*[)\"»”]\s*[:\-–—]"
)


def date_line(line: str) -> str | None:
    """ISO date of a short line that only dates the story ("الأحد 18 فبراير 2024", "نشر في: 2024/02/18"), else None."""
    if word_count(line) > 8 or line.rstrip()[-1:] in ".؟?!":
        return None
    return to_iso(line)


def outlet_line(line: str) -> str | None:
    """The outlet when a short line is just an outlet name ("سي إن إن", "قناة الخليج"), else None."""
    if word_count(line) > 5 or ends_sentence(line):
        return None
    if fold(line) in _KNOWN_OUTLETS or line.split()[0] in _OUTLET_WORDS:
        return line.strip()
    return None


def dateline_source(paragraph: str) -> str | None:
    """The agency in a dateline opening a story: 'عواصم "وكالات": ...' -> "وكالات", 'القاهرة (رويترز) - ...'."""
    match = _DATELINE.match(paragraph)
    return match["agency"].strip() if match else None


def is_headline_like(line: str, max_words: int = 18) -> bool:
    """Short, title-shaped text: a few words without the final punctuation of running prose."""
    words = word_count(line)
    if not 2 <= words <= max_words or is_bullet(line):
        return False
    return not ends_sentence(line) or (line.rstrip()[-1:] in "؟?" and words >= 4)


def derive_title(text: str, max_words: int = 14) -> str:
    """A title for an article that has none: its first sentence, cut at `max_words` words."""
    first = text.strip().split("\n", 1)[0]
    # Skip a dateline such as 'عواصم "وكالات": ' so the title starts with the news itself.
    match = _DATELINE.match(first)
    if match:
        first = first[match.end() :].strip()
    sentence = re.split(r"(?<=[.!?؟؛])\s", first, maxsplit=1)[0].strip()
    words = sentence.split()
    if len(words) <= max_words:
        return sentence.rstrip(".")
    return " ".join(words[:max_words]).rstrip("،,:") + "…"


def is_boilerplate(line: str) -> bool:
    """Lines that are never article content wherever they appear: widget text, read-more links, JS warnings.

    ("المزيد من ..." is left out: inside a body it is as often a sub-heading, "المزيد من المخاطر", as a footer.)
    """
    return is_js_warning(line) or is_ui_label(line) or is_read_more(line) or is_related_placeholder(line)


def strip_boilerplate(text: str) -> str:
    """`text` without its boilerplate lines (for bodies from structured input, where lines are otherwise trusted)."""
    if not _BOILERPLATE_HINT.search(text):
        return text  # fast path: most bodies contain none of the words any rule needs
    # Every rule needs a short line (at most 30 words), so long paragraphs are never even folded.
    return "\n".join(
        line for line in text.split("\n") if not (line and len(line) < 300 and is_boilerplate(line))
    )


# Every boilerplate rule needs one of these substrings (or a line of dashes, or "TT"), checked before folding.
_BOILERPLATE_HINTS = (
    "قرأ",
    "قرا",
    "طالع",
    "للمزيد",
    "JavaScript",
    "javascript",
    "جافا",
    "TT",
    "ملخص",
    "يحتوي",
    "\n-",
    "\n—",
    "\n–",
    "play-circle",
    "شارك",
    "طباعة",
    "تابعنا",
    "إعلان",
    "اعلان",
)
_BOILERPLATE_HINT = re.compile("|".join(re.escape(hint) for hint in _BOILERPLATE_HINTS))
