"""What an ingest costs the vectors file as the archive grows: newsqa's own `FaissFile.sync`
(qa/store/vectors/faiss.py) adding 1,000 articles and removing 100, on a store of 100,000 and of
1,000,000 chunks, against rebuilding the file from the store as every ingest did before.

The store is a synthetic change feed (the same protocol the SQLite store hands a backend):
clustered unit vectors of dimension 384 as in bench/scale.py, 12 chunks an article (the dev
split's average is about 6; 12 is the heavier case). Only the vectors' share of an ingest is
timed here: embedding, SQLite and FTS cost what is added whatever the store holds. Each size runs
in a child process of its own (its own peak RSS). After the first addition and the removal, more
days of 1,000 articles are added until the recent segment is merged into the main file
(qa/store/vectors/recent.py), for the mean cost of an ingest with the merges counted.

    python bench/grow.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
TOPICS = 5000
PER_ARTICLE = 12
ADDED, REMOVED = 1000, 100


class Feed:
    """A store of `n` chunks that grows and shrinks by whole articles, with generations and
    change notes as the SQLite store keeps them."""

    def __init__(self, n: int, folder: Path) -> None:
        from qa.store.folder import Manifest

        self.path = folder
        self.manifest = Manifest(folder, {"generation": 0}, lambda: {})
        self.manifest.record = lambda entries: self.manifest.data.update(  # type: ignore
            {k: v for k, v in entries.items() if v is not None})
        rng = np.random.default_rng(3)
        self.centres = rng.normal(size=(TOPICS, DIM)).astype(np.float32)
        self.rng = rng
        self.vectors_of: dict[int, np.ndarray] = {}  # article rowid -> its chunks' vectors
        self.first_chunk: dict[int, int] = {}
        self.next_chunk = 0
        self.gen = 0
        self.log: list[tuple[int, list[int], list[int]]] = []  # generation, changed, removed
        self.add(n // PER_ARTICLE, note=False)

    @property
    def dim(self) -> int:
        return DIM

    def _make(self, count: int) -> np.ndarray:
        v = self.centres[self.rng.integers(0, TOPICS, count)] + \
            0.9 * self.rng.normal(size=(count, DIM)).astype(np.float32)
        out: np.ndarray = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
        return out

    def add(self, articles: int, note: bool = True) -> None:
        start = max(self.vectors_of, default=-1) + 1
        made = self._make(articles * PER_ARTICLE)
        for i in range(articles):
            self.vectors_of[start + i] = made[i * PER_ARTICLE:(i + 1) * PER_ARTICLE]
            self.first_chunk[start + i] = self.next_chunk
            self.next_chunk += PER_ARTICLE
        self.gen += 1
        if note:
            self.log.append((self.gen, list(range(start, start + articles)), []))

    def remove(self, articles: Sequence[int]) -> None:
        gone = [self.first_chunk[a] + j for a in articles for j in range(PER_ARTICLE)]
        for a in articles:
            del self.vectors_of[a], self.first_chunk[a]
        self.gen += 1
        self.log.append((self.gen, [], gone))

    # --- the ChangeFeed protocol ---------------------------------------------------------
    def generation(self) -> int:
        return self.gen

    def index_id(self) -> str:
        return "bench"

    def chunk_count(self) -> int:
        return len(self.vectors_of) * PER_ARTICLE

    def changes(self, since: int) -> tuple[list[int], list[int]]:
        changed = sorted({a for g, c, _ in self.log if g > since for a in c
                          if a in self.vectors_of})
        removed = sorted({r for g, _, rs in self.log if g > since for r in rs})
        return changed, removed

    def article_rowids(self) -> list[int]:
        return sorted(self.vectors_of)

    def chunk_rows(self, article_rowids: Sequence[int], batch: int = 2048) -> Iterator[list[Any]]:
        from qa.store.records import ChunkRow

        rows = [ChunkRow(self.first_chunk[a] + j, a, v, "", "", False)
                for a in article_rowids for j, v in enumerate(self.vectors_of[a])]
        for at in range(0, len(rows), batch):
            yield rows[at:at + batch]

    def vectors(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        ids: list[int] = []
        block: list[np.ndarray] = []
        for a in sorted(self.vectors_of):
            ids.extend(range(self.first_chunk[a], self.first_chunk[a] + PER_ARTICLE))
            block.append(self.vectors_of[a])
            if len(ids) >= batch:
                yield np.array(ids, dtype=np.int64), np.concatenate(block)
                ids, block = [], []
        if ids:
            yield np.array(ids, dtype=np.int64), np.concatenate(block)

    def sample(self, n: int) -> np.ndarray:
        keys = sorted(self.vectors_of)
        step = max(1, len(keys) * PER_ARTICLE // max(n, 1))
        picked = [self.vectors_of[keys[i // PER_ARTICLE]][i % PER_ARTICLE]
                  for i in range(0, len(keys) * PER_ARTICLE, step)][:n]
        return np.stack(picked)

    def passing(self, filters: Any, among: Sequence[int] | None = None) -> list[int]:
        return list(among or [])


def _timed(store: Any, feed: Feed, **how: bool) -> float:
    """Seconds for a new process's `sync` (nothing held in memory before it)."""
    store.close()
    began = time.perf_counter()
    store.sync(feed, **how)
    return time.perf_counter() - began


def child(n: int) -> None:
    from qa.store.vectors.faiss import FaissFile

    with tempfile.TemporaryDirectory() as tmp:
        feed = Feed(n, Path(tmp))
        store = FaissFile(Path(tmp), feed.manifest, writer=True)
        first_s = _timed(store, feed)  # the first ingest: built from the store
        size_mb = store.file.stat().st_size / 1e6

        feed.add(ADDED)
        adds = [_timed(store, feed)]
        merged = [_merged(store)]
        feed.remove(sorted(feed.vectors_of)[:REMOVED])
        remove_s = _timed(store, feed)
        # More days of 1,000 articles, until the segment is merged into the main file: what
        # an ingest costs on average, merges included.
        search = {}
        while not merged[-1]:
            search = _search_ms(store, feed)  # the largest segment yet
            feed.add(ADDED)
            adds.append(_timed(store, feed))
            merged.append(_merged(store))
        if not search:
            search = _search_ms(store, feed)

        feed.add(ADDED)
        rebuild_s = _timed(store, feed, full=True)  # what every ingest did before
        held = store.held_count(feed)
        assert held == feed.chunk_count(), (held, feed.chunk_count())
    print(json.dumps({"n": n, "first_s": first_s, "add_s": adds[0], "remove_s": remove_s,
                      "adds_to_merge": len(adds), "merge_s": adds[-1],
                      "mean_add_s": sum(adds) / len(adds), "rebuild_s": rebuild_s,
                      "size_mb": size_mb, **search,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _merged(store: Any) -> bool:
    """Whether the last sync merged the segment into the main file (it left it empty)."""
    return not (store._recent.ids.size or store._recent.gone.size)


def _search_ms(store: Any, feed: Feed, queries: int = 100) -> dict[str, float]:
    """Median search time (ms) over `queries` stored vectors, and the segment's size then."""
    from qa.core.records import Filters

    store.close()
    store.load(feed)  # loaded once, as a running server or REPL holds it
    rng = np.random.default_rng(11)
    picked = rng.choice(sorted(feed.vectors_of), queries)
    times = []
    for a in picked:
        began = time.perf_counter()
        store.search(feed, feed.vectors_of[a][0], 10, Filters())
        times.append((time.perf_counter() - began) * 1000)
    return {"search_p50_ms": float(np.median(times)),
            "segment_vectors": int(store._recent.ids.size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    rows = []
    for n in args.sizes:
        result = subprocess.run([sys.executable, __file__, "--child", str(n)], check=True,
                                capture_output=True, text=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    print(f"vectors file of a store of N chunks; {ADDED:,} articles added, then {REMOVED} "
          f"removed ({PER_ARTICLE} chunks an article), then {ADDED:,} more a day until the "
          "segment is merged; each step a new process's sync")
    print("| chunks | first build s | add 1,000 articles s | remove 100 s | adds to a merge | "
          "the merging add s | mean add s | search p50 ms (segment) | rebuild (before) s | "
          "file MB | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['first_s']:.1f} | {r['add_s']:.2f} | {r['remove_s']:.2f} | "
              f"{r['adds_to_merge']} | {r['merge_s']:.2f} | {r['mean_add_s']:.2f} | "
              f"{r['search_p50_ms']:.1f} ({r['segment_vectors']:,}) | {r['rebuild_s']:.1f} | "
              f"{r['size_mb']:.0f} | {r['peak_rss_mb']:.0f} |")
    if len(rows) >= 2:
        big, small = rows[-1], rows[0]
        print(f"add at {big['n']:,} / add at {small['n']:,}: "
              f"{big['add_s'] / small['add_s']:.2f}x; mean add, merges included: "
              f"{big['mean_add_s'] / small['mean_add_s']:.2f}x")

if __name__ == "__main__":
    main()
