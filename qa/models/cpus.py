"""How many CPUs this process may use, and how many of them are free of other work now.

llama.cpp's worker threads wait for each other at every step by spinning: with more threads
than free cores, a thread that the OS has put aside holds every other one up, and an answer that
takes 1 s on a quiet machine took 4 to 50 s beside a test suite and an ingest (issue 18). So the
generator asks, before each prompt, how many of its CPUs are free (`free_cpus`: a short sample of
/proc/stat over the CPUs this process may run on), and runs that many threads, at least one.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

STAT = Path("/proc/stat")
SAMPLE_S = 0.05  # five of the kernel's 100 Hz ticks on each CPU
# A CPU counts as taken by other work only when this much of one is busy beyond whole ones: at
# 5 ticks a CPU, one stray tick of a kernel thread reads as 0.2 of a CPU, and a quiet machine
# read as one CPU short (measured: 2.59 s against 1.95 s a warm answer, bench/under_load.py).
TAKEN = 0.75


def cpu_count() -> int:
    """The CPUs this process may use (taskset, a container's CPU set), not the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _ticks(text: str, cpus: set[int]) -> tuple[int, int]:
    """(idle, total) ticks of these CPUs, from /proc/stat's per-CPU lines."""
    idle = total = 0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in cpus:
            continue
        fields = [int(f) for f in rest.split()]
        idle += fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        total += sum(fields[:8])  # steal included, guest already counted in user
    return idle, total


def busy_share(before: str, after: str, cpus: set[int]) -> float | None:
    """Share of these CPUs' time spent working between two readings of /proc/stat (None when
    no time passed)."""
    idle0, total0 = _ticks(before, cpus)
    idle1, total1 = _ticks(after, cpus)
    if total1 <= total0:
        return None
    return 1.0 - (idle1 - idle0) / (total1 - total0)


def free_cpus(window: float = SAMPLE_S) -> int:
    """How many of this process's CPUs are free of other work now (at least 1): measured over
    `window` seconds while this process waits, so its own work is not counted; where
    /proc/stat cannot be read, from the load average."""
    try:
        cpus = set(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = set(range(os.cpu_count() or 1))
    try:
        before = STAT.read_text()
        time.sleep(window)
        share = busy_share(before, STAT.read_text(), cpus)
    except (OSError, ValueError, IndexError):
        share = None
    if share is None:
        try:
            busy = os.getloadavg()[0]
        except OSError:
            return len(cpus)
    else:
        busy = share * len(cpus)
    return max(1, min(len(cpus), len(cpus) - math.floor(busy + 1 - TAKEN)))


CPUINFO = Path("/proc/cpuinfo")
# The instruction sets that decide how fast the embedder and llama.cpp run, as Linux names them.
WATCHED = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
           "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "neon", "asimd", "asimddp", "i8mm")


def _cpuinfo() -> str:
    try:
        return CPUINFO.read_text(errors="replace")
    except OSError:
        return ""


def instruction_sets() -> list[str]:
    """The watched instruction sets this CPU has (its first processor's flags)."""
    for line in _cpuinfo().splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            have = set(value.split())
            return [flag for flag in WATCHED if flag in have]
    return []


def cpu_name() -> str:
    for line in _cpuinfo().splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("model name", "Hardware", "CPU part"):
            return value.strip()
    return "unknown CPU"
