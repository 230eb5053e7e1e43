"""A run in the TREC formats: the retrieved articles as `run.trec`, the gold ones as `qrels.txt`.

Scores and ties follow trec_eval's conventions (as pyserini writes them): an article's score is
its best chunk's, and equal scores are ordered by article id.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qa.eval.answers import AnswerRecord
from qa.eval.questions import Question
from qa.eval.score import gold_article_ids
from qa.store.index import Index


def write_trec(out: Path, questions: Sequence[Question], records: Sequence[AnswerRecord],
               index: Index, run_name: str = "newsqa") -> None:
    """`run.trec` (qid Q0 docno rank score tag; an article's score is its best chunk's) and,
    where gold URLs resolve to stored articles, `qrels.txt` (qid 0 docno 1)."""
    by_id = {r.id: r for r in records}
    lines = []
    for q in questions:
        record = by_id.get(q.id)
        if record is None:
            continue
        best: dict[str, float] = {}
        for hit in record.retrieved:
            best[hit.article_id] = max(best.get(hit.article_id, float("-inf")), hit.score)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
        for rank, (article_id, score) in enumerate(ranked, start=1):
            lines.append(f"{q.id} Q0 {article_id} {rank} {score:.6f} {run_name}\n")
    (out / "run.trec").write_text("".join(lines), encoding="utf-8")
    write_qrels(out, questions, index)


def write_qrels(out: Path, questions: Sequence[Question], index: Index) -> None:
    """`qrels.txt`, when some question's gold URL is a stored article (else no file)."""
    gold = gold_article_ids(index, questions)
    qrels = [f"{q.id} 0 {a} 1\n" for q in questions for a in sorted(gold[q.id])]
    if qrels:
        (out / "qrels.txt").write_text("".join(qrels), encoding="utf-8")
