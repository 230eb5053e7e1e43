"""Embedding speed: sentence-transformers in torch fp32 (the baseline) against the ONNX Runtime
embedder newsqa uses, on the same chunks of the dev archive, in one run.

Part 1 embeds the chunks with each runtime in turn (rounds A B C D A B C D ..., best round
kept), and compares every vector with the baseline's. Part 2 (--ingest) runs a whole ingest of
the same articles into a new index in a child process per runtime: reading, chunking, copy
detection, embedding and the store, with the child's peak RSS.

    python bench/embedding.py --articles 100 --rounds 2 --ingest
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "realtimeqa-dev" / \
    "archive.jsonl"


def chunk_texts(archive: Path, articles: int) -> list[str]:
    """What the embedder sees for each chunk of the first `articles` articles."""
    from qa.core.records import Article
    from qa.ingest.chunking import ChunkParams, chunk_article
    from qa.ingest.pipeline import embedding_text
    from qa.ingest.readers import read_path

    texts: list[str] = []
    read = (a for a in read_path(archive, None) if isinstance(a, Article))
    for _, article in zip(range(articles), read, strict=False):
        texts += [embedding_text(article, c.text) for c in chunk_article(article, ChunkParams())]
    return texts


def runtimes(cache: Path) -> dict[str, Callable[[list[str]], np.ndarray]]:
    from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder
    from qa.models.embedders import SentenceTransformerEmbedder
    from qa.models.onnx import OnnxEmbedder

    folder = embedder_folder()
    out: dict[str, Callable[[list[str]], np.ndarray]] = {}
    for batch in (32, 4):  # 32: sentence-transformers' default, and newsqa's until now
        torch = SentenceTransformerEmbedder(EMBEDDER_NAME, folder, EMBEDDER_DIM, batch)
        out[f"torch fp32, batch {batch}"] = torch.embed
    for precision in ("fp32", "int8"):
        onnx = OnnxEmbedder(EMBEDDER_NAME, folder, EMBEDDER_DIM, cache, precision=precision)
        out[f"onnx {precision} (newsqa)"] = onnx.embed
    return out


def embed_speed(texts: list[str], rounds: int, cache: Path) -> None:
    chosen = runtimes(cache)
    for embed in chosen.values():  # load and export outside the timings
        embed(texts[:8])
    seconds: dict[str, list[float]] = {name: [] for name in chosen}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for name, embed in chosen.items():
            began = time.perf_counter()
            vectors[name] = embed(texts)
            seconds[name].append(time.perf_counter() - began)
    baseline = next(iter(chosen))
    base_rate = len(texts) / min(seconds[baseline])
    print(f"{len(texts)} chunks, {rounds} rounds, best round; cosine to `{baseline}`\n")
    print("| runtime | chunks/s (best) | chunks/s (median) | vs baseline | cosine mean | "
          "cosine min |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in chosen:
        rate = len(texts) / min(seconds[name])
        median = len(texts) / statistics.median(seconds[name])
        cosine = np.sum(vectors[name] * vectors[baseline], axis=1)
        print(f"| {name} | {rate:.1f} | {median:.1f} | {rate / base_rate:.2f}x | "
              f"{cosine.mean():.4f} | {cosine.min():.4f} |")


CHILD = """
import json, sys, time
from pathlib import Path
from qa.ingest.chunking import ChunkParams
from qa.ingest.pipeline import ingest
from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder
from qa.store.index import EmbedderSpec, Index
runtime, source, target, cache = sys.argv[1:5]
if runtime == "torch":
    from qa.models.embedders import SentenceTransformerEmbedder
    embedder = SentenceTransformerEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM)
    precision = "fp32"
else:
    from qa.models.onnx import OnnxEmbedder
    embedder = OnnxEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM, Path(cache),
                            precision="int8")
    precision = "int8"
began = time.perf_counter()
spec = EmbedderSpec(EMBEDDER_NAME, EMBEDDER_DIM, precision)
with Index.open(Path(target), spec, ChunkParams(), create=True, write=True) as index:
    report = ingest([Path(source)], index, embedder)
    chunks = index.counts()["chunks"]
seconds = time.perf_counter() - began
# VmHWM is this process's own peak (ru_maxrss would carry the parent's from before exec).
status = Path("/proc/self/status").read_text()
peak_kb = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
print(json.dumps({"seconds": seconds, "chunks": chunks, "peak_mb": peak_kb / 1024}))
"""


def ingest_speed(articles: int, cache: Path) -> None:
    print(f"\nWhole ingest of the first {articles} dev articles, a child process each "
          "(models' loading included)\n")
    print("| runtime | seconds | chunks | chunks/s | vs baseline | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "articles.jsonl"
        with ARCHIVE.open(encoding="utf-8") as lines:
            source.write_text("".join(next(lines) for _ in range(articles)), encoding="utf-8")
        base = None
        for runtime in ("torch", "onnx-int8"):
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, runtime, str(source), f"{work}/{runtime}",
                 str(cache)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert child.stdout is not None
            out = child.stdout.read()
            if child.wait() != 0:
                raise SystemExit(f"the {runtime} ingest failed")
            result = json.loads(out)
            rate = result["chunks"] / result["seconds"]
            base = base or rate
            print(f"| {runtime} | {result['seconds']:.1f} | {result['chunks']} | {rate:.1f} | "
                  f"{rate / base:.2f}x | {result['peak_mb']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ingest", action="store_true", help="also time whole ingests")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "newsqa")
    args = parser.parse_args()
    from qa.models.cpus import cpu_count, cpu_name, instruction_sets

    print(f"CPU: {cpu_name()}, {cpu_count()} CPUs for this process; instruction sets: "
          f"{', '.join(instruction_sets()) or 'none of those watched'}")
    embed_speed(chunk_texts(args.archive, args.articles), args.rounds, args.cache)
    if args.ingest:
        ingest_speed(args.articles, args.cache)


if __name__ == "__main__":
    main()
