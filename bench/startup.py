"""Cold start of the CLI: `newsqa --help` and a cold `newsqa ask` on the bundled sample.

Each command runs in a new process, `--runs` times; the figures are the median and the worst
wall time, beside a bare `python -c pass` measured in the same run as the baseline for this
(shared, noisy) machine. Then the stages of a cold ask, timed inside new processes the same
way: imports, loading the embedder (ONNX Runtime, and torch's sentence-transformers as the old
path), opening the index, loading the generator, retrieval, evidence, the prompt's evaluation
and the generation (llama.cpp's own counters). Usage: python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "Which bases does Russia intend to keep?"


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    newsqa = [sys.executable, "-m", "qa"]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        subprocess.run([*newsqa, "ingest", "--sample"], cwd=cwd, check=True, capture_output=True)
        cases = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "newsqa --help": [*newsqa, "--help"],
            "newsqa ask (cold, sample)": [*newsqa, "ask", QUESTION],
        }
        print(f"{'command':32} {'median s':>9} {'max s':>7}")
        for name, cmd in cases.items():
            times = [timed(cmd, cwd) for _ in range(args.runs)]
            print(f"{name:32} {statistics.median(times):9.2f} {max(times):7.2f}")
        stages = [json.loads(subprocess.run([sys.executable, "-c", STAGES, QUESTION], cwd=cwd,
                                            check=True, capture_output=True, text=True).stdout)
                  for _ in range(args.runs)]
        print(f"\n{'stage of a cold ask':40} {'median s':>9} {'max s':>7}")
        for name in stages[0]:
            times = [run[name] for run in stages]
            print(f"{name:40} {statistics.median(times):9.3f} {max(times):7.3f}")


STAGES = """
import sys, time
began = time.perf_counter()
import json
from pathlib import Path
import faiss, llama_cpp, onnxruntime, tokenizers
import contextlib
from qa.answer.pipeline import ask
from qa.app.context import AppContext
from qa.core.records import Filters
from qa.core.settings import resolve
out = {"imports (qa, ONNX Runtime, FAISS, llama.cpp)": time.perf_counter() - began}
at = time.perf_counter()
app = AppContext(resolve())
embedder = app.embedder()
index = contextlib.ExitStack().enter_context(app.open_index(embedder=embedder))
embedder.embed(["warm"])
out["embedder load (ONNX Runtime session)"] = time.perf_counter() - at
at = time.perf_counter()
index.search_dense(embedder.embed(["warm"])[0], 1, Filters())
out["index open (FAISS vectors)"] = time.perf_counter() - at
at = time.perf_counter()
generator = app.generator()[0]
llm = generator.load()
out["generator load (default GGUF)"] = time.perf_counter() - at
llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
answer = ask(sys.argv[1], index=index, embedder=embedder, generator=generator)
perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
out["retrieval"] = answer.timings["retrieve_s"]
out["evidence"] = answer.timings["evidence_s"]
out["prompt evaluation"] = perf.t_p_eval_ms / 1000
out["generation"] = perf.t_eval_ms / 1000
out["(prompt tokens evaluated)"] = perf.n_p_eval
out["(tokens generated)"] = perf.n_eval
out["verification"] = answer.timings["verify_s"]
out["total in process"] = time.perf_counter() - began
at = time.perf_counter()
from qa.models.embedders import SentenceTransformerEmbedder
from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder
SentenceTransformerEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM).embed(["warm"])
out["old path: torch embedder import and load"] = time.perf_counter() - at
print(json.dumps(out))
"""


if __name__ == "__main__":
    main()
