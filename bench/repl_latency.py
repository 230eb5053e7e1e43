"""Warm answers (models loaded once, as in `newsqa repl`) against cold ones (`newsqa ask`, a
new process each time), measured in the same run on the same questions.

Needs an index of the bundled sample (`newsqa ingest --sample`) in --index-dir.

    python bench/repl_latency.py --runs 3
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

QUESTIONS = [
    "Which bases does Russia intend to keep?",
    "Who won the Riverton Winter Marathon?",
    "How many homes did the Alder Bay storm damage?",
    "What did Russia ask Turkey for?",
]


def cold(question: str, index_dir: Path) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qa", "ask", question, "--index-dir", str(index_dir)],
                   check=True, capture_output=True)
    return time.perf_counter() - began


def _stamp(times: list[float]) -> Callable[[str], None]:
    """A streaming callback that notes when the first piece of text arrived."""
    def on_text(_piece: str) -> None:
        if not times:
            times.append(time.perf_counter())
    return on_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--index-dir", type=Path, default=Path("indexes"))
    args = parser.parse_args()

    cold_s = [cold(q, args.index_dir) for _ in range(args.runs) for q in QUESTIONS]

    began = time.perf_counter()
    from qa.answer.pipeline import ask
    from qa.answer.prompts import SHORT_ANSWER_EXAMPLES
    from qa.app.context import AppContext
    from qa.core.settings import resolve

    app = AppContext(resolve(index_dir=args.index_dir))  # as `newsqa repl` builds its own
    embedder = app.embedder()
    generator: Any = app.generator()[0]
    index = contextlib.ExitStack().enter_context(app.open_index(embedder=embedder))
    embedder.embed(["warm up"])
    generator.prime(SHORT_ANSWER_EXAMPLES)  # as the REPL does while the reader types
    load_s = time.perf_counter() - began

    import llama_cpp

    llm = generator.load()
    measured: dict[str, dict[str, list[float]]] = {}
    # With the KV cache kept, llama.cpp evaluates only what follows the longest prefix a
    # prompt shares with what it evaluated last: at least the fixed opening (the worked
    # examples, primed at start); `reset()` before each question makes it evaluate the whole
    # prompt, as a cold process does.
    for mode in ("kv cache reused", "kv cache reset"):
        times = measured[mode] = {"answer": [], "first": [], "prompt": [], "tokens": []}
        for _ in range(args.runs):
            for question in QUESTIONS:
                if mode == "kv cache reset":
                    llm.reset()
                llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
                first: list[float] = []
                began = time.perf_counter()
                ask(question, index=index, embedder=embedder, generator=generator,
                    on_text=_stamp(first))
                times["answer"].append(time.perf_counter() - began)
                if first:
                    times["first"].append(first[0] - began)
                perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
                times["prompt"].append(perf.t_p_eval_ms / 1000)
                times["tokens"].append(perf.n_p_eval)
    warm_s = measured["kv cache reused"]["answer"]
    first_token_s = measured["kv cache reused"]["first"]

    def row(name: str, values: list[float]) -> str:
        return (f"| {name} | {len(values)} | {statistics.median(values):.2f} | "
                f"{min(values):.2f} | {max(values):.2f} |")

    print("| measure | n | median s | min s | max s |")
    print("|---|---:|---:|---:|---:|")
    print(row("cold `newsqa ask` (new process, to exit)", cold_s))
    print(f"| warm session start (imports, models, index) | 1 | {load_s:.2f} | | |")
    print(row("warm answer (retrieve, generate, verify)", warm_s))
    print(row("warm time to first token", first_token_s))
    for mode, times in measured.items():
        print(row(f"{mode}: time to first token", times["first"]))
        print(row(f"{mode}: prompt evaluation", times["prompt"]))
        print(row(f"{mode}: prompt tokens evaluated", times["tokens"]))


if __name__ == "__main__":
    main()
