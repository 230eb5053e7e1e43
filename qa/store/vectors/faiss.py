"""The index folder's own vector backend: `vectors.faiss`, derived from SQLite.

The file is written to a temporary file and renamed into place, and the manifest records the
store generation it holds and its SHA-256; if they disagree with the store (a crash between the
two, an edit), the vectors are rebuilt from SQLite when searched. Exact search up to
EXACT_UP_TO chunks, an inverted file (IVF) beyond.

An ingest costs what it adds, not what is stored: `sync` reads the recent segment written for
the generation it last recorded (`vectors-recent.npz`, qa/store/vectors/recent.py), notes there
the chunks that went since and adds those of the articles written since (the store's change
feed), and writes the segment only; the main file is read and written again when the segment
has grown to a tenth of it. The manifest names the digests of both. The inverted file is trained
once, when the store crosses EXACT_UP_TO, and again only when it has grown RETRAIN_GROWTH times
past the vectors it was trained on (or shrunk back to exact size); `full` rebuilds from SQLite.
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
from qa.core.files import not_a_file, write_atomic
from qa.core.records import Filters
from qa.store.folder import RECENT, VECTORS, Manifest
from qa.store.vectors.base import ChangeFeed
from qa.store.vectors.recent import Recent, main_ids

FAISS = "faiss"  # the URI of this backend, as `--store` takes it
# Up to this many chunks the vectors are searched exactly (a flat index: every vector is
# compared); past it, approximately, with an inverted file (IVF): the vectors are grouped around
# 4 x sqrt(n) centroids learnt from a sample, and a search looks in the NPROBE groups nearest the
# question. Measured in docs/benchmarks.md (bench/scale.py): at 1,000,000 chunks the exact
# search is too slow for a 50 ms budget on 2 cores, and this one keeps recall@10 above 0.95.
EXACT_UP_TO = 200_000
NPROBE = 48
# An inverted file's centroids were learnt from the vectors stored when it was trained; once the
# store has grown this many times past that, they are learnt again (issue 18: "say 2x").
RETRAIN_GROWTH = 2.0
TRAINED_ON = "vectors_trained_on"  # the manifest entry: chunks stored when the IVF was trained
RECENT_SHA256 = "vectors_recent_sha256"  # the manifest entry: the digest of the segment


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


def _fits(trained_on: Any, total: int) -> bool:
    """Whether an inverted file trained on `trained_on` vectors (None: exact search) still
    suits a store of `total`."""
    if not isinstance(trained_on, int) or trained_on <= 0:
        return total <= EXACT_UP_TO
    return EXACT_UP_TO < total <= RETRAIN_GROWTH * trained_on


def _contents(vectors: Any) -> tuple[np.ndarray, np.ndarray]:
    """The ids and vectors a FAISS index of either kind newsqa writes holds (an id map over a
    flat index; an inverted file whose lists keep the vectors whole)."""
    import faiss

    if not isinstance(vectors, faiss.IndexIVF):
        return faiss.vector_to_array(vectors.id_map), vectors.index.reconstruct_n(0, vectors.ntotal)
    lists: Any = vectors.invlists
    ids, held = [np.array([], np.int64)], [np.zeros((0, vectors.d), np.float32)]
    for n in range(vectors.nlist):
        size = lists.list_size(n)
        if size:
            ids.append(faiss.rev_swig_ptr(lists.get_ids(n), size).copy())
            codes = faiss.rev_swig_ptr(lists.get_codes(n), size * lists.code_size).copy()
            held.append(codes.view(np.float32).reshape(size, vectors.d))
    return np.concatenate(ids), np.concatenate(held)


def build(feed: ChangeFeed) -> Any:
    """The FAISS index of the store's vectors, built afresh (see `new_vector_index`)."""
    total = feed.chunk_count()
    index = new_vector_index(feed.dim, total, feed.sample)
    for ids, vectors in feed.vectors():
        index.add_with_ids(vectors, ids)
    return index


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in blocks: the vectors file is trusted only if it is the one
    this index wrote (an older index, without a digest, is trusted on size alone). "" for a
    missing file, and for a FIFO or a device planted in its place (never opened: a FIFO would
    wait for a writer forever)."""
    if not_a_file(path) is not None:
        return ""
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
    """`vectors.faiss` in the index folder and its recent segment (qa/store/vectors/recent.py),
    loaded on first search (see the module)."""

    uri = FAISS

    def __init__(self, folder: Path, manifest: Manifest, *, writer: bool) -> None:
        self.file = folder / VECTORS
        self.recent_file = folder / RECENT
        self.manifest = manifest
        self.writer = writer  # a reader may find that another process rewrote the file
        self._vectors: Any = None  # the main file's index, when loaded
        self._recent: Recent | None = None  # the segment beside it
        self._generation = -1  # the store's generation when they were loaded
        # Whether those are the files as written (else rebuilt from the store, when the files
        # were not trusted): only the files' own may be added to.
        self._from_files = False
        self._main_sha: str | None = None  # the recorded digest of the main file held, if any

    def synced(self, feed: ChangeFeed) -> int | None:
        held = self.manifest.get("generation")
        return held if self.file.exists() and isinstance(held, int) else None

    def current(self, feed: ChangeFeed) -> bool:
        return self.file.exists() and self.manifest.get("generation") == feed.generation()

    def sync(self, feed: ChangeFeed, *, full: bool = False) -> int:
        import faiss

        update = None if full else self._updated(feed)
        if update is None:
            vectors: Any = build(feed)
            recent = Recent.empty(main_ids(vectors), feed.dim)
            trained_on = feed.chunk_count() if isinstance(vectors, faiss.IndexIVF) else None
        else:
            vectors, recent = update
            trained_on = self.manifest.get(TRAINED_ON)
        entries: dict[str, Any] = {"generation": feed.generation(), "vector_store": None,
                                   TRAINED_ON: trained_on}

        def write(tmp: Path) -> None:
            try:
                faiss.write_index(vectors, str(tmp))
            except RuntimeError as exc:  # FAISS reports a failed write (a full disk) this way
                full = "No space left" in str(exc) or "Disk quota" in str(exc)
                raise OSError(errno.ENOSPC if full else errno.EIO, "No space left on device"
                              if full else f"FAISS could not write it: {str(exc)[-200:]}",
                              str(self.file)) from exc
            entries["vectors_sha256"] = file_digest(tmp)

        def write_recent(tmp: Path) -> None:
            recent.write(tmp)
            entries[RECENT_SHA256] = file_digest(tmp)

        # Written straight to disk: serialising in memory first would hold two more copies.
        # The manifest, written last, names the digests of both files: a stop between the
        # writes leaves one that disagrees, and the vectors are rebuilt from the store.
        with _sigint_deferred():
            if vectors is not None:
                write_atomic(self.file, write)
            write_atomic(self.recent_file, write_recent)
            self.manifest.record(entries)
        if vectors is not None:
            self._vectors, self._main_sha = vectors, entries["vectors_sha256"]
        elif not self._from_files:  # a rebuild from the store, not the main file on disk
            self._vectors = self._main_sha = None
        self._recent, self._generation, self._from_files = recent, feed.generation(), True
        return recent.count

    def _updated(self, feed: ChangeFeed) -> tuple[Any, Recent] | None:
        """The changes since the generation last written, applied: (None, the segment) when
        only the segment is to be written, or (the main file's vectors, an empty segment) when
        it was due to be merged into them. None when that cannot be done (no such files,
        changes not noted that far back, a count that disagrees) or should not (the inverted
        file is due to be trained)."""
        import faiss

        held = self.synced(feed)
        changes = None if held is None else feed.changes(held)
        if held is None or changes is None:
            return None
        total = feed.chunk_count()
        if not _fits(self.manifest.get(TRAINED_ON), total):
            return None
        recent = self._held_recent(feed, held)
        if recent is None:
            return None
        changed, removed = changes
        fresh = [row for rows in feed.chunk_rows(changed) for row in rows]
        recent = recent.updated(
            np.array([row.rowid for row in fresh], dtype=np.int64),
            np.stack([row.vector for row in fresh]) if fresh else np.zeros((0, feed.dim)),
            np.array(removed, dtype=np.int64))
        if recent.count != total:
            return None
        if not recent.due():
            return None, recent
        vectors = self._held_main(feed, held)
        if vectors is None or isinstance(vectors, faiss.IndexIVF) != (total > EXACT_UP_TO) \
                or not np.array_equal(main_ids(vectors), recent.main):
            return None
        self._vectors = None  # changed in place: no longer those of any generation
        vectors = recent.merged_into(vectors)
        if vectors.ntotal != total:
            return None
        return vectors, Recent.empty(main_ids(vectors), feed.dim)

    def _held_recent(self, feed: ChangeFeed, generation: int) -> Recent | None:
        """The segment of `generation`: in memory if loaded for it, else from its file (an
        index written before segments has none: an empty one, from the main file's ids)."""
        if self._recent is not None and self._from_files and self._generation == generation:
            return self._recent
        if self.manifest.get(RECENT_SHA256) is None:
            vectors = self._held_main(feed, generation)
            return None if vectors is None else Recent.empty(main_ids(vectors), feed.dim)
        return self._own_recent(feed)

    def _own_recent(self, feed: ChangeFeed) -> Recent | None:
        """The segment's file, read, if its digest is the one recorded; else None."""
        if not_a_file(self.recent_file) is not None:
            return None
        try:  # read once, so that the bytes checked are the bytes parsed
            data = self.recent_file.read_bytes()
        except OSError:
            return None
        if self.manifest.get(RECENT_SHA256) != hashlib.sha256(data).hexdigest():
            return None
        return Recent.read(data, feed.dim)

    def _held_main(self, feed: ChangeFeed, generation: int) -> Any:
        """The main file's vectors of `generation`: in memory if loaded for it, else read."""
        if self._vectors is not None and self._from_files and self._generation == generation:
            return self._vectors
        return self._own_file(feed)

    def _own_file(self, feed: ChangeFeed) -> Any:
        """The file, read, if it is the one this index wrote last (its digest is the one
        recorded; an older index recorded none) and of the store's dimension; else None."""
        import faiss

        if self.manifest.get("vectors_sha256") not in (None, file_digest(self.file)):
            return None
        try:
            vectors = faiss.read_index(str(self.file))
        except (RuntimeError, MemoryError):
            return None
        if vectors.d != feed.dim:
            return None
        _tune(vectors)
        return vectors

    def _own(self, feed: ChangeFeed, held: Any = None) -> tuple[Any, Recent] | None:
        """The main file (`held` if given: read before, its digest still the one recorded)
        and its segment as this index wrote them last, if they hold one vector for each stored
        chunk; else None."""
        vectors = self._own_file(feed) if held is None else held
        if vectors is None:
            return None
        if self.manifest.get(RECENT_SHA256) is None:  # written before segments
            recent: Recent | None = Recent.empty(main_ids(vectors), feed.dim)
        else:
            recent = self._own_recent(feed)
        if recent is None or recent.count != feed.chunk_count() or \
                not np.array_equal(recent.main, main_ids(vectors)):
            return None
        return vectors, recent

    def load(self, feed: ChangeFeed, trust_file: bool = True) -> Any:
        """The main vectors of the store's generation (the segment beside them in
        `self._recent`): from the files if they are the ones this index wrote for it, else
        rebuilt from SQLite."""
        generation = feed.generation()
        if self._vectors is not None and self._recent is not None and \
                self._generation == generation:
            return self._vectors
        if self._vectors is not None and not self.writer:
            # Another process wrote since these were loaded (a long-lived reader: eval, the
            # REPL): its manifest says which generation its vectors file holds.
            with contextlib.suppress(NewsqaError):
                self.manifest.reread()
        # A main file read before and not rewritten since (only the segment changed, as after
        # most ingests) is not read again: at 1M chunks that is 1.5 GB.
        kept = self._vectors if self._from_files and self._main_sha is not None and \
            self.manifest.get("vectors_sha256") == self._main_sha else None
        self._vectors = self._recent = self._main_sha = None
        self._generation, self._from_files = generation, False
        held = None
        if trust_file and self.file.is_file() and self.manifest.get("generation") == generation:
            held = self._own(feed, kept)
            self._from_files = held is not None
            if held is not None:
                self._main_sha = self.manifest.get("vectors_sha256")
        if held is None:
            vectors = build(feed)
            held = vectors, Recent.empty(main_ids(vectors), feed.dim)
        self._vectors, self._recent = held
        return self._vectors

    def held_count(self, feed: ChangeFeed) -> int:
        """How many vectors are searched for the store's generation."""
        self.load(feed)
        assert self._recent is not None
        return self._recent.count

    def written_for(self, feed: ChangeFeed) -> bool:
        """Whether the files are the ones this index wrote last (the digests recorded) and
        hold one vector for each stored chunk, the store's own. Vectors updated in place (an
        inverted file trained on fewer, a segment beside it) are not byte for byte what a
        fresh build makes: doctor asks this of them. The files are parsed only once their
        digests have shown they are this index's own."""
        if not self.manifest.get("vectors_sha256"):
            return False
        held = self._own(feed)
        if held is None:
            return False
        ids, vectors = held[1].contents(*_contents(held[0]))
        order = np.argsort(ids)
        ids, at = ids[order], 0
        for stored_ids, stored in feed.vectors():  # in rowid order
            part = order[at:at + len(stored_ids)]
            if not (np.array_equal(ids[at:at + len(stored_ids)], stored_ids)
                    and np.array_equal(vectors[part], stored)):
                return False
            at += len(stored_ids)
        return at == len(ids)

    def recent_problem(self) -> str | None:
        """What is wrong with the segment's file, if anything (doctor reports it)."""
        recorded = self.manifest.get(RECENT_SHA256)
        if recorded is None:
            return None
        if not self.recent_file.exists():
            return f"{RECENT} is missing"
        if (unreadable := not_a_file(self.recent_file)) is not None:
            return f"{RECENT} {unreadable}"
        if file_digest(self.recent_file) != recorded:
            return (f"{RECENT} is not the file this index wrote (its SHA-256 differs from the "
                    "manifest's): it was altered or replaced; `--repair` rewrites it from the "
                    "store")
        return None

    def search(self, feed: ChangeFeed, query: np.ndarray, k: int, filters: Filters
               ) -> list[tuple[int, float]]:
        import faiss

        vectors = self.load(feed)
        recent = self._recent
        assert recent is not None
        if recent.count == 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        allowed = np.array(feed.passing(filters), dtype=np.int64) if filters.active() else None
        if allowed is not None and allowed.size == 0:
            return []
        # The main file's vectors that went since it was written are not searched there.
        main_allowed = allowed if allowed is None or not recent.gone.size \
            else np.setdiff1d(allowed, recent.gone)
        hits = recent.search(q, k, allowed)
        params: Any = None
        if main_allowed is not None or recent.gone.size:
            # Both kept alive for the search below (FAISS holds bare pointers to them).
            listed = faiss.IDSelectorBatch(recent.gone if main_allowed is None else main_allowed)
            selector = faiss.IDSelectorNot(listed) if main_allowed is None else listed
            params = faiss.SearchParametersIVF() if isinstance(vectors, faiss.IndexIVF) \
                else faiss.SearchParameters()
            params.sel = selector
            if isinstance(vectors, faiss.IndexIVF):
                params.nprobe = NPROBE
        searchable = vectors.ntotal - len(recent.gone) if main_allowed is None \
            else int(main_allowed.size)
        if vectors.ntotal and searchable > 0:
            scores, ids = vectors.search(q, min(k, searchable), params=params)
            hits += [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True)
                     if i >= 0]
        return sorted(hits, key=lambda hit: -hit[1])[:k]

    def describe(self) -> dict[str, Any]:
        return {"uri": FAISS, "file": str(self.file)}

    def close(self) -> None:
        self._vectors = self._recent = self._main_sha = None
        self._from_files = False
