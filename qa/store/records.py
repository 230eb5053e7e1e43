"""The typed records that cross the store's boundary: what is stored, what a file mark is, and
what the change feed hands a vector backend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.core.records import Article, Chunk


@dataclass(frozen=True)
class StoredArticle:
    """An article as the store keeps it: with its content hash, the file it came from, its
    chunks and their vectors, and its LSH band keys (see qa/ingest/copies.py; the store
    computes none)."""

    article: Article
    digest: str
    origin: str | None
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray
    keys: tuple[int, ...]


@dataclass(frozen=True)
class FileMark:
    """A file read to the end with nothing rejected, as it was then: unchanged, it is not
    read again."""

    path: str  # absolute
    size: int
    mtime_ns: int
    fields: str  # the JSONL field mapping, as JSON

    def key(self) -> tuple[str, int, int, str]:
        return self.path, self.size, self.mtime_ns, self.fields


@dataclass(frozen=True)
class Copy:
    """A stored syndicated copy, with what storing it again needs."""

    article: Article
    digest: str
    origin: str | None


@dataclass(frozen=True)
class ChunkRow:
    """One stored chunk as a vector backend holds it: its vector and what a filter asks of
    its article."""

    rowid: int
    article_rowid: int
    vector: np.ndarray
    day: str  # "" when undated
    source: str  # "" when unknown
    has_copies: bool  # its article passes a filter through any copy too
