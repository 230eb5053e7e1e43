"""The plain ingest against the Ray pipeline (qa/ingest/distributed.py), on the same dev articles.

The first N articles of ../shared/data/realtimeqa-dev/archive.jsonl are written, split over
several JSONL files, to a temporary folder (the texts are read at run time, never kept), then
ingested with the real embedder into a new temporary index by each mode, one process per mode:
`plain` (`ingest()`, torch on every core) and `ray-W` (`ray_ingest()` on a local Ray instance
of all the cores, W embedder actors sharing them). Seconds are the whole call a user waits
for, Ray's start and the models' loading included. Peak RSS is the ingesting process's own,
and the summed peak of its whole process tree (Ray's processes too; shared pages, such as the
object store, count once per process that maps them, so it overstates).

    python bench/ray_ingest.py --articles 300 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "realtimeqa-dev" / "archive.jsonl"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from qa.ingest.distributed import ray_ingest
from qa.models.embedders import SentenceTransformerEmbedder
from qa.ingest.pipeline import ingest
from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder
from qa.store.index import EmbedderSpec, Index

mode, folder, index_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
embedder = SentenceTransformerEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM)
began = time.perf_counter()
with Index.open(index_dir, EmbedderSpec(embedder.name, embedder.dim), create=True,
                write=True) as index:
    if mode == "plain":
        report, extra = ingest([folder], index, embedder), {}
    else:
        report = ray_ingest([folder], index, embedder, workers=int(mode.split("-")[1]))
        extra = {"misses": report.misses, "local_reads": report.local_reads}
print(json.dumps({"articles": report.added + report.copies + report.unchanged,
                  "chunks": report.chunks, "seconds": time.perf_counter() - began,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  **extra}))
"""


def write_articles(folder: Path, n: int, files: int) -> int:
    """The first `n` dev articles, over `files` JSONL files; returns how many were written."""
    lines = []
    with DEV.open(encoding="utf-8") as source:
        for line in source:
            if len(lines) == n:
                break
            lines.append(line)
    per_file = -(-len(lines) // files)
    for k in range(files):
        part = lines[k * per_file : (k + 1) * per_file]
        if part:
            (folder / f"part-{k:02d}.jsonl").write_text("".join(part), encoding="utf-8")
    return len(lines)


def _rss_kb(pid: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(root: int) -> float:
    """The summed RSS of `root` and every process below it, from /proc."""
    children: dict[str, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(entry.name)
    total, todo = 0, [str(root)]
    while todo:
        pid = todo.pop()
        total += _rss_kb(pid)
        todo.extend(children.get(pid, []))
    return total / 1024


def measure(mode: str, folder: Path, work: Path) -> dict[str, float]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(folder),
                              str(work / f"index-{mode}")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1])
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            peak[0] = max(peak[0], tree_rss_mb(child.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{err}")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result["tree_rss_mb"] = peak[0]
    result["stderr_lines"] = len([line for line in err.splitlines() if line.strip()])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--files", type=int, default=6, help="JSONL files to split them over")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if not DEV.is_file():
        raise SystemExit(f"{DEV} not found: this benchmark reads the dev split at run time")
    modes = ["plain", *(f"ray-{w}" for w in args.workers)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        folder.mkdir()
        n = write_articles(folder, args.articles, args.files)
        print(f"{n} dev articles in {args.files} files; {os.cpu_count()} CPUs\n")
        rows = {mode: measure(mode, folder, Path(tmp)) for mode in modes}
    print("| mode | articles | chunks | seconds | chunks/s | peak RSS MB (process) "
          "| peak RSS MB (tree) | misses | stderr lines |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, r in rows.items():
        print(f"| {mode} | {r['articles']:,.0f} | {r['chunks']:,.0f} | {r['seconds']:.1f} | "
              f"{r['chunks'] / r['seconds']:.1f} | {r['rss_mb']:.0f} | {r['tree_rss_mb']:.0f} | "
              f"{r.get('misses', 0):.0f} | {r['stderr_lines']:.0f} |")


if __name__ == "__main__":
    main()
