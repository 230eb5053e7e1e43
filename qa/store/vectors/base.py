"""The vector-backend seam: what every backend does (FAISS file, Milvus), and the narrow view
of the store each one is handed (never the index itself)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.core.records import Filters
from qa.store.folder import Manifest
from qa.store.records import ChunkRow


class ChunkFilter(Protocol):
    """Which chunks pass a search filter, decided by SQLite (the source of truth)."""

    def passing(self, filters: Filters, among: Sequence[int] | None = None) -> list[int]:
        """Rowids of the chunks (of those `among`, if given) whose article passes."""
        ...


class ChangeFeed(ChunkFilter, Protocol):
    """The committed store as a vector backend follows it (see qa/store/feed.py)."""

    path: Path  # the index folder, for messages
    manifest: Manifest  # where a backend notes what it holds

    @property
    def dim(self) -> int: ...

    def generation(self) -> int: ...

    def index_id(self) -> str: ...

    def chunk_count(self) -> int: ...

    def changes(self, since: int) -> tuple[list[int], list[int]] | None:
        """(articles to write again, chunks gone) after generation `since`, or None when
        changes were not noted that far back."""
        ...

    def article_rowids(self) -> list[int]: ...

    def chunk_rows(self, article_rowids: Sequence[int], batch: int = 2048
                   ) -> Iterator[list[ChunkRow]]: ...

    def vectors(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every stored vector in rowid order: batches of (chunk rowids, vectors)."""
        ...

    def sample(self, n: int) -> np.ndarray:
        """About `n` stored vectors, the same ones every time."""
        ...


class VectorBackend(Protocol):
    """Where an index's vectors are searched: its own FAISS file (qa/store/vectors/faiss.py)
    or a database that follows the store (qa/store/vectors/milvus.py). SQLite stays the
    source of truth; a backend is brought up to date from it."""

    uri: str  # "faiss", or the URI the manifest records

    def synced(self, feed: ChangeFeed) -> int | None:
        """The generation of the store this backend holds, or None if it holds another
        index or nothing yet."""
        ...

    def current(self, feed: ChangeFeed) -> bool:
        """Whether it holds the store's present generation, as the index uses it."""
        ...

    def sync(self, feed: ChangeFeed, *, full: bool = False) -> int:
        """Bring the backend up to the committed store (with `full`, written afresh rather
        than from the changes since the generation it holds), and note in the manifest what it
        holds; returns the number of chunks written."""
        ...

    def search(self, feed: ChangeFeed, query: np.ndarray, k: int, filters: Filters
               ) -> list[tuple[int, float]]:
        """(chunk rowid, cosine) of the `k` chunks nearest `query` that pass `filters`;
        refuses (or rebuilds) a state other than the store's."""
        ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
