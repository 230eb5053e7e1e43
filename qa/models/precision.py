"""Which precision a new index's vectors are computed at, chosen by measuring on this CPU.

int8 was the fixed default, chosen on a CPU with AVX512-VNNI, where it embedded 5.4x as many
chunks a second as torch fp32. Without int8 dot-product instructions it can lose most of that
lead (issue 18: a fifth of the figure on an AVX2-only CPU of the same kind). So, once per CPU and
model, both exports (each checked against torch by qa/models/onnx.py) embed the same chunk-sized
texts, and the faster is kept; int8 must win by MARGIN, since fp32 gives torch's own vectors.
The choice is cached beside the exports, keyed by the model's export keys and the CPU's name,
instruction sets and the CPUs this process may use; `--precision` still overrides it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.core.files import write_atomic
from qa.models.cpus import cpu_name, instruction_sets

MARGIN = 1.15  # int8 is kept only if it embeds this many times as fast as fp32
ROUNDS = 3  # timed rounds of each precision, interleaved; the best of each is compared
# Chunk-sized texts (about 120 words, the default chunk's length), written for this timing.
_SENTENCES = (
    "The harbour commission met on Thursday to weigh a plan for a second ferry berth.",
    "Residents of the valley towns asked how the winter timetable would change their commute.",
    "Officials said the bridge repairs would be finished before the spring flood season began.",
    "A local bakery that opened three years ago now supplies every school in the district.",
    "The council's budget adds two librarians and extends weekend opening hours by two hours.",
    "Fishermen reported the largest herring catch in a decade, lifting prices at the market.",
)
TEXTS = tuple(" ".join(_SENTENCES[(i + j) % len(_SENTENCES)] for j in range(8))
              for i in range(24))


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str
    chunks_per_s: dict[str, float]  # measured, by precision
    why: str  # one line for `index info` and `newsqa models`

    def to_json(self) -> dict[str, Any]:
        return {"precision": self.precision, "chunks_per_s": self.chunks_per_s, "why": self.why}


def _key(export_keys: dict[str, str], threads: int) -> str:
    machine = f"{cpu_name()}|{','.join(instruction_sets())}|{threads}"
    parts = [f"{p}={k}" for p, k in sorted(export_keys.items())]
    return hashlib.sha256("|".join([machine, *parts]).encode()).hexdigest()[:20]


def cached(cache_dir: Path, export_keys: dict[str, str], threads: int) -> PrecisionChoice | None:
    """The choice measured before on this CPU for these exports, if any."""
    path = cache_dir / f"precision-{_key(export_keys, threads)}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return PrecisionChoice(str(data["precision"]),
                               {str(k): float(v) for k, v in data["chunks_per_s"].items()},
                               str(data["why"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # none yet, or unreadable: measured again


def choose(cache_dir: Path, export_keys: dict[str, str], threads: int,
           embedders: dict[str, Callable[[list[str]], Any]],
           clock: Callable[[], float] = time.perf_counter) -> PrecisionChoice:
    """The cached choice, else measure `embedders` (precision -> embed function) on TEXTS in
    interleaved rounds, keep the faster (int8 only by MARGIN), and cache it."""
    known = cached(cache_dir, export_keys, threads)
    if known is not None:
        return known
    texts = list(TEXTS)
    for embed in embedders.values():
        embed(texts[:2])  # sessions made, caches warm
    best = dict.fromkeys(embedders, 0.0)
    for _ in range(ROUNDS):
        for precision, embed in embedders.items():
            began = clock()
            embed(texts)
            elapsed = max(clock() - began, 1e-9)
            best[precision] = max(best[precision], len(texts) / elapsed)
    speeds = {p: round(s, 1) for p, s in best.items()}
    int8, fp32 = best.get("int8", 0.0), best.get("fp32", 0.0)
    chosen = "int8" if int8 >= MARGIN * fp32 else "fp32"
    sets = ", ".join(instruction_sets()) or "no vector extensions found"
    why = (f"measured on this CPU ({sets}; {threads} threads): int8 {speeds.get('int8', 0):g}, "
           f"fp32 {speeds.get('fp32', 0):g} chunks/s")
    choice = PrecisionChoice(chosen, speeds, why)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(cache_dir / f"precision-{_key(export_keys, threads)}.json",
                     (json.dumps(choice.to_json(), indent=2) + "\n").encode())
    except OSError:
        pass  # measured again next time; the choice stands for this index
    return choice
