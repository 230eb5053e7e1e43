"""Scoring a run: each question's scores (`Scored`), then the report's means over them.

Each metric is a mean over the questions that have the gold it needs; it is None where none
has, and a cutoff deeper than the `k` articles retrieved is None rather than a truncated figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qa.eval.answers import AnswerRecord
from qa.eval.metrics import (
    contains_gold,
    exact_match,
    is_right,
    mean,
    normalize_url,
    percentile,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)
from qa.eval.questions import Question
from qa.store.index import Index


def gold_article_ids(index: Index, questions: Sequence[Question]) -> dict[str, set[str]]:
    """Each question's gold URLs, as the ids of the stored articles with those URLs; a gold
    article kept as a syndicated copy counts as the article it was folded into."""
    by_url: dict[str, str] = {}
    for article_id, url in index.article_urls():
        by_url.setdefault(normalize_url(url), article_id)
    return {q.id: {by_url[u] for u in map(normalize_url, q.gold_urls) if u in by_url}
            for q in questions}


@dataclass(frozen=True)
class Scored:
    """One answered question's scores; None (or empty) where it lacks the gold a score needs."""

    id: str
    latency_s: float
    recall: tuple[float, float, float] | None  # @1, @5, @10; with gold URLs
    reciprocal_rank: float | None  # within the first 10
    exact_match: float | None  # these three, with gold answers
    f1: float | None
    contains_gold: float | None
    right: float | None  # with gold answers, and answered
    false_refusal: float | None  # with gold answers: 1.0 if refused
    refusal: float | None  # with `answers: []` (unanswerable): 1.0 if refused
    choice_right: float | None  # with choices and gold answers, and a pick
    choice_rule: str | None
    cites_gold: float | None  # with a gold article in the index
    gold_share: tuple[float, ...]  # each citation: 1.0 if it is of a gold article
    quote_exact: tuple[float, ...]  # each citation: 1.0 if its quote is in the cited article


def score_one(q: Question, record: AnswerRecord, gold: set[str],
              article_text: Callable[[str], str | None]) -> Scored:
    ranked = record.ranked_articles
    prediction = record.prediction
    refused = float(not record.answerable)
    cited = record.cited_articles
    return Scored(
        id=q.id,
        latency_s=record.latency_s,
        recall=(recall_at_k(ranked, gold, 1), recall_at_k(ranked, gold, 5),
                recall_at_k(ranked, gold, 10)) if q.gold_urls else None,
        reciprocal_rank=reciprocal_rank(ranked, gold, 10) if q.gold_urls else None,
        exact_match=exact_match(prediction, q.answers) if q.answers else None,
        f1=token_f1(prediction, q.answers) if q.answers else None,
        contains_gold=contains_gold(prediction, q.answers) if q.answers else None,
        right=float(is_right(prediction, q.answers)) if q.answers and record.answerable
        else None,
        false_refusal=refused if q.answers else None,
        refusal=refused if q.answers == () else None,
        choice_right=float(record.choice in q.answers)
        if q.choices and q.answers and record.choice is not None else None,
        choice_rule=record.choice_rule
        if q.choices and q.answers and record.choice is not None else None,
        cites_gold=float(bool(set(cited) & gold)) if gold else None,
        gold_share=tuple(float(a in gold) for a in cited) if gold else (),
        quote_exact=tuple(float(text is not None and c.quote in text)
                          for c in record.citations for text in [article_text(c.article_id)]),
    )


def score_run(questions: Sequence[Question], records: Sequence[AnswerRecord], index: Index,
              wall_s: float | None = None, k: int = 10) -> dict[str, Any]:
    """All metrics of a run (the `report.json` shape), gold articles looked up in `index`."""
    gold = gold_article_ids(index, questions)
    texts: dict[str, str | None] = {}

    def article_text(article_id: str) -> str | None:
        if article_id not in texts:
            article = index.article(article_id)
            texts[article_id] = article.text if article else None
        return texts[article_id]

    by_id = {r.id: r for r in records}
    scored = [score_one(q, by_id[q.id], gold[q.id], article_text)
              for q in questions if q.id in by_id]
    gold_in_index = sum(bool(gold[q.id]) for q in questions if q.gold_urls)
    return summarize(scored, questions=len(questions), gold_in_index=gold_in_index,
                     wall_s=wall_s, k=k)


def _present(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def summarize(scored: Sequence[Scored], *, questions: int, gold_in_index: int,
              wall_s: float | None = None, k: int = 10) -> dict[str, Any]:
    """The report over `scored` (in the questions' order: the latencies are listed so), for a
    run of `questions` questions of which `gold_in_index` have a gold article stored."""
    def m(values: Sequence[float | None]) -> float | None:
        value = mean(_present(values))
        return None if value is None else round(value, 4)

    recalls = _present([s.recall[0] if s.recall else None for s in scored])
    em = _present([s.exact_match for s in scored])
    right = _present([s.right for s in scored])
    cites_gold = _present([s.cites_gold for s in scored])
    quotes = [x for s in scored for x in s.quote_exact]
    refusals = _present([s.refusal for s in scored])
    false_refusals = _present([s.false_refusal for s in scored])
    choices = _present([s.choice_right for s in scored])
    rules: dict[str, int] = {}
    for s in scored:
        if s.choice_right is not None:
            rules[str(s.choice_rule)] = rules.get(str(s.choice_rule), 0) + 1
    latency = [s.latency_s for s in scored]

    def recall(at: int) -> float | None:
        return m([s.recall[at] if s.recall else None for s in scored])

    return {
        "questions": questions,
        "answered": len(scored),
        "retrieval": {"n": len(recalls), "gold_in_index": gold_in_index,
                      "recall@1": recall(0), "recall@5": recall(1) if k >= 5 else None,
                      "recall@10": recall(2) if k >= 10 else None,
                      "mrr@10": m([s.reciprocal_rank for s in scored]) if k >= 10 else None},
        "answers": {"n": len(em), "exact_match": m(em), "f1": m([s.f1 for s in scored]),
                    "contains_gold": m([s.contains_gold for s in scored]),
                    "n_answered": len(right), "precision": m(right)},
        "multiple_choice": {"n": len(choices), "accuracy": m(choices), "rules": rules},
        "citations": {"n": len(cites_gold), "cites_gold": m(cites_gold),
                      "gold_share": m([x for s in scored for x in s.gold_share]),
                      "quotes": len(quotes), "quote_exact": m(quotes)},
        "refusals": {"n_unanswerable": len(refusals), "refusal_rate": m(refusals),
                     "n_answerable": len(false_refusals), "false_refusal_rate": m(false_refusals)},
        "latency": {"n": len(latency), "p50_s": round(percentile(latency, 50), 3) if latency
                    else None, "p90_s": round(percentile(latency, 90), 3) if latency else None,
                    "wall_s": None if wall_s is None else round(wall_s, 3)},
        "latencies_s": [round(x, 3) for x in latency],
    }
