"""Cited question answering: retrieve passages for a question (with follow-up context), pick sentences, cite.

Every sentence of an answer is copied from a passage returned with it, followed by that passage's
marker [n]. Candidate sentences are described by evidence features and scored by the learned answer
model (answer_model.py); when the best one's probability of holding the answer is below the calibrated
threshold, the answer abstains instead of guessing. The best sentence is quoted together with the one just
before or after it when the model says that neighbour likely holds the answer (it often does: a passage's
lead names the subject, the next sentence the fact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrieval import answer_model, compose, evidence
from retrieval.query import ParsedQuery
from retrieval.search import Filters, Loaded, Ranked, Retriever, reference
from retrieval.sentences import split_sentences

PASSAGES_PER_ARTICLE = 2  # agency copy repeats: don't let one article fill the evidence
COPY_LOOKAHEAD = 4  # candidate articles looked up per evidence passage, for their copy groups
# A further sentence joins the answer when its probability is within this of the best one's and above the
# threshold. Chosen on the held-out folds of evaluation/scripts/train_answers.py run with this constant edited (6 sentences
# re-scored): 0.15 gave 59.7 % right answers, 0.3 gave 61.6 % at the same abstention (2.1 → 2.3 sentences an
# answer); 1.0 (always three) reads as a list.
ANSWER_MARGIN = 0.3
TYPE_FOUND = evidence.CHEAP_FEATURES.index("type_found")


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    answered: bool
    evidence: float  # the best sentence's probability of holding the answer (0 when nothing qualified)
    citations: list[dict[str, Any]]
    context: str  # the text retrieval used (the question, with borrowed context for a follow-up)
    model: str = ""  # the answer model's version, for diagnostics


@dataclass(slots=True)
class Candidates:
    """Everything an answer is chosen from: the evidence passages, their usable sentences and the
    sentences' cheap features (CHEAP_FEATURES rows, one per sentence)."""

    context: str
    kind: str | None  # the kind of fact asked for (evidence.answer_type)
    passages: list[Loaded]
    sentences: list[compose.Sentence]
    features: list[list[float]]
    query_vector: np.ndarray | None
    # The evidence passages' ranks in the BM25 and dense lists, by passage id (features use them; training
    # asks another question against the same evidence with them).
    keyword_ranks: Mapping[int, int] = field(default_factory=dict)
    semantic_ranks: Mapping[int, int] = field(default_factory=dict)

    def keep(self, indices: Sequence[int]) -> Candidates:
        """The same question with only these sentences (to build unanswerable cases for training)."""
        return Candidates(
            self.context,
            self.kind,
            self.passages,
            [self.sentences[i] for i in indices],
            [self.features[i] for i in indices],
            self.query_vector,
            self.keyword_ranks,
            self.semantic_ranks,
        )


def evidence_passages(
    candidates: list[Ranked], limit: int, copy_group: Mapping[str, str] | None = None
) -> list[Ranked]:
    """The top `limit` passages, at most PASSAGES_PER_ARTICLE from one article, and from one article per
    copy group (`copy_group`: article id -> its group): the same agency text in another outlet adds no
    evidence, only another name for it (see `copies_of`)."""
    per_article: dict[str, int] = {}
    cited_for: dict[str, str] = {}  # copy group -> the one article read for it
    chosen: list[Ranked] = []
    for candidate in candidates:
        article_id = candidate.article.id
        group = (copy_group or {}).get(article_id, article_id)
        if cited_for.setdefault(group, article_id) != article_id:
            continue
        count = per_article.get(article_id, 0)
        if count >= PASSAGES_PER_ARTICLE:
            continue
        per_article[article_id] = count + 1
        chosen.append(candidate)
        if len(chosen) >= limit:
            break
    return chosen


def gather(
    retriever: Retriever,
    question: str,
    history: list[dict[str, str]],
    mode: str,
    settings: dict[str, Any],
    groups: Any = None,
) -> Candidates:
    """Retrieve the evidence passages for `question` and describe each usable sentence in them."""
    analyze = retriever.analyze
    ignore = compose.question_terms(analyze)
    context = compose.with_context(question, history, analyze, ignore)
    kind = evidence.answer_type(question)
    if context == question and compose.has_no_subject(question, analyze, ignore):
        # "ومن قال ذلك؟" with no earlier turn: any sentence with قال would do, so none is right.
        return Candidates(context, kind, [], [], [], None)
    # Retrieval sees the key words only: question words would add noise to BM25 and to the embedding
    # they add nothing the e5 "query:" prefix does not already say.
    words = [w for w in context.split() if any(t.term not in ignore for t in analyze(w))]
    query = ParsedQuery(words=tuple(words or context.split()))
    retrieval = retriever.retrieve(query, mode, Filters(), embed_text=context, with_facets=False)
    limit = int(settings["answer.passages"])
    copy_group = None
    if groups is not None:
        # The articles the evidence can come from: the first candidates, enough for `limit` passages.
        heads = list(dict.fromkeys(c.article.id for c in retrieval.candidates))[: limit * COPY_LOOKAHEAD]
        copy_group = {a: row.copy_group for a, row in groups.rows(heads).items()}
    passages = retriever.load(evidence_passages(retrieval.candidates, limit, copy_group))
    if not passages:
        return Candidates(context, kind, [], [], [], retrieval.query_vector)
    said = "\n".join(turn["content"] for turn in history if turn.get("role") == "assistant")
    vector = retrieval.query_vector if retrieval.query_vector is not None else retriever.embed_query(context)
    return describe(
        retriever,
        question,
        context,
        passages,
        vector,
        retrieval.keyword_ranks,
        retrieval.semantic_ranks,
        retrieval.semantic_scores,
        said,
    )


def describe(
    retriever: Retriever,
    question: str,
    context: str,
    passages: list[Loaded],
    vector: np.ndarray,
    keyword_ranks: Mapping[int, int],
    semantic_ranks: Mapping[int, int],
    semantic_scores: Mapping[int, float] | None = None,
    said: str = "",
) -> Candidates:
    """The usable sentences of the evidence `passages` and their features for `question` (`context`: it
    with any borrowed follow-up context; `vector`: its embedding; `said`: what the conversation already
    answered). `semantic_scores` are the dense list's cosines for this `vector`, when it retrieved them."""
    analyze = retriever.analyze
    ignore = compose.question_terms(analyze)
    kind = evidence.answer_type(question)
    keys = compose.key_terms(context, analyze, ignore)
    similarity = retriever.passage_similarities([c.passage for c in passages], vector, semantic_scores)
    # Every sentence is analyzed once; a passage's terms (for the rarity weights) are its sentences' terms.
    split = [
        [
            compose.Sentence(
                rank,
                start,
                end,
                c.passage.text[start:end],
                frozenset(t.term for t in analyze(c.passage.text[start:end])),
                index,
            )
            for index, (start, end) in enumerate(split_sentences(c.passage.text))
        ]
        for rank, c in enumerate(passages)
    ]
    weights = evidence.term_weights([frozenset().union(*(s.terms for s in pieces)) for pieces in split])

    sentences: list[compose.Sentence] = []
    features: list[list[float]] = []
    for rank, (candidate, pieces) in enumerate(zip(passages, split, strict=True)):
        pid = candidate.passage.id
        around_passage = evidence.passage_overlap([s.terms for s in pieces], keys)
        for index, sentence in enumerate(pieces):
            piece, terms = sentence.text, sentence.terms
            if not compose.usable(piece, terms):
                continue
            where = evidence.Position(
                rank, keyword_ranks.get(pid), semantic_ranks.get(pid), index, len(pieces)
            )
            spans = evidence.type_spans(piece, kind)
            around = evidence.surroundings(terms, index, around_passage, keys, spans, piece, question)
            sentences.append(sentence)
            features.append(
                evidence.cheap_features(
                    float(similarity[pid]),
                    evidence.overlap(terms, keys),
                    evidence.weighted_overlap(terms, keys, weights),
                    kind,
                    bool(spans),
                    where,
                    len(terms),
                    bool(said) and piece in said,
                    around,
                )
            )
    ids = [c.passage.id for c in passages]
    return Candidates(
        context,
        kind,
        passages,
        sentences,
        features,
        vector,
        {i: keyword_ranks[i] for i in ids if i in keyword_ranks},
        {i: semantic_ranks[i] for i in ids if i in semantic_ranks},
    )


def sentence_similarities(retriever: Retriever, found: Candidates, indices: Sequence[int]) -> list[float]:
    """The question's cosine with each chosen sentence's own embedding, in one engine call."""
    if not indices or found.query_vector is None:
        return [0.0] * len(indices)
    vectors = retriever.embed_sentences([found.sentences[i].text for i in indices])
    return [float(v) for v in vectors @ found.query_vector]


@dataclass(frozen=True, slots=True)
class Scores:
    """A question's candidates scored: the first stage's probability for every one, the last stage's for
    those it scored (all of them when no sentence is embedded)."""

    ranking: np.ndarray
    final: dict[int, float]


def embedded(ranking: np.ndarray, most: int, within: float) -> list[int]:
    """The candidates worth embedding, best first: the `most` best by the first stage, without those more
    than `within` below the best one's probability (a clear winner is embedded alone: embedding is most of
    an ask's time, and a sentence far behind is rarely the one the second stage picks)."""
    order = sorted(range(len(ranking)), key=lambda i: -ranking[i])[: max(most, 0)]
    if not order:
        return []
    top = float(ranking[order[0]])
    return [i for i in order if float(ranking[i]) >= top - within]


def probabilities(
    retriever: Retriever, found: Candidates, model: answer_model.AnswerModel, embed_best: int
) -> Scores:
    """The probability that each sentence holds the answer: the best by cheap features (`embedded`, by the
    model's rule, at most `embed_best`) are re-scored with their own embedding; with `embed_best` 0 every
    sentence keeps its cheap-feature one."""
    rows = evidence.with_gaps(found.features)
    cheap = model.cheap.probability(rows)
    if embed_best <= 0:
        return Scores(cheap, {i: float(p) for i, p in enumerate(cheap)})
    best = embedded(cheap, min(embed_best, model.embed_most), model.embed_within)
    similarities = sentence_similarities(retriever, found, best)
    full = model.full.probability(evidence.with_sentence([rows[i] for i in best], similarities))
    return Scores(cheap, {i: float(p) for i, p in zip(best, full, strict=True)})


def pick(
    found: Candidates,
    scored: Mapping[int, float],
    max_sentences: int,
    margin: float = ANSWER_MARGIN,
    floor: float = float("-inf"),
) -> list[int]:
    """Indices into `found.sentences` of the answer's sentences, best first, chosen among the `scored` ones
    (compose.choose; a sentence holding the fact asked for keeps out added ones that do not)."""
    order = list(scored)
    cues = [bool(found.features[i][TYPE_FOUND]) for i in order] if found.kind else None
    chosen = compose.choose(
        [found.sentences[i] for i in order],
        [scored[i] for i in order],
        max_sentences,
        cues,
        margin=margin,
        floor=floor,
    )
    return [order[j] for j in chosen]


def neighbour_rows(
    found: Candidates, ranking: np.ndarray, best: int, best_probability: float
) -> list[tuple[int, list[float]]]:
    """The candidate sentences just before and after sentence `best` in its passage, with their
    NEIGHBOUR_FEATURES rows (a neighbour too short or too long to be a candidate is not offered)."""
    here = found.sentences[best]
    return [
        (
            j,
            evidence.neighbour_features(
                found.features[j],
                found.features[best],
                float(ranking[j]),
                best_probability,
                other.index > here.index,
            ),
        )
        for j, other in enumerate(found.sentences)
        if other.passage == here.passage and abs(other.index - here.index) == 1
    ]


def neighbour_of(
    found: Candidates, scores: Scores, best: int, model: answer_model.AnswerModel
) -> tuple[int, float] | None:
    """The neighbour of sentence `best` most likely to hold the answer, and that probability."""
    rows = neighbour_rows(found, scores.ranking, best, scores.final[best])
    if not rows:
        return None
    chance = model.neighbour.probability([row for _, row in rows])
    k = int(np.argmax(chance))
    return rows[k][0], float(chance[k])


def quotes(
    found: Candidates,
    scores: Scores,
    model: answer_model.AnswerModel,
    max_sentences: int,
    floor: float = float("-inf"),
    margin: float = ANSWER_MARGIN,
    neighbours: bool = True,
) -> list[list[int]]:
    """The answer's quotes, the best first: each the indices of sentences quoted together, in reading order.

    The best sentence is quoted with its neighbour when the neighbour model gives that the rule any added
    sentence meets (at least `floor`, within `margin` of the best); the pair counts as two of the
    `max_sentences`, the rest are single sentences from other passages (`pick`)."""
    chosen = pick(found, scores.final, max_sentences, margin=margin, floor=floor)
    if not chosen:
        return []
    best = chosen[0]
    near = neighbour_of(found, scores, best, model) if neighbours and max_sentences >= 2 else None
    if near is None or near[1] < floor or near[1] < scores.final[best] - margin:
        return [[i] for i in chosen]
    pair = sorted((best, near[0]), key=lambda i: found.sentences[i].index)
    neighbour = found.sentences[near[0]]
    rest = [
        [i]
        for i in chosen[1:]
        if compose.jaccard(found.sentences[i].terms, neighbour.terms) < compose.DUPLICATE_JACCARD
    ]
    return [pair, *rest[: max_sentences - 2]]


def quoted(found: Candidates, quote: Sequence[int]) -> compose.Sentence:
    """One quote as a sentence of its passage: adjacent sentences joined with the text between them, verbatim."""
    first, last = found.sentences[quote[0]], found.sentences[quote[-1]]
    if len(quote) == 1:
        return first
    text = found.passages[first.passage].passage.text[first.start : last.end]
    return compose.Sentence(first.passage, first.start, last.end, text, first.terms | last.terms, first.index)


def answer(
    retriever: Retriever,
    question: str,
    history: list[dict[str, str]],
    mode: str,
    settings: dict[str, Any],
    groups: Any = None,
) -> Answer:
    """Compose the cited answer to `question`, or abstain. With `groups` (indexer.grouping.lookup), the
    evidence holds one article per copy group and each citation names the other outlets that carried it."""
    model = answer_model.load()
    found = gather(retriever, question, history, mode, settings, groups)
    if not found.sentences:
        return Answer(compose.ABSTAIN_TEXT, False, 0.0, [], found.context, model.version)
    scores = probabilities(retriever, found, model, int(settings["answer.embed_sentences"]))
    threshold = float(settings["answer.abstain_below"]) or model.threshold
    chosen = quotes(found, scores, model, int(settings["answer.max_sentences"]), floor=threshold)
    evidence_score = max(scores.final.values())
    if not chosen or evidence_score < threshold:
        return Answer(compose.ABSTAIN_TEXT, False, evidence_score, [], found.context, model.version)

    citations: list[dict[str, Any]] = []
    parts: list[str] = []
    for n, quote in enumerate(chosen, start=1):
        sentence = quoted(found, quote)
        candidate = found.passages[sentence.passage]
        parts.append(f"{sentence.text} [{n}]")
        citations.append(citation(n, candidate, sentence, evidence.type_spans(sentence.text, found.kind)))
    copies = copies_of(groups, [c["article_id"] for c in citations], retriever)
    for item in citations:
        item["also_carried_by"] = copies.get(item["article_id"], [])
    return Answer(" ".join(parts), True, evidence_score, citations, found.context, model.version)


def copies_of(
    groups: Any, article_ids: Sequence[str], retriever: Retriever
) -> dict[str, list[dict[str, Any]]]:
    """For each cited article, the other articles of its copy group (the same text elsewhere), oldest first."""
    if groups is None or not article_ids:
        return {}
    rows = groups.rows(article_ids)
    members = groups.members("copy_group", {r.copy_group for r in rows.values()})
    others = {a: [m for m in members.get(row.copy_group, []) if m.article_id != a] for a, row in rows.items()}
    articles = retriever.stores.docs.get_articles({m.article_id for ms in others.values() for m in ms})
    return {
        a: [
            {
                "article_id": m.article_id,
                "source": m.source,
                "published": m.published,
                "title": articles[m.article_id].title,
                "url": articles[m.article_id].url,
            }
            for m in ms
            if m.article_id in articles
        ]
        for a, ms in others.items()
    }


def citation(
    n: int, candidate: Loaded, sentence: compose.Sentence, answer_spans: Sequence[tuple[int, int]] = ()
) -> dict[str, Any]:
    """What a reader needs to check marker [n]: the article, the whole passage, and the quoted sentence.

    quote_start/quote_end index `text` (the passage); add the passage's start for article offsets;
    `answer_spans` index `quote`: the date, number or name the question asked for, where one is found.
    """
    passage = candidate.passage
    return {
        "n": n,
        **reference(candidate),
        "text": passage.text,
        "quote": sentence.text,
        "quote_start": sentence.start,
        "quote_end": sentence.end,
        "passage_start": passage.start,
        "answer_spans": [list(span) for span in answer_spans],
        "score": round(float(candidate.score), 6),
    }
