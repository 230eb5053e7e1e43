"""Find the passages that bear on a question: dense and lexical search, fused, filtered,
with at most a few chunks from any one article."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from qa.core.records import Filters, Hit
from qa.core.settings import RetrieveParams as RetrieveParams  # defined with the other settings
from qa.store.index import Index


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], rrf_k: int,
                           weights: Sequence[float] | None = None) -> dict[int, float]:
    """Sum of weight / (rrf_k + rank) over the rankings an item appears in (rank from 1)."""
    fused: dict[int, float] = {}
    for i, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[i]
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (rrf_k + rank)
    return fused


def _age_days(published: str | None, until: str) -> float | None:
    if not published:
        return None
    try:
        return max(0.0, (date.fromisoformat(until) - date.fromisoformat(published[:10])).days)
    except ValueError:
        return None


def retrieve(index: Index, question: str, query_vector: np.ndarray, filters: Filters,
             params: RetrieveParams) -> list[Hit]:
    """The best chunks of the `params.k` best articles, best first; ties broken by chunk id.

    A question about the latest state of things gets no recency prior unless it has an end
    date: anchored at the newest article in the archive, the prior favoured whatever was
    published last over the reports that bear on the question (on the sample, a ferry story
    outranked the storm it was asked about). Among the retrieved reports, the newest is
    preferred later, by the order of the evidence (`qa.answer.news.newest_first`)."""
    dense = index.search_dense(query_vector, params.candidates, filters)
    lexical = index.search_lexical(question, params.candidates, filters)
    fused = reciprocal_rank_fusion(
        [[rowid for rowid, _ in dense], [rowid for rowid, _ in lexical]], params.rrf_k,
        [params.dense_weight, params.lexical_weight],
    )
    records = index.chunks_by_rowid(list(fused))
    anchor = filters.until
    if params.recency_weight and anchor:
        top = 1.0 / (params.rrf_k + 1)
        for rowid, (_, article) in records.items():
            age = _age_days(article.published, anchor)
            if age is not None:
                decay = 0.5 ** (age / params.recency_half_life)
                fused[rowid] += params.recency_weight * top * decay
    ranked = sorted(records, key=lambda r: (-fused[r], records[r][0].id))

    hits: list[Hit] = []
    per_article: dict[str, int] = {}
    for rowid in ranked:
        chunk, article = records[rowid]
        seen = per_article.get(article.id, 0)
        if seen == 0 and len(per_article) == params.k:
            continue
        if seen >= params.chunks_per_article:
            continue
        per_article[article.id] = seen + 1
        hits.append(Hit(chunk=chunk, article=article, score=fused[rowid]))
    return hits
