"""Narrow retrieved chunks to the few sentences that bear on the question."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.core.records import Evidence, Hit
from qa.core.settings import EvidenceParams as EvidenceParams  # defined with the other settings
from qa.core.text import content_terms, jaccard, sentence_spans, word_count
from qa.models.embedders import Embedder


def question_overlap(question_terms: set[str], sentence: str) -> float:
    """Share of the question's content words that the sentence contains."""
    if not question_terms:
        return 0.0
    return len(question_terms & set(content_terms(sentence))) / len(question_terms)


def select_evidence(question: str, query_vector: np.ndarray, hits: Sequence[Hit],
                    embedder: Embedder, params: EvidenceParams) -> list[Evidence]:
    """Score every sentence of the retrieved chunks by meaning (cosine to the question), shared
    words and the rank of its article; keep the best, one copy of any repeated sentence."""
    article_rank: dict[str, int] = {}
    candidates: list[tuple[Hit, int, int]] = []
    seen_spans: set[tuple[str, int, int]] = set()
    for hit in hits:
        article_rank.setdefault(hit.article.id, len(article_rank))
        if article_rank[hit.article.id] >= params.articles:
            continue
        for start, end in sentence_spans(hit.chunk.text):
            span = (hit.article.id, hit.chunk.start + start, hit.chunk.start + end)
            if span in seen_spans or word_count(hit.chunk.text[start:end]) < params.min_words:
                continue
            seen_spans.add(span)
            candidates.append((hit, span[1], span[2]))
    if not candidates:
        return []

    texts = [hit.article.text[start:end] for hit, start, end in candidates]
    similarity = embedder.embed(texts) @ query_vector.astype(np.float32)
    question_terms = set(content_terms(question))
    scored = []
    for (hit, start, end), text, cosine in zip(candidates, texts, similarity, strict=True):
        score = (float(cosine)
                 + params.lexical_weight * question_overlap(question_terms, text)
                 + params.rank_weight / (1 + article_rank[hit.article.id]))
        scored.append((score, hit, start, end, set(content_terms(text))))
    scored.sort(key=lambda s: (-s[0], s[1].article.id, s[2]))

    chosen: list[Evidence] = []
    chosen_terms: list[set[str]] = []
    for score, hit, start, end, terms in scored:
        # The same fact retold in another outlet's copy adds nothing: leave room for others.
        # Two sentences without content words count as the same (1.0): one is room enough.
        if any(jaccard(terms, other, empty=1.0) > params.max_overlap for other in chosen_terms):
            continue
        chosen_terms.append(terms)
        chosen.append(Evidence(key=len(chosen) + 1, article=hit.article, start=start, end=end,
                               score=score))
        if len(chosen) == params.sentences:
            break
    return chosen
