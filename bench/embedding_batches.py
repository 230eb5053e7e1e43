"""Whether ONNX Runtime embeds faster in batches on this CPU: newsqa's way (one text a run,
a pool of single-threaded runs, one per CPU) against batches of texts of similar length (padded,
the mean taken over the real tokens), run by the pool or by one session of as many threads as
CPUs; int8 and fp32, the same chunks of the dev archive, every row's vectors compared with the
one-text-a-run vectors of its precision. Each configuration runs once per round, in turn.

    python bench/embedding_batches.py --articles 30 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedding import ARCHIVE, chunk_texts  # noqa: E402

CONFIGS = [(1, "pool"), (4, "pool"), (8, "pool"), (16, "pool"), (8, "threads"), (32, "threads")]


def _session(model: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def _batch(session: Any, encodings: list[Any]) -> np.ndarray:
    names = [i.name for i in session.get_inputs()]
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), np.int64)
    mask, types = np.zeros_like(ids), np.zeros_like(ids)
    for row, e in enumerate(encodings):
        ids[row, :len(e.ids)], mask[row, :len(e.ids)] = e.ids, 1
        types[row, :len(e.ids)] = e.type_ids
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    hidden = session.run(None, {name: feed[name] for name in names})[0]
    weights = mask[..., None].astype(np.float32)
    out: np.ndarray = (hidden * weights).sum(1) / weights.sum(1)
    return out


def run(texts: list[str], model: Path, tokenizer: Any, size: int, how: str
        ) -> tuple[float, np.ndarray]:
    cpus = os.cpu_count() or 1
    encodings = tokenizer.encode_batch([t.strip() for t in texts])
    order = np.argsort([len(e.ids) for e in encodings], kind="stable")
    groups = [[int(i) for i in order[at:at + size]] for at in range(0, len(order), size)]
    session = _session(model, 1 if how == "pool" else cpus)
    began = time.perf_counter()
    if how == "pool":
        with ThreadPoolExecutor(cpus) as pool:
            outs = list(pool.map(lambda g: _batch(session, [encodings[i] for i in g]), groups))
    else:
        outs = [_batch(session, [encodings[i] for i in g]) for g in groups]
    seconds = time.perf_counter() - began
    vectors = np.zeros((len(texts), outs[0].shape[1]), np.float32)
    for group, out in zip(groups, outs, strict=True):
        vectors[group] = out
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return len(texts) / seconds, vectors


def main() -> None:
    from qa.models.catalog import embedder_folder
    from qa.models.onnx import _tokenizer, exported_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "newsqa")
    args = parser.parse_args()
    texts = chunk_texts(ARCHIVE, args.articles)
    folder = embedder_folder()
    tokenizer = _tokenizer(folder)
    models = {p: exported_model(folder, args.cache, p, None) for p in ("int8", "fp32")}
    best: dict[tuple[str, int, str], float] = {}
    cosine: dict[tuple[str, int, str], float] = {}
    for _ in range(args.rounds):
        for precision, model in models.items():
            reference = None
            for size, how in CONFIGS:
                speed, vectors = run(texts, model, tokenizer, size, how)
                reference = vectors if reference is None else reference
                key = (precision, size, how)
                best[key] = max(best.get(key, 0.0), speed)
                cosine[key] = float((vectors * reference).sum(1).min())
    print(f"{len(texts)} chunks of the first {args.articles} dev articles; best of "
          f"{args.rounds} rounds; {os.cpu_count()} CPUs")
    print("| precision | texts a run | run by | chunks/s | vs one a run | cosine min |")
    print("|---|---:|---|---:|---:|---:|")
    for (precision, size, how), speed in best.items():
        base = best[(precision, 1, "pool")]
        runner = "a pool of 1-thread runs" if how == "pool" else "one session, all CPUs"
        print(f"| {precision} | {size} | {runner} | {speed:.1f} | {speed / base:.2f}x | "
              f"{cosine[(precision, size, how)]:.4f} |")


if __name__ == "__main__":
    main()
