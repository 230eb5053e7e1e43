"""Ingest: read files, chunk, embed and store, incrementally and idempotently."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qa.chunking import chunk_article
from qa.embedders import Embedder
from qa.readers import Rejected, Skipped, content_hash, expand_paths, read_path
from qa.records import Article
from qa.store import Index


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0  # an article already stored under the same id, with new content
    unchanged: int = 0  # already stored as it is, or repeated in this run
    chunks: int = 0
    files: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def embedding_text(article: Article, chunk_text: str) -> str:
    """What the embedder sees for a chunk: the headline gives every chunk its story."""
    return f"{article.title}\n{chunk_text}" if article.title else chunk_text


def ingest(paths: Iterable[Path], index: Index, embedder: Embedder, *, batch_size: int = 32,
           fields: Mapping[str, str] | None = None,
           on_article: Callable[[str, int], None] | None = None) -> IngestReport:
    """Store the articles under `paths`; `on_article(file, chunks)` is called for each one.

    Each batch is committed on its own, so an interrupted run keeps what it finished and a
    re-run skips it.
    """
    report = IngestReport()
    pending: list[tuple[Article, str, str, bool]] = []
    seen: dict[str, str] = {}
    params = index.chunking

    def flush() -> None:
        if not pending:
            return
        chunked = [(a, h, o, u, chunk_article(a, params)) for a, h, o, u in pending]
        texts = [embedding_text(a, c.text) for a, _, _, _, cs in chunked for c in cs]
        vectors = embedder.embed(texts)
        items, at = [], 0
        for article, digest, origin, _, chunks in chunked:
            items.append((article, digest, origin, chunks, vectors[at : at + len(chunks)]))
            at += len(chunks)
        index.write_batch(items)
        for _, _, origin, updated, chunks in chunked:
            report.chunks += len(chunks)
            if updated:
                report.updated += 1
            else:
                report.added += 1
            if on_article is not None:
                on_article(origin, len(chunks))
        pending.clear()

    try:
        for entry in expand_paths(paths):
            if isinstance(entry, Rejected):
                report.rejected.append(entry)
                continue
            report.files += 1
            for item in read_path(entry, fields):
                if isinstance(item, Rejected):
                    report.rejected.append(item)
                    continue
                if isinstance(item, Skipped):
                    report.skipped.append(item)
                    continue
                digest = content_hash(item)
                stored = index.stored_hash(item.id)
                if seen.get(item.id) == digest or (item.id not in seen and stored == digest):
                    report.unchanged += 1
                    if on_article is not None:
                        on_article(str(entry), 0)
                    continue
                # The same id twice in one run: the later version wins.
                was_pending = any(p[0].id == item.id for p in pending)
                pending[:] = [p for p in pending if p[0].id != item.id]
                updated = stored is not None or (item.id in seen and not was_pending)
                seen[item.id] = digest
                pending.append((item, digest, str(entry), updated))
                if len(pending) >= batch_size:
                    flush()
        flush()
    finally:
        if not index.vectors_current():  # a run that stored nothing rewrites nothing
            index.commit_vectors()
    return report
