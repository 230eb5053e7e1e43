"""The vector search at archive scale: an exact (flat) index against the approximate one newsqa
switches to past `qa.store.vectors.faiss.EXACT_UP_TO` chunks, on the same synthetic vectors.

The vectors are synthetic unit vectors of dimension 384 clustered around 5,000 topics (random
vectors without structure would make any approximate index look worse than on real text);
queries are perturbed copies of stored vectors. Each structure is built and searched in a
child process of its own, so each peak RSS is its own; recall@10 of the approximate search is
measured against the exact one.

    python bench/scale.py --n 1000000 --queries 200
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 384
TOPICS = 5000


def vectors(n: int, seed: int = 3, batch: int = 100_000):  # type: ignore[no-untyped-def]
    """The same `n` vectors every time, in batches of (ids, vectors)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(TOPICS, DIM)).astype(np.float32)
    for start in range(0, n, batch):
        size = min(batch, n - start)
        topic = rng.integers(0, TOPICS, size)
        v = centres[topic] + 0.9 * rng.normal(size=(size, DIM)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        yield np.arange(start, start + size, dtype=np.int64), v


def queries(n: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    picks = set(rng.choice(n, count, replace=False).tolist())
    out = []
    for ids, v in vectors(n):
        out.extend(v[i - ids[0]] for i in ids if int(i) in picks)
    q = np.stack(out) + 0.05 * rng.normal(size=(count, DIM)).astype(np.float32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def child(variant: str, n: int, count: int, out: Path) -> None:
    import faiss

    from qa.store.vectors.faiss import new_vector_index

    began = time.perf_counter()
    if variant == "exact":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    else:
        def sample(size: int) -> np.ndarray:
            ids, first = next(vectors(n, batch=max(size, 1)))
            return first[:size]
        index = new_vector_index(DIM, n, sample)
        if not isinstance(index, faiss.IndexIVF):
            raise SystemExit(f"{n} vectors are under qa.store.vectors.faiss.EXACT_UP_TO: "
                             "nothing approximate")
    for ids, v in vectors(n):
        index.add_with_ids(v, ids)
    build_s = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        faiss.write_index(index, str(Path(tmp) / "v.faiss"))
        size_mb = (Path(tmp) / "v.faiss").stat().st_size / 1e6
    q = queries(n, count)
    times, found = [], []
    for row in q:
        began = time.perf_counter()
        _, ids = index.search(row.reshape(1, -1), 10)
        times.append(time.perf_counter() - began)
        found.append(ids[0])
    np.save(out, np.stack(found))
    print(json.dumps({"build_s": build_s, "size_mb": size_mb,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "p50_ms": 1000 * float(np.percentile(times, 50)),
                      "p99_ms": 1000 * float(np.percentile(times, 99))}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--child", choices=["exact", "approximate"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.n, args.queries, args.out)
        return
    from qa.store.vectors.faiss import EXACT_UP_TO, NPROBE

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in ("exact", "approximate"):
            result = subprocess.run(
                [sys.executable, __file__, "--child", variant, "--n", str(args.n),
                 "--queries", str(args.queries), "--out", f"{tmp}/{variant}.npy"],
                check=True, capture_output=True, text=True)
            rows[variant] = json.loads(result.stdout.strip().splitlines()[-1])
        exact, approx = np.load(f"{tmp}/exact.npy"), np.load(f"{tmp}/approximate.npy")
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    lists = max(1, min(int(4 * args.n ** 0.5), args.n // 39))
    print(f"{args.n:,} vectors of dimension {DIM}; exact up to {EXACT_UP_TO:,}; approximate: "
          f"IVF{lists},Flat with nprobe {NPROBE}; {args.queries} queries, k=10")
    print("| index | build s | size MB | peak RSS MB | search p50 ms | search p99 ms | recall@10 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for variant, r in rows.items():
        rec = "1 (reference)" if variant == "exact" else f"{recall:.3f}"
        print(f"| {variant} | {r['build_s']:.1f} | {r['size_mb']:.0f} | {r['peak_rss_mb']:.0f} | "
              f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {rec} |")


if __name__ == "__main__":
    main()
