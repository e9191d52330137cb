"""Split a scraped news page (plain text) into clean stories: boilerplate dropped, one story per headline.

A page is read line by line. Each line gets a role (story text, caption, credit, "TT" toggle, related-list
heading, end-of-story marker such as "المصدر: ..." ...). Stories start at:
  1. a headline block: a headline printed again a few lines later (past captions, a sub-title and the "TT"
     font toggle), as news sites render their article header;
  2. after an end marker (source credit, keyword list, "المزيد من ..." footer), the next headline followed by text;
  3. inside a related-articles list, a headline followed by at least two paragraphs of text (teaser cards have one);
  4. inside a story, a headline-like line whose following text shares few words with the story so far
     (a topic shift), which keeps sub-headings inside their story.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from indexer.ingest import cleaning as c

# A paragraph long enough to be story text rather than a heading, caption or teaser link.
BODY_WORDS = 15
# A story must have this much text before a headline inside it may start another story.
MIN_STORY_WORDS = 80
# Topic shift: share of the content words of (candidate headline + next paragraph) already used by the story.
# On the seed pages sub-headings score 0.24 or more and unrelated stories 0.10 or less; tests pin both sides.
TOPIC_SHIFT_OVERLAP = 0.17
# How far (in non-blank lines) a headline may be printed again to mark a header block.
HEADER_SPAN = 8

_SKIPPABLE = ("caption", "drop", "credit", "tt", "date")


@dataclass(slots=True)
class Story:
    """One story found on a page: its title, its paragraphs and the outlet the page names for it."""

    title: str | None
    paragraphs: list[str] = field(default_factory=list)
    source: str | None = None
    published: str | None = None  # ISO 8601, from a date line on the page
    # Running word count and content words, so the topic-shift test stays linear on long pages.
    words: int = field(default=0, repr=False)
    vocabulary: set[str] = field(default_factory=set, repr=False)


@dataclass(slots=True)
class _Item:
    text: str
    kind: str
    blank_before: int
    name: str | None = None  # outlet named by a "source", "signature" or "outlet" line


def _classify(text: str, position: int) -> tuple[str, str | None]:
    """The role of one non-blank line; `position` is its index among non-blank lines (outlets sit on top)."""
    if c.fold(text) == "tt":
        return "tt", None
    if c.is_js_warning(text) or c.is_ui_label(text) or c.is_related_placeholder(text) or c.is_bullet(text):
        return "drop", None
    if c.is_related_header(text):
        return "related", None
    if c.is_read_more(text):
        return "read_more", None
    if (name := c.source_line(text)) is not None:
        return "source", name
    if (name := c.signature_outlet(text)) is not None:
        return "signature", name
    if c.is_keywords_line(text):
        return "end", None
    if c.is_more_footer(text):
        return "footer", None
    if c.is_credit_line(text):
        # One agency name alone at the top of a page is its byline; joined credits ("سبوتنيك / رويترز")
        # sit above a photo caption.
        if position < 2 and not c.is_joined_credit(text):
            return "outlet", text
        return "credit", None
    if c.is_caption(text):
        return "caption", None
    if (iso := c.date_line(text)) is not None:
        return "date", iso
    if position < 2 and (name := c.outlet_line(text)) is not None:
        return "outlet", name
    return "text", None


def _items(page: str) -> list[_Item]:
    items: list[_Item] = []
    blanks = 0
    for raw in page.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        text = c.normalize_line(raw)
        if not text:
            blanks += 1
            continue
        kind, name = _classify(text, len(items))
        items.append(_Item(text, kind, blanks, name))
        blanks = 0
    # A line printed twice in a row is a photo caption and its alt text; so is a line after joined credits.
    for i in range(len(items) - 1):
        if items[i].kind in ("text", "caption") and items[i].text == items[i + 1].text:
            items[i].kind = items[i + 1].kind = "caption"
        if (
            items[i].kind == "credit"
            and c.is_joined_credit(items[i].text)
            and items[i + 1].kind == "text"
            and c.word_count(items[i + 1].text) <= 30
        ):
            items[i + 1].kind = "caption"
    return items


def _header_starts(items: list[_Item]) -> dict[int, bool]:
    """Headline blocks: {index of headline: marked by "TT"}. The reprinted headline is dropped."""
    starts: dict[int, bool] = {}
    for s, item in enumerate(items):
        if item.kind != "text" or not c.is_headline_like(item.text, 25):
            continue
        marked = False
        for r in range(s + 1, min(len(items), s + 1 + HEADER_SPAN)):
            other = items[r]
            marked = marked or other.kind == "tt"
            if other.kind == "text" and other.text == item.text:
                starts[s] = marked
                other.kind = "drop"
                break
            # Between a headline and its reprint only captions, widgets and a short sub-title may sit.
            if other.kind not in _SKIPPABLE and not (other.kind == "text" and c.word_count(other.text) <= 25):
                break
    # A "TT" toggle under a headline that is not reprinted still marks the block.
    for t, item in enumerate(items):
        if item.kind != "tt" or any(t - HEADER_SPAN < s < t for s in starts):
            continue
        candidate = None
        for s in range(t - 1, max(-1, t - 7), -1):
            if items[s].kind == "text" and c.is_headline_like(items[s].text, 25):
                candidate = s
            elif items[s].kind not in _SKIPPABLE:
                break
        if candidate is not None:
            starts[candidate] = True
    return starts


def _next_text(items: list[_Item], start: int) -> int | None:
    for j in range(start, len(items)):
        if items[j].kind == "text":
            return j
        if items[j].kind not in _SKIPPABLE:
            return None
    return None


def _body_soon(items: list[_Item], start: int, within: int = 3) -> bool:
    """Story text follows within a few lines (past a sub-title or captions): the line before it is a headline."""
    seen = 0
    for j in range(start, len(items)):
        item = items[j]
        if item.kind == "text":
            if c.word_count(item.text) >= BODY_WORDS:
                return True
            seen += 1
            if seen >= within:
                return False
        elif item.kind not in _SKIPPABLE:
            return False
    return False


def _following_body(items: list[_Item], start: int, limit: int) -> list[str]:
    """Up to `limit` paragraphs of text right after `start`, stopping at anything that is not story text."""
    found: list[str] = []
    for j in range(start, len(items)):
        item = items[j]
        if item.kind in _SKIPPABLE:
            continue
        if item.kind != "text" or len(found) >= limit:
            break
        found.append(item.text)
    return found


# Function words too common to tell two stories apart (spelled as `fold` leaves them).
_STOP = {
    c.fold(word)
    for word in [
        "التي",
        "الذي",
        "الذين",
        "على",
        "إلى",
        "عن",
        "في",
        "من",
        "مع",
        "بين",
        "بعد",
        "قبل",
        "حيث",
        "كما",
        "هذا",
        "هذه",
        "ذلك",
        "تلك",
        "وقال",
        "وقالت",
        "قال",
        "قالت",
        "أن",
        "إن",
        "كان",
        "كانت",
        "لم",
        "لن",
        "وفي",
        "ومن",
        "خلال",
        "أيضا",
        "اليوم",
    ]
}
_PREFIX = re.compile(r"^(وال|بال|فال|كال|لل|ال|و)(?=\w{3,})")


def _content_words(text: str) -> set[str]:
    words = set()
    for word in re.findall(r"\w+", c.fold(text)):
        if len(word) < 3 or word.isdigit() or word in _STOP:
            continue
        words.add(_PREFIX.sub("", word))
    return words


_LIST_ITEM = re.compile(r"^\s*(?:[\d٠-٩]+\s*[.)\-–]|[*•\-–])")
_ARABIC_LETTER = re.compile("[\u0621-\u064a]")


def _topic_shift(items: list[_Item], i: int, story: Story) -> bool:
    """A headline-like line, after a finished story, introducing text on a different subject: a new story."""
    item = items[i]
    if story.words < MIN_STORY_WORDS or not 5 <= c.word_count(item.text) <= 14:
        return False
    # Questions, numbered points and embeds in other scripts belong to the story they sit in.
    if not c.is_headline_like(item.text) or item.text.rstrip()[-1] in "؟?" or _LIST_ITEM.match(item.text):
        return False
    if not _ARABIC_LETTER.search(item.text):
        return False
    following = _following_body(items, i + 1, 1)
    if not following or c.word_count(following[0]) < BODY_WORDS:
        return False
    new = _content_words("\n".join([item.text, *following]))
    overlap = len(new & story.vocabulary) / len(new) if new else 1.0
    return overlap < TOPIC_SHIFT_OVERLAP


def _append(story: Story, paragraph: str) -> None:
    # Scrapers sometimes break a sentence across a blank line: rejoin a long paragraph cut mid-sentence.
    story.vocabulary |= _content_words(paragraph)
    story.words += c.word_count(paragraph)
    previous = story.paragraphs[-1] if story.paragraphs else ""
    broken = c.word_count(previous) >= 20 and not c.ends_sentence(previous)
    if broken and paragraph[:1].isalpha() and not c.is_headline_like(paragraph):
        story.paragraphs[-1] += " " + paragraph
    else:
        story.paragraphs.append(paragraph)


def split_page(page: str) -> list[Story]:
    """The stories on one scraped page, in order; boilerplate, captions and related-article lists left out."""
    items = _items(page)
    headers = _header_starts(items)
    stories: list[Story] = []
    story: Story | None = None
    state = "body"  # "body": reading a story; "skip": after its end marker; "related": inside a teaser list
    page_outlet: str | None = None
    drop_teaser = False

    pending_date: str | None = None

    def start(title: str | None) -> Story:
        nonlocal pending_date
        new = Story(title, published=pending_date)
        new.vocabulary = _content_words(title or "")
        pending_date = None
        stories.append(new)
        return new

    for i, item in enumerate(items):
        kind = item.kind
        if i in headers and (headers[i] or state != "related"):
            story, state, drop_teaser = start(item.text), "body", False
            continue
        if kind == "date":
            # A date line belongs to the story being read, or to the next one when it sits in a header block.
            if story is not None and state == "body" and story.published is None:
                story.published = item.name
            else:
                pending_date = item.name
        elif kind in ("signature", "outlet"):
            page_outlet = page_outlet or item.name
        elif kind == "source":
            if story is not None and state == "body" and story.source is None:
                story.source = item.name
            if story is not None:
                state = "skip"
        elif kind == "end" or (kind == "footer" and not _body_soon(items, i + 1, 1)):
            if story is not None:
                state = "skip"
        elif kind == "footer" and story is not None and state == "body":
            _append(story, item.text)  # "المزيد من المخاطر" followed by text is a sub-heading, not a footer
        elif kind == "related":
            state = "related"
        elif kind == "read_more":
            # A bare "اقرأ أيضاً" label inside a story: the line after it links to another page.
            drop_teaser = state == "body" and c.word_count(item.text) <= 3
        elif kind == "text":
            if drop_teaser and c.is_headline_like(item.text):
                drop_teaser = False
                continue
            drop_teaser = False
            if state == "body":
                if story is None:
                    headline = c.is_headline_like(item.text) and _body_soon(items, i + 1)
                    story = start(item.text if headline else None)
                    if not headline:
                        _append(story, item.text)
                elif _topic_shift(items, i, story):
                    story = start(item.text)
                else:
                    _append(story, item.text)
            elif state == "skip" and c.is_headline_like(item.text) and _body_soon(items, i + 1, 1):
                story, state = start(item.text), "body"
            elif state == "related" and c.is_headline_like(item.text):
                following = _following_body(items, i + 1, 2)
                if len(following) == 2 and all(c.word_count(p) >= 20 for p in following):
                    story, state = start(item.text), "body"
    kept = [s for s in stories if s.paragraphs]
    for s in kept:
        s.title = s.title or c.derive_title(s.paragraphs[0])
        if s.source is None:
            s.source = c.dateline_source(s.paragraphs[0]) or page_outlet
    return kept
