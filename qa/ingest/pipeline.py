"""Ingest: read files, chunk, embed and store, incrementally and idempotently."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.core.records import Article, Chunk
from qa.ingest.chunking import ChunkParams, chunk_article
from qa.ingest.copies import band_keys, best_copy_match, preferred
from qa.ingest.readers import Rejected, Skipped, content_hash, expand_paths, path_text, read_path
from qa.models.embedders import Embedder
from qa.store.index import Index
from qa.store.records import FileMark, StoredArticle


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0  # an article already stored under the same id, with new content
    unchanged: int = 0  # already stored as it is, or repeated in this run
    copies: int = 0  # syndicated copies folded into a stored article (see qa/ingest/copies.py)
    older: int = 0  # an older version of an article stored in a newer one: left alone
    chunks: int = 0
    files: int = 0
    files_unchanged: int = 0  # read to the end by an earlier run and unchanged since: not read
    rejected: list[Rejected] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # Stored articles with no known date (left out whenever a date filter is set), by file.
    undated: list[str] = field(default_factory=list)
    # Stored articles whose year was inferred (a dateline without one): (file, date, how).
    inferred: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Prepared:
    """An article read and embedded elsewhere (qa/ingest/distributed.py): its chunks, made
    with the index's chunking, and their vectors, row for row. `ingest()` stores these
    vectors rather than embed the article again; it holds them only while the article waits
    in a batch, so they are let go as soon as it is stored, or found to need no storing."""

    article: Article
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if len(self.chunks) != len(self.vectors):
            raise ValueError(f"{self.article.id}: {len(self.chunks)} chunks but "
                             f"{len(self.vectors)} vectors")


@dataclass
class _Pending:
    article: Article
    digest: str
    origin: str
    updated: bool
    keys: list[int]
    demote: tuple[str, float] | None = None  # (stored id, similarity): it becomes our copy
    prepared: Prepared | None = None  # its chunks and vectors, when it came with them


def embedding_text(article: Article, chunk_text: str) -> str:
    """What the embedder sees for a chunk: the headline gives every chunk its story."""
    return f"{article.headline}\n{chunk_text}" if article.headline else chunk_text


def embed_articles(articles: Sequence[Article], params: ChunkParams, embedder: Embedder
                   ) -> list[tuple[list[Chunk], np.ndarray]]:
    """Chunks and their vectors for each article, embedded in one call."""
    chunked = [chunk_article(a, params) for a in articles]
    vectors = embedder.embed([embedding_text(a, c.text)
                              for a, cs in zip(articles, chunked, strict=True) for c in cs])
    out, at = [], 0
    for chunks in chunked:
        out.append((chunks, vectors[at : at + len(chunks)]))
        at += len(chunks)
    return out


def _embed_pending(pending: Sequence[_Pending], params: ChunkParams, embedder: Embedder
                   ) -> list[tuple[list[Chunk], np.ndarray]]:
    """Chunks and vectors for each pending article: those it came with, else embedded here
    (all of those in one call)."""
    plain = [p.article for p in pending if p.prepared is None]
    fresh = iter(embed_articles(plain, params, embedder) if plain else [])
    return [(list(p.prepared.chunks), p.prepared.vectors) if p.prepared is not None
            else next(fresh) for p in pending]


def remove_articles(index: Index, embedder: Callable[[], Embedder], article_ids: Sequence[str]
                    ) -> tuple[int, int]:
    """Remove these stored articles and copies, and save the vectors; returns (how many were
    removed, how many were replaced by a copy). A removed article's copy from another outlet
    takes its place, chunked and embedded here: `embedder()` is called only then (loading a
    model is slow), and must be the one the index was built with."""
    heirs = index.successors(article_ids)
    successors: dict[str, StoredArticle] = {}
    if heirs:
        model = embedder()
        embedded = embed_articles([c.article for c in heirs.values()], index.chunking, model)
        successors = {gone: StoredArticle(c.article, c.digest, c.origin, tuple(chunks), vectors,
                                          tuple(band_keys(c.article.text)))
                      for (gone, c), (chunks, vectors) in zip(heirs.items(), embedded,
                                                               strict=True)}
    removed = index.remove(article_ids, successors)
    index.commit_vectors()
    return removed, len(successors)


def _older(new: Article, stored: Article | None) -> bool:
    """Whether `new` is an earlier version of the stored article (both dated, same id)."""
    return bool(stored and new.published and stored.published
                and new.published < stored.published)


def _note_date(report: IngestReport, article: Article, origin: str) -> None:
    if article.published is None:
        report.undated.append(origin)
    elif article.extra.get("date_inferred"):
        report.inferred.append((origin, article.published, str(article.extra["date_inferred"])))


def file_mark(path: Path, fields: Mapping[str, str] | None) -> FileMark:
    stat = path.stat()
    return FileMark(path_text(path.resolve()), stat.st_size, stat.st_mtime_ns,
                    json.dumps(dict(fields or {}), sort_keys=True))


# A file's items, as `read_path` yields them; an article may come already embedded.
Reader = Callable[[Path, Mapping[str, str] | None],
                  Iterable[Article | Prepared | Rejected | Skipped]]


def ingest(paths: Iterable[Path], index: Index, embedder: Embedder, *, batch_size: int = 32,
           fields: Mapping[str, str] | None = None, rescan: bool = False,
           follow_links: bool = False, on_article: Callable[[str, int], None] | None = None,
           read: Reader = read_path) -> IngestReport:
    """Store the articles under `paths`; `on_article(file, chunks)` is called for each one.

    Each batch is committed on its own, so an interrupted run keeps what it finished and a
    re-run skips it. A file read to the end with nothing rejected is remembered (path, size,
    modification time) and not read again while it is unchanged, unless `rescan`. In a folder,
    links out of it are skipped unless `follow_links` (see `expand_paths`). A syndicated
    copy of a stored article is kept as its copy, not embedded again; the earliest published
    of the two is the one retrieval sees.

    `read` yields a file's items as `read_path` does, or articles already embedded
    (`Prepared`), whose vectors are stored as they are: qa/ingest/distributed.py passes one
    that hands over what Ray workers parsed and embedded, so both paths share every decision
    made here.
    """
    report = IngestReport()
    finished: list[FileMark] = []  # files read whole, marked done once their articles commit
    pending: list[_Pending] = []
    pending_keys: set[tuple[int, int]] = set()
    seen: dict[str, str] = {}
    added: set[str] = set()  # ids stored as new articles by this run
    params = index.chunking
    index.ensure_copy_keys(band_keys)

    def flush() -> None:
        if not pending:
            return
        embedded = _embed_pending(pending, params, embedder)
        index.write_batch(
            [StoredArticle(p.article, p.digest, p.origin, tuple(chunks), vectors, tuple(p.keys))
             for p, (chunks, vectors) in zip(pending, embedded, strict=True)],
            demote={p.article.id: p.demote for p in pending if p.demote},
            files=finished,
        )
        finished.clear()
        for p, (chunks, _) in zip(pending, embedded, strict=True):
            report.chunks += len(chunks)
            _note_date(report, p.article, p.origin)
            if p.updated:
                report.updated += 1
            else:
                report.added += 1
                added.add(p.article.id)
            if p.demote:  # a stored article is now this one's copy
                report.copies += 1
                if p.demote[0] in added:
                    report.added -= 1
            if on_article is not None:
                on_article(p.origin, len(chunks))
        pending.clear()
        pending_keys.clear()

    def place(item: Article, digest: str, origin: str, updated: bool,
              prepared: Prepared | None) -> None:
        """Queue `item` for embedding, or store it as a copy of an article already stored."""
        keys = band_keys(item.text)
        if pending_keys & set(enumerate(keys)):
            flush()  # it may copy an article still waiting: store that first, then compare
        match = best_copy_match(item, index.copy_candidates(keys))
        if match is not None and not preferred(item, match[0]):
            index.write_copy(item, digest, origin, match[0].id, match[1])
            report.copies += 1
            if on_article is not None:
                on_article(origin, 0)
            return
        demote = (match[0].id, match[1]) if match is not None else None
        pending.append(_Pending(item, digest, origin, updated, keys, demote, prepared))
        pending_keys.update(enumerate(keys))
        if len(pending) >= batch_size:
            flush()

    try:
        for entry in expand_paths(paths, follow_links):
            if isinstance(entry, Rejected):
                report.rejected.append(entry)
                continue
            if isinstance(entry, Skipped):
                report.skipped.append(entry)
                continue
            mark = file_mark(entry, fields)
            if not rescan and index.file_done(mark):
                report.files_unchanged += 1
                continue
            report.files += 1
            rejected = len(report.rejected)
            for item in read(entry, fields):
                if isinstance(item, Rejected):
                    report.rejected.append(item)
                    continue
                if isinstance(item, Skipped):
                    report.skipped.append(item)
                    continue
                prepared = item if isinstance(item, Prepared) else None  # brings its vectors
                if isinstance(item, Prepared):
                    item = item.article
                digest = content_hash(item)
                stored = index.stored_hash(item.id)
                if seen.get(item.id) == digest or (item.id not in seen and stored == digest):
                    report.unchanged += 1
                    if on_article is not None:
                        on_article(path_text(entry), 0)
                    continue
                if stored is not None and item.id not in seen and \
                        _older(item, index.stored_version(item.id)):
                    report.older += 1
                    continue
                # The same id twice in one run: the later version wins.
                was_pending = any(p.article.id == item.id for p in pending)
                if was_pending:
                    pending[:] = [p for p in pending if p.article.id != item.id]
                    pending_keys.clear()
                    pending_keys.update((b, k) for p in pending for b, k in enumerate(p.keys))
                updated = stored is not None or (item.id in seen and not was_pending)
                seen[item.id] = digest
                place(item, digest, path_text(entry), updated, prepared)
            if len(report.rejected) == rejected:  # a file with rejections is read every time
                finished.append(mark)
            if not pending:
                index.mark_files(finished)
                finished.clear()
        flush()
    finally:
        if not index.vectors_current():  # a run that stored nothing rewrites nothing
            index.commit_vectors()
    return report
