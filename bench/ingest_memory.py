"""Peak memory of `ingest` on a large JSONL file, against a small one in the same run.

Ingest streams: a JSONL file is read a line at a time, articles are embedded and committed a
batch at a time, and nothing grows with the file but the SQLite store on disk. This script
checks that by measuring the peak RSS of a child process that ingests N synthetic articles,
for a small N (the baseline) and a large one.

The embedder is a stand-in (words hashed into 384 dimensions), so the figures measure the
readers, chunking, copy detection and the store, which are what could grow with the input;
the real model adds a constant (see `bench/startup.py`), not a per-article cost.

    python bench/ingest_memory.py --small 1000 --large 20000
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import hashlib, resource, sys, time
from pathlib import Path
import numpy as np
from qa.ingest.chunking import ChunkParams
from qa.ingest.pipeline import ingest
from qa.store.index import EmbedderSpec, Index

class HashEmbedder:
    name, dim = "bench/hash-384", 384
    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, int(hashlib.blake2b(word.encode(), digest_size=4).hexdigest(), 16)
                    % self.dim] += 1.0
            out[row] /= max(float(np.linalg.norm(out[row])), 1e-9)
        return out

embedder = HashEmbedder()
began = time.perf_counter()
with Index.open(Path(sys.argv[2]), EmbedderSpec(embedder.name, embedder.dim), ChunkParams(),
                create=True, write=True) as index:
    report = ingest([Path(sys.argv[1])], index, embedder)
print(report.added, report.chunks, round(time.perf_counter() - began, 1),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

WORDS = ("council", "harbor", "ferry", "bridge", "budget", "storm", "school", "library", "market",
         "river", "port", "election", "museum", "bakery", "rink", "marathon", "water", "pipe",
         "fare", "route", "crane", "terminal", "mayor", "union", "park", "grant", "road",
         "tunnel", "clinic", "shelter", "festival", "lighthouse", "farm", "orchard", "bus",
         "rail")


def write_archive(path: Path, n: int, seed: int = 1) -> int:
    """`n` synthetic articles of about 220 words in 11 sentences; returns the file's size."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            sentences = [" ".join(rng.choice(WORDS) for _ in range(20)).capitalize() + "."
                         for _ in range(11)]
            record = {"url": f"https://bench.example/{i}", "title": f"Story {i}",
                      "published": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                      "source": f"Outlet {i % 7}", "text": " ".join(sentences)}
            out.write(json.dumps(record) + "\n")
    return path.stat().st_size


def measure(n: int, work: Path) -> dict[str, float]:
    archive = work / f"archive-{n}.jsonl"
    size = write_archive(archive, n)
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CHILD, str(archive), str(work / f"index-{n}")],
                            capture_output=True, text=True, check=True)
    wall = time.perf_counter() - began
    added, chunks, ingest_s, peak_kb = result.stdout.split()
    index_mb = sum(p.stat().st_size for p in (work / f"index-{n}").iterdir()) / 1e6
    return {"articles": float(added), "chunks": float(chunks), "input_mb": size / 1e6,
            "peak_rss_mb": float(peak_kb) / 1024, "ingest_s": float(ingest_s), "wall_s": wall,
            "index_mb": index_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(n, Path(tmp)) for n in (args.small, args.large)]
    print("| articles | chunks | input MB | peak RSS MB | ingest s | index MB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['articles']:,.0f} | {r['chunks']:,.0f} | {r['input_mb']:.1f} | "
              f"{r['peak_rss_mb']:.0f} | {r['ingest_s']:.1f} | {r['index_mb']:.1f} |")


if __name__ == "__main__":
    main()
