"""Find the passages that bear on a question: dense and lexical search, fused, filtered,
with at most a few chunks from any one article."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.records import Filters, Hit
from qa.store import Index


@dataclass(frozen=True)
class RetrieveParams:
    k: int = 5  # distinct articles returned
    candidates: int = 50  # chunks taken from each ranker before fusion
    rrf_k: int = 60  # reciprocal-rank-fusion damping constant
    chunks_per_article: int = 2


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], rrf_k: int) -> dict[int, float]:
    """Sum of 1 / (rrf_k + rank) over the rankings an item appears in (rank from 1)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (rrf_k + rank)
    return fused


def retrieve(index: Index, question: str, query_vector: np.ndarray, filters: Filters,
             params: RetrieveParams) -> list[Hit]:
    """The best chunks of the `params.k` best articles, best first; ties broken by chunk id."""
    dense = index.search_dense(query_vector, params.candidates, filters)
    lexical = index.search_lexical(question, params.candidates, filters)
    fused = reciprocal_rank_fusion(
        [[rowid for rowid, _ in dense], [rowid for rowid, _ in lexical]], params.rrf_k
    )
    records = index.chunks_by_rowid(list(fused))
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
