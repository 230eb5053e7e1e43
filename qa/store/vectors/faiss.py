"""The index folder's own vector backend: `vectors.faiss`, derived from SQLite.

The file is written to a temporary file and renamed into place, and the manifest records the
store generation it holds and its SHA-256; if they disagree with the store (a crash between the
two, an edit), the vectors are rebuilt from SQLite when searched. Exact search up to
EXACT_UP_TO chunks, an inverted file (IVF) beyond.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from qa.core.errors import NewsqaError
from qa.core.files import write_atomic
from qa.core.records import Filters
from qa.store.folder import VECTORS, Manifest
from qa.store.vectors.base import ChangeFeed

FAISS = "faiss"  # the URI of this backend, as `--store` takes it
# Up to this many chunks the vectors are searched exactly (a flat index: every vector is
# compared); past it, approximately, with an inverted file (IVF): the vectors are grouped around
# 4 x sqrt(n) centroids learnt from a sample, and a search looks in the NPROBE groups nearest the
# question. Measured in docs/benchmarks.md (bench/scale.py): at 1,000,000 chunks the exact
# search is too slow for a 50 ms budget on 2 cores, and this one keeps recall@10 above 0.95.
EXACT_UP_TO = 200_000
NPROBE = 48


def new_vector_index(dim: int, total: int, sample: Callable[[int], np.ndarray]) -> Any:
    """An empty FAISS index for `total` vectors, inner product on unit vectors (cosine), ids
    being chunk rowids: exact up to EXACT_UP_TO, else IVF trained on `sample(n)`."""
    import faiss

    if total <= EXACT_UP_TO:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    lists = max(1, min(int(4 * total ** 0.5), total // 39))
    index = faiss.index_factory(dim, f"IVF{lists},Flat", faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(sample(32 * lists)))
    _tune(index)
    return index


def _tune(index: Any) -> None:
    import faiss

    if isinstance(index, faiss.IndexIVF):
        index.nprobe = NPROBE


def build(feed: ChangeFeed) -> Any:
    """The FAISS index of the store's vectors, built afresh (see `new_vector_index`)."""
    total = feed.chunk_count()
    index = new_vector_index(feed.dim, total, feed.sample)
    for ids, vectors in feed.vectors():
        index.add_with_ids(vectors, ids)
    return index


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in blocks: the vectors file is trusted only if it is the one
    this index wrote (an older index, without a digest, is trusted on size alone)."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return ""


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back until the block is done (then raise it): for short writes that are
    better finished than abandoned."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class FaissFile:
    """`vectors.faiss` in the index folder, loaded on first search (see the module)."""

    uri = FAISS

    def __init__(self, folder: Path, manifest: Manifest, *, writer: bool) -> None:
        self.file = folder / VECTORS
        self.manifest = manifest
        self.writer = writer  # a reader may find that another process rewrote the file
        self._vectors: Any = None
        self._generation = -1  # the store's generation when they were loaded

    def synced(self, feed: ChangeFeed) -> int | None:
        held = self.manifest.get("generation")
        return held if self.file.exists() and isinstance(held, int) else None

    def current(self, feed: ChangeFeed) -> bool:
        return self.file.exists() and self.manifest.get("generation") == feed.generation()

    def sync(self, feed: ChangeFeed, *, full: bool = False) -> int:
        vectors = self.load(feed, trust_file=False)
        import faiss

        digest: list[str] = []

        def write(tmp: Path) -> None:
            try:
                faiss.write_index(vectors, str(tmp))
            except RuntimeError as exc:  # FAISS reports a failed write (a full disk) this way
                full = "No space left" in str(exc) or "Disk quota" in str(exc)
                raise OSError(errno.ENOSPC if full else errno.EIO, "No space left on device"
                              if full else f"FAISS could not write it: {str(exc)[-200:]}",
                              str(self.file)) from exc
            digest.append(file_digest(tmp))

        # Written straight to disk: serialising in memory first would hold two more copies.
        with _sigint_deferred():
            write_atomic(self.file, write)
            self.manifest.record({"generation": feed.generation(),
                                  "vectors_sha256": digest[0], "vector_store": None})
        return int(vectors.ntotal)

    def load(self, feed: ChangeFeed, trust_file: bool = True) -> Any:
        """The vectors of the store's generation: from the file if it is the one this index
        wrote for it, else rebuilt from SQLite."""
        import faiss

        generation = feed.generation()
        if self._vectors is not None and self._generation == generation:
            return self._vectors
        if self._vectors is not None and not self.writer:
            # Another process wrote since these were loaded (a long-lived reader: eval, the
            # REPL): its manifest says which generation its vectors file holds.
            with contextlib.suppress(NewsqaError):
                self.manifest.reread()
        expected = feed.chunk_count()
        self._vectors, self._generation = None, generation
        if trust_file and self.file.is_file() and self.manifest.get("generation") == generation \
                and self.manifest.get("vectors_sha256") in (None, file_digest(self.file)):
            try:
                index = faiss.read_index(str(self.file))
            except (RuntimeError, MemoryError):
                index = None
            if index is not None and index.ntotal == expected and index.d == feed.dim:
                _tune(index)
                self._vectors = index
                return index
        self._vectors = build(feed)
        return self._vectors

    def search(self, feed: ChangeFeed, query: np.ndarray, k: int, filters: Filters
               ) -> list[tuple[int, float]]:
        import faiss

        vectors = self.load(feed)
        if vectors.ntotal == 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if not filters.active():
            scores, ids = vectors.search(q, min(k, vectors.ntotal))
        else:
            allowed = np.array(feed.passing(filters), dtype=np.int64)
            if allowed.size == 0:
                return []
            selector = faiss.IDSelectorBatch(allowed)  # kept alive for the search below
            params: Any = faiss.SearchParametersIVF() if isinstance(vectors, faiss.IndexIVF) \
                else faiss.SearchParameters()
            params.sel = selector
            if isinstance(vectors, faiss.IndexIVF):
                params.nprobe = NPROBE
            scores, ids = vectors.search(q, min(k, int(allowed.size)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def describe(self) -> dict[str, Any]:
        return {"uri": FAISS, "file": str(self.file)}

    def close(self) -> None:
        self._vectors = None
