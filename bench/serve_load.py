"""A bounded load test of `newsqa serve` on loopback: 50 questions about the bundled sample from
10 concurrent clients, each answer checked against `newsqa ask --json` for the same question.

Starts `newsqa serve --port 0` on an index of the sample (made in a temporary folder unless
--index-dir names one), and reports: server start to first answer, warm time to the first
streamed `draft` event (and to the first event), p50/p95 latency and throughput under load,
the server's peak RSS, and every answer that differs from the CLI's. Stops by itself.

    python bench/serve_load.py [--questions 50] [--clients 10] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# About the sample archive (qa/sample/archive.jsonl); each is asked twice by default.
QUESTIONS = [
    "Which bases does Russia intend to keep?",
    "Who won the Riverton Winter Marathon?",
    "How many homes did the Alder Bay storm damage?",
    "What did Russia ask Turkey for?",
    "How much will the standard adult bus fare in Riverton be?",
    "How much did Loomgrid raise in its Series A round?",
    "Who led Loomgrid's funding round?",
    "What is the Pinecrest High robotics team called?",
    "Who owns the Crumb & Kettle bakery?",
    "How long was the Kestrel River Bridge closed?",
    "Where will the Pinecrest Farmers' Market be held in winter?",
    "Who won the women's race of the Riverton Winter Marathon?",
    "Who was elected mayor of Alder Bay?",
    "How much will the Riverton Public Library expansion cost?",
    "What is the name of the maritime museum's new exhibit?",
    "How many homes lost water service after the Elm Street main break?",
    "When did opposition forces capture Damascus?",
    "Where was Assad granted asylum?",
    "Which agency reported that opposition fighters took Latakia?",
    "What did Ukrainian intelligence say Russia was doing in Syria?",
    "What was the name of the rescued harbor seal pup?",
    "How large is the Pinecrest County heat-pump rebate?",
    "How big is Riverton's 2025 budget?",
    "How many daily round trips will the Alder Bay ferry add?",
    "What does skate rental cost at the Pinecrest ice rink?",
]


def newsqa(*args: str) -> list[str]:
    return [sys.executable, "-m", "qa", *args]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def post(url: str, body: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    request = urllib.request.Request(url + "/api/ask", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def first_events(url: str, question: str) -> tuple[float, float]:
    """Seconds to the first event and to the first `draft` event of a streamed answer (the
    stream is then read to its end)."""
    began = time.perf_counter()
    first = draft = 0.0
    query = urllib.parse.urlencode({"q": question})
    with urllib.request.urlopen(f"{url}/api/ask?{query}", timeout=600) as response:
        for raw in response:
            line = raw.decode()
            if line.startswith("event: ") and not first:
                first = time.perf_counter() - began
            if line.startswith("event: draft") and not draft:
                draft = time.perf_counter() - began
    return first, draft


def cpu() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", text)
    listed = re.search(r"flags\s*:\s*(.+)", text)
    flags = set(listed.group(1).split()) if listed else set()
    shown = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni") if f in flags]
    return (f"{model.group(1) if model else platform.processor()}, {os.cpu_count()} CPUs, "
            f"flags: {' '.join(shown) or 'none of avx2/fma/avx512'}")


def others(*ours: int) -> str:
    """The other processes using the CPU now (the machine is shared), busiest first; `ours`
    (and this one) left out."""
    try:
        listing = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"],
                                 capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    busy = []
    for line in listing.splitlines()[1:]:
        pid, pcpu, command = line.split(None, 2)
        if int(pid) not in (os.getpid(), *ours) and float(pcpu) >= 10 \
                and not command.startswith("ps "):
            busy.append(f"{command[:70]} ({pcpu}% CPU)")
    return "; ".join(busy[:4]) or "none above 10% CPU"


def peak_rss_mb(pid: int) -> float | None:
    status = Path(f"/proc/{pid}/status")
    found = re.search(r"VmHWM:\s*(\d+) kB", status.read_text()) if status.exists() else None
    return int(found.group(1)) / 1024 if found else None


def in_process(work: Path, index_dir: Path, questions: list[str]) -> list[float]:
    """The baseline: seconds to the first piece of the draft with no server in between, the
    models loaded and primed in this process as the server loads them (`Service.warm_up`),
    in the server's working folder and environment."""
    import threading

    os.chdir(work)
    for name in [name for name in os.environ if name.startswith("NEWSQA_")]:
        del os.environ[name]
    sys.path.insert(0, str(REPO))
    from qa.app.options import context
    from qa.app.server.service import Query, Service

    service = Service(context(index_dir=index_dir, generator=True))
    service.warm_up()
    firsts: list[float] = []
    try:
        for question in questions:
            began = time.perf_counter()
            seen: list[float] = []

            def stamp(event: Any, began: float = began, seen: list[float] = seen) -> None:
                if event.name == "draft" and not seen:
                    seen.append(time.perf_counter() - began)

            service.submit(Query(question), stamp, threading.Event()).result()
            firsts.append(seen[0] if seen else float("nan"))
    finally:
        service.close()
    return firsts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--index-dir", type=Path, help="an index dir whose `default` holds "
                        "the sample (else one is made in a temporary folder)")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    index_dir = args.index_dir.resolve() if args.index_dir else work / "indexes"
    if args.index_dir is None:
        subprocess.run(newsqa("ingest", "--sample", "--index-dir", str(index_dir)), cwd=work,
                       env=environment(), check=True, capture_output=True)
    from datetime import UTC, datetime

    say(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: python bench/serve_load.py "
        f"{' '.join(sys.argv[1:])}".rstrip())
    say(f"CPU: {cpu()}; load average before: {os.getloadavg()[0]:.2f}")
    say(f"other work on the machine (shared): {others()}")
    rng = random.Random(17)
    asked = [QUESTIONS[n % len(QUESTIONS)] for n in range(args.questions)]
    rng.shuffle(asked)

    began = time.perf_counter()
    server = subprocess.Popen(newsqa("serve", "--port", "0", "--index-dir", str(index_dir)),
                              cwd=work, env=environment(), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        found = re.search(r"http://[\d.]+:\d+", banner)
        if found is None:
            raise SystemExit(f"the server did not start: {banner!r}")
        url = found.group(0)
        listening = time.perf_counter() - began
        post(url, {"question": QUESTIONS[0]})
        first_answer = time.perf_counter() - began
        say(f"server start to listening {listening:.1f} s, to first answer "
            f"{first_answer:.1f} s")

        warm = [first_events(url, q) for q in QUESTIONS[1:6]]
        say("warm, idle server, streamed (5 questions): first event median "
            f"{statistics.median(w[0] for w in warm) * 1000:.0f} ms, first draft median "
            f"{statistics.median(w[1] for w in warm):.2f} s (min {min(w[1] for w in warm):.2f}, "
            f"max {max(w[1] for w in warm):.2f})")

        todo: queue.Queue[str] = queue.Queue()
        for question in asked:
            todo.put(question)
        results: list[tuple[str, float, dict[str, Any]]] = []
        failures: list[str] = []
        lock = threading.Lock()

        def client() -> None:
            while True:
                try:
                    question = todo.get_nowait()
                except queue.Empty:
                    return
                start = time.perf_counter()
                try:
                    answer = post(url, {"question": question})
                except Exception as exc:  # reported, not raised: the run goes on
                    with lock:
                        failures.append(f"{question}: {exc}")
                    continue
                with lock:
                    results.append((question, time.perf_counter() - start, answer))

        load_began = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - load_began
        rss = peak_rss_mb(server.pid)
        busy = others(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)

    latencies = sorted(r[1] for r in results)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)] if latencies else float("nan")
    say(f"load: {len(results)} of {len(asked)} questions answered by {args.clients} concurrent "
        f"clients in {wall:.1f} s: {len(results) / wall:.2f} questions/s; latency p50 "
        f"{statistics.median(latencies):.1f} s, p95 {p95:.1f} s, max {latencies[-1]:.1f} s "
        "(each waits its turn: one generation at a time)")
    say(f"server peak RSS {rss:.0f} MB" if rss is not None else "server peak RSS: unknown")
    say(f"other work on the machine at the end of the load: {busy}")
    for failure in failures:
        say(f"FAILED {failure}")

    baseline = in_process(work, index_dir, QUESTIONS[1:6])
    say("baseline, in this process with no HTTP (the same 5 questions, after the server "
        f"stopped): first draft median {statistics.median(baseline):.2f} s (min "
        f"{min(baseline):.2f}, max {max(baseline):.2f})")

    reference: dict[str, dict[str, Any]] = {}
    for question in dict.fromkeys(asked):
        done = subprocess.run(newsqa("ask", "--json", "--index-dir", str(index_dir), question),
                              cwd=work, env=environment(), capture_output=True, text=True,
                              check=True)
        reference[question] = json.loads(done.stdout)
    differ = [(q, a) for q, _, a in results
              if (a["answer"], a["citations"]) != (reference[q]["answer"],
                                                   reference[q]["citations"])]
    say(f"same answer text and citations as `newsqa ask --json`: "
        f"{len(results) - len(differ)} of {len(results)}")
    for question, answer in differ:
        say(f"  differs: {question!r}: served {answer['answer']!r}, "
            f"CLI {reference[question]['answer']!r}")
    answerable = sum(1 for _, _, a in results if a["answerable"])
    say(f"answerable {answerable} of {len(results)}; load average after: "
        f"{os.getloadavg()[0]:.2f}")
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
