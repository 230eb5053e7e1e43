"""Answers while other work shares the CPU: warm answer latency and a cold `newsqa ask`, with 0, 1
and 2 CPU-bound processes running beside newsqa (started and stopped here), for llama.cpp on a
fixed thread count (every CPU, as before issue 18) and on the free CPUs measured before each
prompt (qa/models/cpus.py, the default). One run, so every figure has its quiet baseline.

    python bench/under_load.py                 # the bundled sample, its own temporary index
    python bench/under_load.py --questions 8 --hogs 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = [
    "Which bases does Russia intend to keep?",
    "Who won the women's race at the Riverton Winter Marathon?",
    "How much did Loomgrid raise?",
    "What is the latest count of homes damaged by the Alder Bay storm?",
    "When will the Saltmarsh winter ferry timetable start?",
    "Who leads the Pinecrest robotics team?",
    "What did the Riverton council decide about the library?",
    "How many daily sailings does the winter ferry add?",
]
HOG = "import time\nwhile True:\n    pass\n"


def warm(index_dir: str, count: int) -> None:
    """In this process: load the models once, then answer `count` questions; print JSON."""
    from qa.answer.pipeline import ask
    from qa.answer.prompts import SHORT_ANSWER_EXAMPLES
    from qa.app.options import context

    app = context(index="sample", index_dir=Path(index_dir), generator=True)
    generator, _ = app.generator()
    embedder = app.embedder()
    prime = getattr(generator, "prime", None)
    if prime is not None:
        prime(SHORT_ANSWER_EXAMPLES)
    times, answers = [], []
    with app.open_index(embedder=embedder) as index:
        ask(QUESTIONS[0], index=index, embedder=embedder, generator=generator)  # warm up
        for question in QUESTIONS[:count]:
            began = time.perf_counter()
            answer = ask(question, index=index, embedder=embedder, generator=generator)
            times.append(time.perf_counter() - began)
            answers.append(answer.answer)
    print(json.dumps({"times": times, "answers": answers}))


def run(cmd: list[str], threads: str, env: dict[str, str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True,
                          env={**env, "NEWSQA_LLM_THREADS": threads})
    return time.perf_counter() - began, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--hogs", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--warm", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm:
        warm(args.warm, args.questions)
        return
    from qa.models.cpus import cpu_count

    cores = cpu_count()
    env = dict(os.environ)
    newsqa = [sys.executable, "-m", "qa"]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([*newsqa, "ingest", "--sample", "--index", "sample", "--index-dir", tmp],
                       check=True, capture_output=True, env=env)
        rows = []
        for hogs in args.hogs:
            running = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(hogs)]
            try:
                time.sleep(2)  # let the hogs take their cores
                for policy in (str(cores), "auto"):
                    load = os.getloadavg()[0]
                    _, out = run([sys.executable, __file__, "--warm", tmp,
                                  "--questions", str(args.questions)], policy, env)
                    result = json.loads(out.strip().splitlines()[-1])
                    cold_s, cold_out = run([*newsqa, "ask", QUESTIONS[0], "--index", "sample",
                                            "--index-dir", tmp, "--json"], policy, env)
                    rows.append({"hogs": hogs, "threads": policy, "load": load,
                                 "warm_median": statistics.median(result["times"]),
                                 "warm_max": max(result["times"]), "cold": cold_s,
                                 "answers": result["answers"],
                                 "cold_answer": json.loads(cold_out)["answer"]})
            finally:
                for hog in running:
                    hog.kill()
                    hog.wait()
    quiet = {r["threads"]: r for r in rows if r["hogs"] == 0}
    print(f"{cores} CPUs; {args.questions} warm questions about the sample after one warm-up; "
          "cold = a whole `newsqa ask --json` process; load = 1-min load average before")
    print("| CPU-bound processes beside | llama.cpp threads | load | warm median s | "
          "warm max s | x quiet | cold ask s | x quiet |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        base = quiet.get(r["threads"])
        ratio = f"{r['warm_median'] / base['warm_median']:.1f}" if base else "-"
        cold_ratio = f"{r['cold'] / base['cold']:.1f}" if base else "-"
        name = "auto (free CPUs)" if r["threads"] == "auto" else f"{r['threads']} (fixed)"
        print(f"| {r['hogs']} | {name} | {r['load']:.1f} | {r['warm_median']:.2f} | "
              f"{r['warm_max']:.2f} | {ratio} | {r['cold']:.1f} | {cold_ratio} |")
    same = all(r["answers"] == rows[0]["answers"] and r["cold_answer"] == rows[0]["cold_answer"]
               for r in rows)
    print(f"same answers in every row: {same}")


if __name__ == "__main__":
    main()
