"""Split a scraped news page (plain text) into clean stories: boilerplate dropped, one story per headline."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from indexer.ingest import cleaning as c

# A paragraph long enough to be story text rather than a heading, caption or teaser link.
BODY_WORDS = 15
# A story must have this much text before a new headline can be taken as the start of another story.
MIN_STORY_WORDS = 80
# Topic-shift test: share of the content words after a candidate headline that the story so far already used.
# On the seed pages, real sub-headings score 0.45 or more and unrelated stories 0.15 or less (tests pin both).
TOPIC_SHIFT_OVERLAP = 0.25


@dataclass(slots=True)
class Story:
    """One story found on a page: its title (None when the page shows none), paragraphs and named source."""

    title: str | None
    paragraphs: list[str] = field(default_factory=list)
    source: str | None = None

    @property
    def words(self) -> int:
        return sum(c.word_count(p) for p in self.paragraphs)


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
    if c.is_js_warning(text) or c.is_ui_label(text) or c.is_related_placeholder(text):
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
        return "end", None
    if c.is_bullet(text):
        return "drop", None
    if c.is_credit_line(text):
        return "credit", None
    if c.is_caption(text):
        return "caption", None
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
    # A line printed twice in a row is a photo caption and its alt text; a line after a bare credit is a caption.
    for i in range(len(items) - 1):
        if items[i].kind in ("text", "caption") and items[i].text == items[i + 1].text:
            items[i].kind = items[i + 1].kind = "caption"
        if items[i].kind == "credit" and items[i + 1].kind == "text" and c.word_count(items[i + 1].text) <= 30:
            items[i + 1].kind = "caption"
    return items


def _next_text(items: list[_Item], start: int) -> int | None:
    for j in range(start, len(items)):
        if items[j].kind == "text":
            return j
        if items[j].kind not in ("caption", "drop", "credit", "tt"):
            return None
    return None


def _tt_starts(items: list[_Item]) -> dict[int, str]:
    """Story starts marked by the "TT" font toggle: headline, captions, TT, then the headline printed again."""
    starts: dict[int, str] = {}
    for t, item in enumerate(items):
        if item.kind != "tt":
            continue
        repeat = _next_text(items, t + 1)
        if repeat is not None:
            for s in range(t - 1, max(-1, t - 9), -1):
                if items[s].kind == "text" and items[s].text == items[repeat].text:
                    starts[s] = items[s].text
                    items[repeat].kind = "drop"
                    break
            else:
                repeat = None
        if repeat is None:
            # No repeated headline: the earliest headline-like line in the header block just above the TT.
            candidate = None
            for s in range(t - 1, max(-1, t - 7), -1):
                if items[s].kind == "text" and c.is_headline_like(items[s].text, 25):
                    candidate = s
                elif items[s].kind not in ("caption", "drop"):
                    break
            if candidate is not None:
                starts[candidate] = items[candidate].text
    return starts


def _is_body(items: list[_Item], index: int | None) -> bool:
    return index is not None and c.word_count(items[index].text) >= BODY_WORDS


def _body_soon(items: list[_Item], start: int, within: int = 3) -> bool:
    """Story text follows within a few lines (past a sub-title or captions): the line before it is a headline."""
    seen = 0
    for item in items[start:]:
        if item.kind == "text":
            if c.word_count(item.text) >= BODY_WORDS:
                return True
            seen += 1
            if seen >= within:
                return False
        elif item.kind not in ("caption", "drop", "credit", "tt"):
            return False
    return False


def _following_body(items: list[_Item], start: int, limit: int) -> list[str]:
    """Up to `limit` body paragraphs right after `start`, stopping at anything that is not story text."""
    found: list[str] = []
    for item in items[start:]:
        if item.kind == "caption":
            continue
        if item.kind != "text" or len(found) >= limit:
            break
        found.append(item.text)
    return found


_STOP = {c.fold(w) for w in ["التي", "الذي", "الذين", "على", "إلى", "عن", "في", "من", "مع", "بين", "بعد", "قبل", "حيث", "كما", "هذا", "هذه", "ذلك", "تلك", "وقال", "وقالت", "قال", "قالت", "أن", "إن", "كان", "كانت", "لم", "لن", "وفي", "ومن", "خلال", "أيضا", "أيضاً", "اليوم"]}
_PREFIX = re.compile(r"^(وال|بال|فال|كال|لل|ال|و)(?=\w{3,})")


def _content_words(text: str) -> set[str]:
    words = set()
    for word in re.findall(r"\w+", c.fold(text)):
        if len(word) < 3 or word.isdigit() or word in _STOP:
            continue
        words.add(_PREFIX.sub("", word))
    return words


def topic_overlap(story_text: str, following: str) -> float:
    """Share of the content words of `following` already used in `story_text` (1.0: same topic)."""
    new = _content_words(following)
    if not new:
        return 1.0
    return len(new & _content_words(story_text)) / len(new)


def _topic_shift(items: list[_Item], i: int, story: Story) -> bool:
    """A headline-like line, after a finished story, introducing text on a different subject: a new story."""
    item = items[i]
    if story.words < MIN_STORY_WORDS or item.blank_before == 0 and _has_blanks(items):
        return False
    if not c.is_headline_like(item.text) or c.word_count(item.text) < 5:
        return False
    following = _following_body(items, i + 1, 2)
    if not following or c.word_count(following[0]) < BODY_WORDS:
        return False
    overlap = topic_overlap("\n".join(story.paragraphs), "\n".join([item.text, *following]))
    return overlap < TOPIC_SHIFT_OVERLAP


def _has_blanks(items: list[_Item]) -> bool:
    return any(item.blank_before for item in items[1:])


def _append(story: Story, paragraph: str) -> None:
    # Scrapers sometimes break a sentence across a blank line; rejoin a long paragraph that stops mid-sentence.
    previous = story.paragraphs[-1] if story.paragraphs else ""
    broken = c.word_count(previous) >= 20 and not c.ends_sentence(previous)
    if broken and paragraph[:1].isalpha() and not c.is_headline_like(paragraph):
        story.paragraphs[-1] += " " + paragraph
    else:
        story.paragraphs.append(paragraph)


def split_page(page: str) -> list[Story]:
    """The stories on one scraped page, in order; boilerplate, captions and related-article lists left out."""
    items = _items(page)
    starts = _tt_starts(items)
    stories: list[Story] = []
    story: Story | None = None
    state = "body"  # "body": reading a story; "skip": after its end marker; "related": inside a teaser list
    page_outlet: str | None = None
    drop_teaser = False

    def start(title: str | None) -> Story:
        new = Story(title)
        stories.append(new)
        return new

    for i, item in enumerate(items):
        if i in starts:
            story, state, drop_teaser = start(starts[i]), "body", False
            continue
        kind = item.kind
        if kind in ("signature", "outlet"):
            page_outlet = page_outlet or item.name
        if kind == "source":
            if story is not None and state == "body" and story.source is None:
                story.source = item.name
            state = "skip" if story is not None else state
        elif kind == "end":
            state = "skip" if story is not None else state
        elif kind == "related":
            state = "related"
        elif kind == "read_more":
            # A bare "اقرأ أيضاً" label: inside a story the line after it is a link to another page.
            drop_teaser = state == "body" and c.word_count(item.text) <= 3
        elif kind == "text":
            nxt = _next_text(items, i + 1)
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
            elif state == "skip" and c.is_headline_like(item.text) and _is_body(items, nxt):
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
