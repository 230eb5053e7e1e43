"""The change feed: the store as a vector backend sees it (its generation, what changed since
one, its chunks with their vectors, and which chunks pass a filter)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.core.errors import NewsqaError
from qa.core.records import Filters
from qa.store import articles, lexical
from qa.store.folder import Manifest, damaged
from qa.store.records import ChunkRow


def stored_generation(conn: sqlite3.Connection) -> Any:
    """The store's generation counter as stored (doctor reports one that is not a number)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    return None if row is None else row[0]


def generation(conn: sqlite3.Connection, path: Path | None) -> int:
    """The store's generation: how many writes it has committed."""
    value = stored_generation(conn)
    try:
        return 0 if value is None else int(value)
    except (TypeError, ValueError):
        raise damaged(path, "its generation counter is not a number") from None


class StoreFeed:
    """The change feed of one open store (see qa/store/vectors/base.py: `ChangeFeed`)."""

    def __init__(self, conn: sqlite3.Connection, manifest: Manifest, dim: Callable[[], int]
                 ) -> None:
        self.conn = conn
        self.manifest = manifest
        self.path = manifest.folder
        self._dim = dim  # read from the manifest when needed: doctor opens damaged ones

    @property
    def dim(self) -> int:
        return self._dim()

    def generation(self) -> int:
        return generation(self.conn, self.path)

    def chunk_count(self) -> int:
        return articles.counts(self.conn)["chunks"]

    def index_id(self) -> str:
        """A random id given to the index when it was made: a vector store remembers which
        index it follows. An older index without one gets one when next opened for writing."""
        value = articles.meta(self.conn, "index_id")
        if value is None:
            raise NewsqaError(f"the index at {self.path} predates vector stores",
                              hint=f"open it for writing once: newsqa index sync --index "
                                   f"{self.path.name} --store faiss")
        return value

    def changes(self, since: int) -> tuple[list[int], list[int]] | None:
        """What changed after generation `since`: (rowids of articles to write again, rowids
        of chunks that went away), or None when changes were not noted that far back."""
        start = articles.meta(self.conn, "changes_from")
        if start is None or not start.isdigit() or int(start) > since:
            return None
        changed = [int(r[0]) for r in self.conn.execute(
            "SELECT article_rowid FROM changes WHERE generation > ? ORDER BY article_rowid",
            (since,))]
        removed = [int(r[0]) for r in self.conn.execute(
            "SELECT chunk_rowid FROM removed_chunks WHERE generation > ? ORDER BY chunk_rowid",
            (since,))]
        return changed, removed

    def article_rowids(self) -> list[int]:
        return [int(r[0]) for r in self.conn.execute("SELECT rowid FROM articles ORDER BY rowid")]

    def chunk_rows(self, article_rowids: Sequence[int], batch: int = 2048
                   ) -> Iterator[list[ChunkRow]]:
        """The chunks of these articles (those still stored), in batches."""
        for at in range(0, len(article_rowids), 500):
            part = list(article_rowids[at : at + 500])
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                "SELECT c.rowid, c.article_rowid, c.vector, a.day, a.source, EXISTS (SELECT 1 "
                "FROM copies k WHERE k.canonical_rowid = a.rowid) FROM chunks c JOIN articles a "
                f"ON a.rowid = c.article_rowid WHERE a.rowid IN ({marks}) ORDER BY c.rowid",
                part)
            while block := rows.fetchmany(batch):
                vectors = self.stacked([r[2] for r in block])
                yield [ChunkRow(int(r[0]), int(r[1]), vectors[i], r[3] or "", r[4] or "",
                                bool(r[5])) for i, r in enumerate(block)]

    def vectors(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every stored vector in rowid order, in batches of (chunk rowids, vectors)."""
        rows = self.conn.execute("SELECT rowid, vector FROM chunks ORDER BY rowid")
        while block := rows.fetchmany(batch):
            yield np.array([r[0] for r in block], dtype=np.int64), \
                self.stacked([r[1] for r in block])

    def sample(self, n: int) -> np.ndarray:
        """About `n` stored vectors spread evenly over the store (the same ones every time)."""
        step = max(1, self.chunk_count() // max(1, n))
        rows = self.conn.execute("SELECT vector FROM chunks WHERE rowid % ? = 0 LIMIT ?",
                                 (step, n)).fetchall()
        return self.stacked([r[0] for r in rows])

    def stacked(self, blobs: Sequence[Any]) -> np.ndarray:
        size = self.dim * np.dtype(np.float32).itemsize
        if any(not isinstance(b, bytes) or len(b) != size for b in blobs):
            raise damaged(self.path, f"some stored vectors do not have dimension {self.dim}")
        return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), self.dim)

    def passing(self, filters: Filters, among: Sequence[int] | None = None) -> list[int]:
        """Rowids of the chunks (of those `among`, if given) whose article passes `filters`."""
        return lexical.passing(self.conn, filters, among)
