"""Cited question answering: retrieve passages for a question (with follow-up context), pick sentences, cite.

Every sentence of an answer is copied from a passage returned with it, followed by that passage's
marker [n]; when the best sentence is weak evidence the answer abstains instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webapp import compose
from webapp.query import ParsedQuery
from webapp.search import Candidate, Filters, Retriever
from webapp.sentences import split_sentences

PASSAGES_PER_ARTICLE = 2  # agency copy repeats: don't let one article fill the evidence


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    answered: bool
    evidence: float  # the best sentence score, compared with answer.abstain_below
    citations: list[dict[str, Any]]
    context: str  # the text retrieval used (the question, with borrowed context for a follow-up)
    similarity: float = 0.0  # the best sentence's parts, for calibration
    overlap: float = 0.0


def evidence_passages(candidates: list[Candidate], limit: int) -> list[Candidate]:
    """The top `limit` passages, at most PASSAGES_PER_ARTICLE from one article."""
    per_article: dict[str, int] = {}
    chosen: list[Candidate] = []
    for candidate in candidates:
        count = per_article.get(candidate.article.id, 0)
        if count >= PASSAGES_PER_ARTICLE:
            continue
        per_article[candidate.article.id] = count + 1
        chosen.append(candidate)
        if len(chosen) >= limit:
            break
    return chosen


def answer(retriever: Retriever, question: str, history: list[dict[str, str]], mode: str,
           settings: dict[str, Any]) -> Answer:
    """Compose the cited answer to `question`, or abstain."""
    analyze = retriever.analyze
    ignore = compose.question_terms(analyze)
    context = compose.with_context(question, history, analyze, ignore)
    if context == question and compose.has_no_subject(question, analyze, ignore):
        # "ومن قال ذلك؟" with no earlier turn: any sentence with قال would do, so none is right.
        return Answer(compose.ABSTAIN_TEXT, False, 0.0, [], context)
    # Retrieval sees the key words only: question words would add noise to BM25 and to the embedding
    # they add nothing the e5 "query:" prefix does not already say.
    words = [w for w in context.split() if any(t.term not in ignore for t in analyze(w))]
    query = ParsedQuery(words=tuple(words or context.split()))
    retrieval = retriever.retrieve(query, mode, Filters(), embed_text=context, with_facets=False)
    passages = retriever.load(evidence_passages(retrieval.candidates, int(settings["answer.passages"])))
    keys = compose.key_terms(context, analyze, ignore)
    cue = compose.answer_cue(question)

    sentences: list[compose.Sentence] = []
    for rank, candidate in enumerate(passages):
        text = candidate.passage.text
        for start, end in split_sentences(text):
            piece = text[start:end]
            terms = frozenset(t.term for t in analyze(piece))
            if compose.usable(piece, terms):
                sentences.append(compose.Sentence(rank, start, end, piece, terms))
    if not sentences:
        return Answer(compose.ABSTAIN_TEXT, False, 0.0, [], context)

    # A sentence's similarity is its passage's: the question against the passage vector stored at
    # indexing. Embedding candidate sentences at question time was most of an answer's time (25-40 ms
    # each) and chose no better on the calibration questions (README "Answers"); within a passage, the
    # key-term share and the answer cue pick the sentence.
    vector = retrieval.query_vector if retrieval.query_vector is not None else retriever.embed_query(context)
    by_passage = retriever.passage_similarities([c.passage for c in passages], vector)
    similarities = [by_passage[passages[s.passage].passage.id] for s in sentences]
    said = "\n".join(turn["content"] for turn in history if turn.get("role") == "assistant")
    scores = [compose.score_sentence(float(sim), s, keys, cue, said)
              for sim, s in zip(similarities, sentences, strict=True)]
    cues = [compose.has_cue(s.text, cue) for s in sentences] if cue else None
    chosen = compose.choose(sentences, scores, int(settings["answer.max_sentences"]), cues)
    evidence = scores[chosen[0]] if chosen else 0.0
    best_similarity = float(similarities[chosen[0]]) if chosen else 0.0
    best_overlap = compose.overlap(sentences[chosen[0]], keys) if chosen else 0.0
    if not chosen or evidence < float(settings["answer.abstain_below"]):
        return Answer(compose.ABSTAIN_TEXT, False, evidence, [], context, best_similarity, best_overlap)

    citations: list[dict[str, Any]] = []
    parts: list[str] = []
    for n, index in enumerate(chosen, start=1):
        sentence = sentences[index]
        candidate = passages[sentence.passage]
        parts.append(f"{sentence.text} [{n}]")
        citations.append(citation(n, candidate, sentence))
    return Answer(" ".join(parts), True, evidence, citations, context, best_similarity, best_overlap)


def citation(n: int, candidate: Candidate, sentence: compose.Sentence) -> dict[str, Any]:
    """What a reader needs to check marker [n]: the article, the whole passage, and the quoted sentence.

    quote_start/quote_end index `text` (the passage); add the passage's start for article offsets.
    """
    article, passage = candidate.article, candidate.passage
    return {
        "n": n,
        "article_id": article.id,
        "passage_id": passage.id,
        "title": article.title,
        "source": article.source,
        "published": article.published,
        "url": article.url,
        "text": passage.text,
        "quote": sentence.text,
        "quote_start": sentence.start,
        "quote_end": sentence.end,
        "passage_start": passage.start,
        "score": round(float(candidate.score), 6),
    }
