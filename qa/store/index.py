"""The on-disk index: `indexes/<name>/` with a manifest, a SQLite store and a vector backend.

SQLite is the source of truth: articles, chunks, their vectors (float32 blobs) and a full-text
(BM25) table, all written in one transaction per batch, so a crash at any moment leaves the
previous committed state. The vectors are searched in a backend derived from it (the folder's
own `vectors.faiss`, or Milvus), brought up to date by `commit_vectors`. Nothing here uses
pickle: SQLite rows, JSON and FAISS's own binary format only. `Index` is the facade; each of
its jobs lives in a module of this package (folder, schema, articles, ledger, feed, lexical,
quarantine, vectors/).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.core.errors import NewsqaError
from qa.core.records import Article, Carrier, Chunk, Filters
from qa.core.settings import ChunkParams
from qa.store import articles, ledger, lexical, quarantine, schema
from qa.store.feed import StoreFeed
from qa.store.folder import (
    DATABASE,
    MANIFEST,
    RECENT,
    VECTORS,
    EmbedderSpec,
    Manifest,
    check_embedder,
    damaged,
    index_folder,
    leftover_temporaries,
    missing,
    new_manifest,
    read_manifest,
)
from qa.store.locks import LOCK, folder_busy, lock_folder
from qa.store.records import Copy, FileMark, StoredArticle
from qa.store.vectors.base import VectorBackend
from qa.store.vectors.faiss import FAISS, FaissFile, build

__all__ = ["DATABASE", "MANIFEST", "VECTORS", "EmbedderSpec", "FileMark", "Index",
           "StoredArticle", "index_folder"]


class Index:
    """One index directory, opened for reading or (holding its lock) for writing."""

    def __init__(self, path: Path, conn: sqlite3.Connection, manifest: dict[str, Any],
                 lock: Any = None) -> None:
        self.path = path
        self.conn = conn
        self._manifest = Manifest(path, manifest, self.counts)
        self._lock = lock
        self.feed = StoreFeed(conn, self._manifest, lambda: self.dim)
        self.vectors: VectorBackend = FaissFile(path, self._manifest, writer=lock is not None)

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, embedder: EmbedderSpec | None, chunking: ChunkParams | None = None,
             *, create: bool = False, write: bool = False) -> Index:
        """Open `path`; with `create`, make it if missing. Refuses a different embedder
        (`embedder=None` skips that check: for inspecting or removing, never for adding)."""
        if embedder is None and create:
            raise ValueError("creating an index needs its embedder")
        manifest_path = path / MANIFEST
        if not manifest_path.exists():
            if not create:
                raise missing(path)
            path.mkdir(parents=True, exist_ok=True)
        lock = lock_folder(path, f"another newsqa process is writing {path}",
                           hint="wait for that ingest to finish, then run this again") \
            if write else None
        if lock is not None:  # a writer killed half-way through a file leaves its temporary
            for leftover in leftover_temporaries(path):
                leftover.unlink(missing_ok=True)
        try:
            made = not manifest_path.exists()
            if made:
                assert embedder is not None
                manifest = new_manifest(embedder, chunking)
            else:
                manifest = read_manifest(manifest_path)
            if embedder is not None:
                check_embedder(path, manifest, embedder)
            conn = schema.open_store(path, create=made, write=write)
            index = cls(path, conn, manifest, lock)
            if write and made:
                index._manifest.save()
            return index
        except BaseException:
            if lock is not None:
                lock.close()
            raise

    @staticmethod
    def exists(path: Path) -> bool:
        return (path / MANIFEST).is_file()

    def check_embedder(self, embedder: EmbedderSpec) -> None:
        """Refuse an embedder other than the one the index was built with."""
        check_embedder(self.path, self.manifest, embedder)

    def writer_busy(self) -> bool:
        """Whether another process is writing this index now (holding its lock)."""
        return self._lock is None and folder_busy(self.path)

    def discard(self) -> None:
        """Close the index and delete its files (not its folder): for an index this process
        made and stored nothing in. They are deleted while the lock is still held, so no other
        writer can have begun meanwhile."""
        if self._lock is None:
            raise ValueError("discarding an index needs its write lock")
        self.vectors.close()
        self.conn.close()
        for name in (MANIFEST, DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm", VECTORS, RECENT):
            (self.path / name).unlink(missing_ok=True)
        (self.path / LOCK).unlink(missing_ok=True)
        self._lock.close()
        self._lock = None

    def close(self) -> None:
        self.vectors.close()
        self.conn.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- properties ------------------------------------------------------------------------

    @property
    def manifest(self) -> dict[str, Any]:
        return self._manifest.data

    @property
    def chunking(self) -> ChunkParams:
        try:
            return ChunkParams(**self.manifest["chunking"])
        except (TypeError, KeyError):
            raise damaged(self.path, "its manifest's chunking settings are not newsqa's"
                          ) from None

    @property
    def dim(self) -> int:
        return int(self.manifest["embedder"]["dim"])

    @property
    def precision(self) -> str:
        """The precision the index's vectors were embedded at (fp32 for indexes made before it
        was recorded); every write keeps to it, so that vectors never mix."""
        return str(self.manifest["embedder"].get("precision", "fp32"))

    def generation(self) -> int:
        return self.feed.generation()

    def counts(self) -> dict[str, int]:
        return articles.counts(self.conn)

    # --- writing ---------------------------------------------------------------------------

    def write_batch(self, items: Sequence[StoredArticle],
                    demote: Mapping[str, tuple[str, float]] | None = None,
                    files: Sequence[FileMark] = ()) -> None:
        """Store articles in one transaction, replacing any stored article or copy with the
        same id. `demote` maps an id in `items` to (the id of a stored article, similarity):
        that article becomes a copy of it. `files` are marked as read whole (see `file_done`)
        in the same transaction."""
        with self._write():
            for item in items:
                rowid = articles.put_article(self.conn, item)
                if demote and item.article.id in demote:
                    old_id, similarity = demote[item.article.id]
                    articles.fold_into(self.conn, old_id, rowid, similarity)
            ledger.mark_files(self.conn, files)

    def write_copy(self, article: Article, digest: str, origin: str | None, canonical_id: str,
                   similarity: float) -> None:
        """Store `article` as a copy of the stored article `canonical_id`: no chunks, no
        vectors, only the record (and `canonical_id` remembers it carried the story)."""
        with self._write():
            canonical = articles.rowid_of(self.conn, canonical_id)
            if canonical is None:
                raise ValueError(f"no stored article {canonical_id}")
            if articles.rowid_of(self.conn, article.id) is not None:  # its own until now
                articles.fold_into(self.conn, article.id, canonical, similarity)
            self.conn.execute("DELETE FROM copies WHERE id = ?", (article.id,))
            articles.insert_copy(self.conn, Copy(article, digest, origin), canonical, similarity)

    def remove(self, article_ids: Sequence[str],
               successors: Mapping[str, StoredArticle] | None = None) -> int:
        """Delete articles and copies (and their chunks and vectors) in one transaction;
        returns how many. A removed article's remaining copies pass to its successor (see
        `successors`, embedded by the caller: qa.ingest.pipeline.remove_articles), or go with
        it if it has none."""
        self._check_writable()
        with self.transaction():
            removed = articles.remove(self.conn, article_ids, dict(successors or {}))
            if removed:
                # A file read before may hold what was removed: let the next ingest read it.
                ledger.forget_files(self.conn)
                articles.bump_generation(self.conn)
        return removed

    def set_aside(self, rows: Sequence[tuple[str, int]], reason: str) -> Path:
        """Move stored rows (`("articles" | "copies", rowid)`) that cannot be read, with an
        article's chunks and copies, out of the store into a quarantine file beside it (see
        qa/store/quarantine.py); returns the file."""
        self._check_writable()
        taken = quarantine.with_dependents(self.conn, rows)
        file = quarantine.write_aside(self.conn, self.path, taken, reason)
        with self._write():
            quarantine.delete_rows(self.conn, taken)
        return file

    def mark_files(self, files: Sequence[FileMark]) -> None:
        self._check_writable()
        if files:
            with self.transaction():
                ledger.mark_files(self.conn, files)

    def file_done(self, mark: FileMark) -> bool:
        """Whether this file, as it is now, was read to the end and everything in it stored."""
        return ledger.file_done(self.conn, mark)

    def ensure_copy_keys(self, keys_of: Callable[[str], Sequence[int]], batch: int = 500
                         ) -> int:
        """Give every stored article its LSH keys, `keys_of(text)` (a store made before copies
        were recognised lacks them); returns how many articles were keyed."""
        if articles.meta(self.conn, "copy_keys") == "1":
            return 0
        self._check_writable()
        done = sum(articles.key_articles(self.conn, keys_of, batch))
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('copy_keys', '1')")
        return done

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction that moves the store to its next generation."""
        self._check_writable()
        with self.transaction():
            yield
            articles.bump_generation(self.conn)

    def _check_writable(self) -> None:
        if self._lock is None:
            raise RuntimeError("index opened read-only")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read one committed state of the store throughout the block, whatever a writer in
        another process commits meanwhile (a read transaction; a no-op inside one)."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    # --- vectors ---------------------------------------------------------------------------

    def attach(self, backend: VectorBackend | None) -> None:
        """Search `backend` instead of `vectors.faiss` (None: back to the FAISS file)."""
        self.vectors.close()
        self.vectors = backend or FaissFile(self.path, self._manifest,
                                            writer=self._lock is not None)

    @property
    def vector_store(self) -> VectorBackend | None:
        """The backend attached in place of the folder's FAISS file, if any."""
        return None if self.vectors.uri == FAISS else self.vectors

    def vectors_current(self) -> bool:
        """Whether the vectors searched are those of the store's present generation."""
        return self.vectors.current(self.feed)

    def commit_vectors(self, *, full: bool = False) -> None:
        """Bring the vectors (written afresh with `full`) and the manifest up to date with the
        committed store. The manifest remembers which backend is in use."""
        with self.snapshot():
            self.vectors.sync(self.feed, full=full)

    def rebuild_vectors(self) -> Any:
        """The FAISS index of the store's vectors, built afresh (doctor compares it)."""
        return build(self.feed)

    # --- searching and reading -------------------------------------------------------------

    def search_dense(self, query: np.ndarray, k: int, filters: Filters) -> list[tuple[int, float]]:
        return self.vectors.search(self.feed, query, k, filters)

    def search_lexical(self, text: str, k: int, filters: Filters) -> list[tuple[int, float]]:
        return lexical.search_lexical(self.conn, text, k, filters)

    def stored_hash(self, article_id: str) -> str | None:
        """The content hash stored under `article_id`, as an article or as a copy."""
        return articles.stored_hash(self.conn, article_id)

    def stored_version(self, article_id: str) -> Article | None:
        """The article or copy stored under `article_id`."""
        return self.article(article_id) or self.syndicated_copy(article_id)

    def article(self, article_id: str) -> Article | None:
        return articles.one(self.conn, "articles", article_id)

    def syndicated_copy(self, article_id: str) -> Article | None:
        """The syndicated copy stored under `article_id` (see qa/ingest/copies.py)."""
        return articles.one(self.conn, "copies", article_id)

    def copy_candidates(self, keys: Sequence[int], limit: int = 50) -> list[Article]:
        return articles.copy_candidates(self.conn, keys, limit)

    def successors(self, article_ids: Sequence[str]) -> dict[str, Copy]:
        return articles.successors(self.conn, article_ids)

    def find(self, *, ids: Sequence[str] = (), urls: Sequence[str] = (),
             sources: Sequence[str] = ()) -> list[str]:
        return articles.find(self.conn, ids, urls, sources)

    def chunks_by_rowid(self, rowids: Sequence[int]) -> dict[int, tuple[Chunk, Article]]:
        return articles.chunks_by_rowid(self.conn, rowids)

    def carriers(self, article_ids: Sequence[str]) -> dict[str, tuple[Carrier, ...]]:
        return articles.carriers(self.conn, article_ids)

    def article_urls(self) -> list[tuple[str, str]]:
        return articles.article_urls(self.conn)

    def info(self) -> dict[str, Any]:
        """What `newsqa index info` shows, in its order."""
        size = sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
        return {"path": str(self.path),
                **{key: self.manifest[key] for key in ("format_version", "embedder", "chunking")},
                **self.counts(), **articles.summary(self.conn), "size_bytes": size,
                "updated": self.manifest.get("updated"),
                "vector_store": self._describe_vectors()}

    def _describe_vectors(self) -> dict[str, Any]:
        """What the vectors are searched in; an unreachable store is said, not raised: `info`
        is where a user looks when something is wrong."""
        try:
            return self.vectors.describe()
        except NewsqaError as exc:
            return {"uri": self.vectors.uri, "error": exc.message}
