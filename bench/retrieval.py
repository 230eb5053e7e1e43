"""Article retrieval of the dev questions over one or more indexes of the same archive (made at
different precisions, or on different CPUs): R@1, R@5, R@10 and MRR@10 of the gold articles, each
question embedded at its index's own precision and retrieved as `newsqa ask` retrieves (hybrid,
the default settings, as of the question's date). No answers are generated.

    python bench/retrieval.py --questions ../shared/data/realtimeqa-dev/questions.jsonl \\
        --index /tmp/a/indexes/int8 --index /tmp/b/indexes/fp32
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qa.core.records import Filters
from qa.core.settings import AskParams
from qa.eval.metrics import distinct, mean, recall_at_k, reciprocal_rank
from qa.eval.questions import load_questions
from qa.eval.score import gold_article_ids
from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder
from qa.models.onnx import OnnxEmbedder
from qa.search.retrieve import retrieve
from qa.store.index import Index


def scores(path: Path, questions_file: Path, cache: Path) -> dict[str, float]:
    questions = [q for q in load_questions(questions_file) if q.gold_urls]
    params = AskParams().retrieve
    index = Index.open(path, None, write=False)
    try:
        precision = index.manifest["embedder"].get("precision", "fp32")
        embedder = OnnxEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM, cache,
                                precision=precision)
        gold = gold_article_ids(index, questions)
        rows = []
        for q in questions:
            if not gold[q.id]:
                continue
            vector = embedder.embed([q.question])[0]
            hits = retrieve(index, q.question, vector, Filters().ending(q.as_of), params)
            ranked = distinct(h.article.id for h in hits)
            rows.append((recall_at_k(ranked, gold[q.id], 1), recall_at_k(ranked, gold[q.id], 5),
                         recall_at_k(ranked, gold[q.id], 10),
                         reciprocal_rank(ranked, gold[q.id], 10)))
    finally:
        index.close()
    names = ("R@1", "R@5", "R@10", "MRR@10")
    out = {name: mean([r[n] for r in rows]) or 0.0 for n, name in enumerate(names)}
    return {"precision": precision, "questions": len(rows), **out}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--index", type=Path, action="append", required=True,
                        help="an index folder (repeatable)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "newsqa")
    args = parser.parse_args()
    print("| index | precision | questions | R@1 | R@5 | R@10 | MRR@10 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for path in args.index:
        s = scores(path, args.questions, args.cache)
        print(f"| {path} | {s['precision']} | {s['questions']} | {s['R@1']:.3f} | "
              f"{s['R@5']:.3f} | {s['R@10']:.3f} | {s['MRR@10']:.3f} |")


if __name__ == "__main__":
    main()
