"""Cold start of the CLI: `newsqa --help` and a cold `newsqa ask` on the bundled sample.

Each command runs in a new process, `--runs` times; the figures are the median and the worst
wall time, beside a bare `python -c pass` measured in the same run as the baseline for this
(shared, noisy) machine. Usage: python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
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


if __name__ == "__main__":
    main()
