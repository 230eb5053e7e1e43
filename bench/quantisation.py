"""What compressing the vectors costs in recall, on real news vectors: the figures behind the
quantisation choices in docs/scaling.md.

Reads the chunk vectors of an existing index (all-MiniLM-L6-v2, 384 dimensions), embeds the
questions of a question file as queries, and compares FAISS indexes that Milvus also offers
(flat float32, 8-bit scalar quantisation, product quantisation, HNSW, IVF) with the exact
search: bytes per vector, recall@10 of the exact top 10 chunks, and search time per query.

    python bench/quantisation.py --index-dir /path/indexes --index realtimeqa-dev \\
        --questions ../shared/data/realtimeqa-dev/questions.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, default=Path("indexes"))
    parser.add_argument("--index", default="default")
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    import faiss

    from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder
    from qa.models.embedders import SentenceTransformerEmbedder
    from qa.store.index import Index

    with Index.open(args.index_dir / args.index, None) as index:
        vectors = np.vstack([batch for _, batch in index.feed.vectors()] or
                            [np.zeros((0, index.dim), dtype=np.float32)])
    questions = [json.loads(line)["question"] for line in
                 args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    embedder = SentenceTransformerEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM)
    queries = embedder.embed(questions)
    n, dim = vectors.shape
    print(f"{n:,} chunk vectors of dimension {dim}; {len(queries)} questions; top {args.k}")

    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    _, truth = exact.search(queries, args.k)
    lists = int(4 * n ** 0.5)
    candidates: list[tuple[str, Any, float]] = [
        ("flat float32 (exact)", faiss.IndexFlatIP(dim), 4 * dim),
        ("scalar 8-bit (SQ8)", faiss.IndexScalarQuantizer(
            dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT), dim),
        ("scalar fp16 (SQ16)", faiss.IndexScalarQuantizer(
            dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT), 2 * dim),
        ("product 96x8 (PQ96)", faiss.IndexPQ(dim, 96, 8, faiss.METRIC_INNER_PRODUCT), 96),
        ("product 48x8 (PQ48)", faiss.IndexPQ(dim, 48, 8, faiss.METRIC_INNER_PRODUCT), 48),
        ("HNSW M16 float32", faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT),
         4 * dim + 2 * 16 * 4),
        (f"IVF{lists} SQ8 nprobe 48", faiss.index_factory(
            dim, f"IVF{lists},SQ8", faiss.METRIC_INNER_PRODUCT), dim + 8),
    ]
    print(f"| index | bytes/vector | recall@{args.k} vs exact | ms/query (p50) |")
    print("|---|---|---|---|")
    for name, built, size in candidates:
        if isinstance(built, faiss.IndexHNSW):
            built.hnsw.efConstruction = 200
        if not built.is_trained:
            built.train(vectors)
        built.add(vectors)
        if isinstance(built, faiss.IndexHNSW):
            built.hnsw.efSearch = 64
        if isinstance(built, faiss.IndexIVF):
            built.nprobe = 48
        times = []
        found = np.empty_like(truth)
        for row, query in enumerate(queries):
            began = time.perf_counter()
            _, ids = built.search(query.reshape(1, -1), args.k)
            times.append(time.perf_counter() - began)
            found[row] = ids[0]
        recall = np.mean([len(set(found[i]) & set(truth[i])) / args.k
                          for i in range(len(queries))])
        print(f"| {name} | {size:,.0f} | {recall:.3f} | "
              f"{1000 * statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
