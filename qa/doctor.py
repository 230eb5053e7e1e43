"""`newsqa index doctor`: check that an index's parts agree, and repair what can be rebuilt.

The SQLite store is the source of truth; the FAISS file, the full-text table and the manifest's
counts are derived from it and can be rebuilt. Articles or chunks that are damaged in the store
itself are reported, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa.store import VECTORS, Index


@dataclass
class Checkup:
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    facts: dict[str, int] = field(default_factory=dict)


def _one(index: Index, sql: str) -> int:
    return int(index.conn.execute(sql).fetchone()[0])


def check(index: Index, repair: bool = False) -> Checkup:
    result = Checkup()
    problems, repaired = result.problems, result.repaired
    integrity = index.conn.execute("PRAGMA integrity_check").fetchone()[0]
    if integrity != "ok":
        problems.append(f"SQLite integrity check: {integrity}")
    counts = index.counts()
    result.facts.update(counts)
    result.facts["fts_rows"] = _one(index, "SELECT count(*) FROM chunks_fts")

    orphans = _one(index, "SELECT count(*) FROM chunks c LEFT JOIN articles a "
                          "ON a.rowid = c.article_rowid WHERE a.rowid IS NULL")
    if orphans:
        problems.append(f"{orphans} chunks belong to no article")
        if repair:
            index.conn.execute("DELETE FROM chunks WHERE article_rowid NOT IN "
                               "(SELECT rowid FROM articles)")
            repaired.append("deleted the chunks that belong to no article")
    bad_offsets = _one(index, "SELECT count(*) FROM chunks c JOIN articles a ON "
                              "a.rowid = c.article_rowid WHERE c.start < 0 OR c.end <= c.start "
                              "OR c.end > length(a.text)")
    if bad_offsets:
        problems.append(f"{bad_offsets} chunks have offsets outside their article's text "
                        "(re-ingest those articles)")
    bad_vectors = _one(index, f"SELECT count(*) FROM chunks WHERE length(vector) != "
                              f"{index.dim * np.dtype(np.float32).itemsize}")
    if bad_vectors:
        problems.append(f"{bad_vectors} stored vectors do not have dimension {index.dim} "
                        "(re-ingest those articles)")

    chunks = index.counts()["chunks"]
    if result.facts["fts_rows"] != chunks or _one(
            index, "SELECT count(*) FROM chunks_fts WHERE rowid NOT IN (SELECT rowid FROM chunks)"):
        problems.append(f"the full-text table has {result.facts['fts_rows']} rows for "
                        f"{chunks} chunks")
        if repair:
            _rebuild_fts(index)
            repaired.append("rebuilt the full-text table from the chunks")

    manifest_counts = index.manifest.get("counts")
    vectors_ok = _vectors_agree(index, chunks)
    if not vectors_ok:
        problems.append(f"{VECTORS} is missing, unreadable or older than the store")
    if manifest_counts != index.counts():
        problems.append(f"the manifest counts {manifest_counts} differ from the store "
                        f"{index.counts()}")
    if repair and (not vectors_ok or manifest_counts != index.counts()) and not bad_vectors:
        index.commit_vectors()
        repaired.append(f"rewrote {VECTORS} and the manifest from the store")
    return result


def _vectors_agree(index: Index, chunks: int) -> bool:
    import faiss

    if not index.vectors_current():
        return False
    try:
        vectors = faiss.read_index(str(index.path / VECTORS))
    except RuntimeError:
        return False
    return bool(vectors.ntotal == chunks and vectors.d == index.dim)


def _rebuild_fts(index: Index) -> None:
    with index.transaction():
        index.conn.execute("DELETE FROM chunks_fts")
        index.conn.execute(
            "INSERT INTO chunks_fts (rowid, title, body) SELECT c.rowid, a.title, "
            "substr(a.text, c.start + 1, c.end - c.start) FROM chunks c "
            "JOIN articles a ON a.rowid = c.article_rowid"
        )
