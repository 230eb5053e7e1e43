"""Where an ingest's time goes once embedding is fast: a whole `newsqa ingest` of an archive
into a new index under cProfile, its time split by stage (embedding, sentence splitting and
chunking, copy detection, the SQLite writes, the vectors file, reading), and the sentence
splitting timed again without the profiler (which slows pure-Python code more than ONNX
Runtime's native threads).

    python bench/ingest_profile.py ../shared/data/realtimeqa-dev/archive.jsonl
    python bench/ingest_profile.py ARCHIVE --profile saved.prof   # analyse a saved profile
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

# (stage, the profiled function's file suffix and name); cumulative seconds of each.
STAGES = [
    ("embedding (ONNX Runtime, waited on)", "qa/models/onnx.py", "embed"),
    ("sentence splitting + chunking", "qa/ingest/chunking.py", "chunk_article"),
    ("copy detection: MinHash band keys", "qa/ingest/copies.py", "band_keys"),
    ("copy detection: matching", "qa/ingest/copies.py", "best_copy_match"),
    ("SQLite writes (articles, chunks, FTS)", "qa/store/index.py", "write_batch"),
    ("vectors file", "qa/store/index.py", "commit_vectors"),
    ("reading the archive", "qa/ingest/readers/dispatch.py", "read_path"),
]


def profiled_ingest(archive: Path, out: Path) -> None:
    from qa.app.cli import app

    with tempfile.TemporaryDirectory() as folder:
        profile = cProfile.Profile()
        profile.enable()
        with contextlib.suppress(SystemExit):  # typer's way of returning
            app(["ingest", str(archive), "--index-dir", folder, "--index", "bench"])
        profile.disable()
        profile.dump_stats(str(out))


def stage_seconds(profile: Path) -> tuple[float, dict[str, float]]:
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    total = 0.0
    for (file, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
        if file.endswith("qa/ingest/pipeline.py") and name == "ingest":
            total = max(total, cumulative)
        for stage, suffix, function in STAGES:
            if file.endswith(suffix) and name == function:
                found[stage] = max(found.get(stage, 0.0), cumulative)
    return total, found


def chunking_alone(archive: Path) -> tuple[int, int, float]:
    from qa.core.records import Article
    from qa.ingest.chunking import ChunkParams, chunk_article
    from qa.ingest.readers import read_path

    articles = [a for a in read_path(archive, None) if isinstance(a, Article)]
    began = time.perf_counter()
    chunks = sum(len(chunk_article(a, ChunkParams())) for a in articles)
    return len(articles), chunks, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path)
    parser.add_argument("--profile", type=Path, help="a saved profile to analyse")
    args = parser.parse_args()
    profile = args.profile
    if profile is None or not profile.exists():
        profile = profile or Path(tempfile.mkdtemp()) / "ingest.prof"
        profiled_ingest(args.archive, profile)
    total, found = stage_seconds(profile)
    print(f"profiled ingest of {args.archive.name}: {total:.0f} s in qa.ingest.pipeline.ingest")
    print("| stage | profiled s | share |\n|---|---:|---:|")
    for stage, _, _ in STAGES:
        seconds = found.get(stage, 0.0)
        print(f"| {stage} | {seconds:.1f} | {seconds / total:.1%} |")
    articles, chunks, seconds = chunking_alone(args.archive)
    print(f"sentence splitting + chunking without the profiler: {articles} articles, {chunks} "
          f"chunks in {seconds:.1f} s ({chunks / seconds:.0f} chunks/s)")


if __name__ == "__main__":
    main()
