"""Recall of the inverted file on real news vectors: the chunks of an existing index and the
questions of a question file, searched exactly and through the IVF newsqa builds past
`EXACT_UP_TO` (the same list count rule and nprobe, forced here whatever the index's size).

    python bench/ivf_recall.py --index-dir /work/idx --index dev \\
        --questions ../shared/data/realtimeqa-dev/questions.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=Path("indexes"))
    parser.add_argument("--index", default="default")
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    import faiss

    from qa.app.options import context
    from qa.store.vectors import faiss as faiss_file

    app = context(index=args.index, index_dir=args.index_dir)
    embedder = app.embedder()
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    with app.open_index(embedder=embedder) as index:
        feed = index.feed
        ids, vectors = zip(*feed.vectors(), strict=True)
        all_ids, all_vectors = np.concatenate(ids), np.concatenate(vectors)
        queries = np.asarray(embedder.embed(questions), dtype=np.float32)
    n = len(all_ids)
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(all_vectors.shape[1]))
    exact.add_with_ids(all_vectors, all_ids)
    began = time.perf_counter()
    real_limit = faiss_file.EXACT_UP_TO
    faiss_file.EXACT_UP_TO = 0  # force the inverted file at this size
    try:
        ivf = faiss_file.new_vector_index(
            all_vectors.shape[1], n,
            lambda size: all_vectors[np.linspace(0, n - 1, min(size, n)).astype(np.int64)])
    finally:
        faiss_file.EXACT_UP_TO = real_limit
    ivf.add_with_ids(all_vectors, all_ids)
    build_s = time.perf_counter() - began
    _, want = exact.search(queries, args.k)
    rows = []
    for nprobe in sorted({8, 16, faiss_file.NPROBE, 96}):
        ivf.nprobe = nprobe
        began = time.perf_counter()
        _, got = ivf.search(queries, args.k)
        per_query_ms = 1000 * (time.perf_counter() - began) / len(queries)
        recall = np.mean([len(set(g) & set(w)) / args.k for g, w in zip(got, want, strict=True)])
        rows.append((nprobe, recall, per_query_ms))
    print(f"{n:,} real chunk vectors ({args.index}), {len(queries)} questions, "
          f"IVF{ivf.nlist},Flat built in {build_s:.1f} s; recall@{args.k} against exact search")
    print("| nprobe | recall@10 | ms/query (batch) |")
    print("|---:|---:|---:|")
    for nprobe, recall, ms in rows:
        mark = " (newsqa's)" if nprobe == faiss_file.NPROBE else ""
        print(f"| {nprobe}{mark} | {recall:.3f} | {ms:.2f} |")


if __name__ == "__main__":
    main()
