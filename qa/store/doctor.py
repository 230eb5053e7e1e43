"""`newsqa index doctor`: check that an index's parts agree, and repair what can be rebuilt.

The SQLite store is the source of truth; the FAISS file, the full-text table and the manifest's
counts are derived from it and can be rebuilt. Articles or chunks that are damaged in the store
itself are reported, never silently dropped. Whatever was edited or damaged, the doctor reports
it as a problem rather than failing on it.
"""

from __future__ import annotations

import filecmp
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.core.errors import STORE_DAMAGED_HINT
from qa.core.records import Article, content_hash
from qa.store.articles import insert_fts
from qa.store.feed import stored_generation
from qa.store.folder import PRECISIONS, VECTORS, leftover_temporaries
from qa.store.index import Index
from qa.store.vectors.faiss import FaissFile

_REINGEST = "remove them (`newsqa rm --id ID`) and ingest their files again"


@dataclass
class Checkup:
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    facts: dict[str, int] = field(default_factory=dict)


def _one(index: Index, sql: str) -> int:
    return int(index.conn.execute(sql).fetchone()[0])


def _ids(index: Index, sql: str, limit: int = 3) -> str:
    rows = index.conn.execute(sql + f" LIMIT {limit + 1}").fetchall()
    shown = ", ".join(str(r[0]) for r in rows[:limit])
    return shown + (", ..." if len(rows) > limit else "")


def check(index: Index, repair: bool = False) -> Checkup:
    result = Checkup()
    integrity = index.conn.execute("PRAGMA integrity_check").fetchone()[0]
    if integrity != "ok":
        result.problems.append(f"SQLite integrity check: {integrity} ({STORE_DAMAGED_HINT})")
    _unreadable(index, result, repair)
    # What is left unreadable has been reported: the other checks read it as best they can.
    strict, index.conn.text_factory = index.conn.text_factory, _lenient
    try:
        _check(index, result, repair)
    finally:
        index.conn.text_factory = strict
    return result


def _lenient(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


_TEXT_COLUMNS = ("id", "url", "title", "text", "published", "day", "source", "authors", "extra",
                 "content_hash", "origin", "added")


def _unreadable(index: Index, result: Checkup, repair: bool) -> None:
    """Stored articles and copies with text that is not UTF-8 (every answer that retrieves one
    would fail), and ones whose fields no longer hash to what was stored with them (edited or
    damaged in place). A repair sets the unreadable ones aside in a quarantine file."""
    unreadable: list[tuple[str, int]] = []
    altered: list[str] = []
    names: list[str] = []
    columns = ", ".join(f"CAST({c} AS BLOB)" for c in _TEXT_COLUMNS)
    for table in ("articles", "copies"):
        for rowid, *blobs in index.conn.execute(f"SELECT rowid, {columns} FROM {table}"):
            try:
                row = dict(zip(_TEXT_COLUMNS, (None if b is None else bytes(b).decode("utf-8")
                                               for b in blobs), strict=True))
            except UnicodeDecodeError:
                unreadable.append((table, rowid))
                names.append(bytes(blobs[0]).decode("utf-8", errors="backslashreplace"))
                continue
            try:
                authors = json.loads(row["authors"] or "")
            except ValueError:
                continue  # reported with the metadata
            article = Article(id=row["id"] or "", text=row["text"] or "", url=row["url"],
                              title=row["title"] or "", published=row["published"],
                              source=row["source"],
                              authors=tuple(authors) if isinstance(authors, list) else ())
            if content_hash(article) != row["content_hash"]:
                altered.append(row["id"] or "")
    for rowid, chunk_id in index.conn.execute("SELECT article_rowid, CAST(id AS BLOB) "
                                              "FROM chunks"):
        try:
            bytes(chunk_id).decode("utf-8")
        except UnicodeDecodeError:
            if ("articles", rowid) not in unreadable:
                unreadable.append(("articles", rowid))
                names.append(f"the article of chunk {bytes(chunk_id)!r}")
    if unreadable:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        result.problems.append(
            f"{len(unreadable)} stored articles or copies hold text that is not UTF-8 "
            f"({shown}; damaged bytes): every answer that retrieves one fails; `--repair` "
            "sets them aside in a quarantine file, and the next ingest of their files stores "
            "them again")
        if repair:
            file = index.set_aside(unreadable, "text that is not UTF-8")
            result.repaired.append(f"set {len(unreadable)} unreadable articles aside in "
                                   f"{file.name}")
    if altered:
        shown = ", ".join(altered[:3]) + (", ..." if len(altered) > 3 else "")
        result.problems.append(f"{len(altered)} stored articles no longer match the content "
                               f"hash stored with them: edited or damaged in place ({shown}: "
                               f"{_REINGEST})")


def _check(index: Index, result: Checkup, repair: bool) -> None:
    problems, repaired = result.problems, result.repaired
    counts = index.counts()
    result.facts.update(counts)
    result.facts["fts_rows"] = _one(index, "SELECT count(*) FROM chunks_fts")
    result.facts["copies"] = _one(index, "SELECT count(*) FROM copies")
    dim = _manifest_problems(index.manifest, problems)
    generation_ok = _generation(index, result, repair)

    orphans = _one(index, "SELECT count(*) FROM chunks c LEFT JOIN articles a "
                          "ON a.rowid = c.article_rowid WHERE a.rowid IS NULL")
    if orphans:
        problems.append(f"{orphans} chunks belong to no article")
        if repair:
            index.conn.execute("DELETE FROM chunks WHERE article_rowid NOT IN "
                               "(SELECT rowid FROM articles)")
            repaired.append("deleted the chunks that belong to no article")
    offsets = ("FROM chunks c JOIN articles a ON a.rowid = c.article_rowid WHERE c.start < 0 "
               "OR c.end <= c.start OR c.end > length(a.text)")
    bad_offsets = _one(index, f"SELECT count(*) {offsets}")
    if bad_offsets:
        problems.append(f"{bad_offsets} chunks have offsets outside their article's text "
                        f"(articles {_ids(index, f'SELECT DISTINCT a.id {offsets}')}: "
                        f"{_REINGEST})")
    bad_vectors = 0
    if dim is not None and (held := _stored_dim(index)) not in (None, dim):
        problems.append(f"the manifest says the embedder's dimension is {dim}, but every "
                        f"stored vector has dimension {held}: the manifest was edited or "
                        f"replaced; restore it (embedder dim {held}), or re-ingest into a new "
                        "--index")
        dim = None  # the vectors cannot be judged against a wrong dimension
    if dim is not None:
        sized = f"FROM chunks c LEFT JOIN articles a ON a.rowid = c.article_rowid WHERE " \
                f"length(c.vector) != {dim * np.dtype(np.float32).itemsize}"
        bad_vectors = _one(index, f"SELECT count(*) {sized}")
        if bad_vectors:
            problems.append(f"{bad_vectors} stored vectors do not have dimension {dim} "
                            f"(articles {_ids(index, f'SELECT DISTINCT a.id {sized}')}: "
                            f"{_REINGEST})")
    _metadata(index, problems)

    chunks = index.counts()["chunks"]
    if result.facts["fts_rows"] != chunks or _one(
            index, "SELECT count(*) FROM chunks_fts WHERE rowid NOT IN (SELECT rowid FROM chunks)"):
        problems.append(f"the full-text table has {result.facts['fts_rows']} rows for "
                        f"{chunks} chunks")
        if repair:
            _rebuild_fts(index)
            repaired.append("rebuilt the full-text table from the chunks")

    _leftovers(index, result, repair)
    if dim is None or not generation_ok:
        return  # without a dimension or a generation, the vectors cannot be judged
    manifest_counts = index.manifest.get("counts")
    vectors_problem = _vectors_problem(index, chunks, dim, checkable=not bad_vectors)
    if vectors_problem:
        problems.append(vectors_problem)
    if manifest_counts != index.counts() and not index.writer_busy():
        problems.append(f"the manifest counts {manifest_counts} differ from the store "
                        f"{index.counts()}")
    if repair and (vectors_problem or manifest_counts != index.counts()) and not bad_vectors:
        index.commit_vectors(full=True)
        repaired.append(f"rewrote {index.vector_store.uri if index.vector_store else VECTORS}"
                        " and the manifest from the store")


def _stored_dim(index: Index) -> int | None:
    """The one dimension all stored vectors share, if they share one and look like
    embeddings (unit length, as every embedder here makes them): then a manifest that says
    otherwise is wrong, not the vectors."""
    sizes = index.conn.execute("SELECT DISTINCT length(vector) FROM chunks LIMIT 2").fetchall()
    if len(sizes) != 1 or sizes[0][0] % 4:
        return None
    sample = [np.frombuffer(r[0], dtype=np.float32) for r in
              index.conn.execute("SELECT vector FROM chunks LIMIT 16")]
    with np.errstate(all="ignore"):  # bytes that are no vectors overflow, or are NaN
        norms = np.linalg.norm(np.vstack(sample).astype(np.float64), axis=1) if sample \
            else np.zeros(1)
        unit = bool(np.all(np.abs(norms - 1) < 0.01))
    return int(sizes[0][0]) // 4 if unit else None


def _manifest_problems(manifest: dict[str, Any], problems: list[str]) -> int | None:
    """Report the manifest's fields that are not what newsqa writes; return the embedder's
    dimension when it is a usable one."""
    embedder = manifest.get("embedder")
    dim = embedder.get("dim") if isinstance(embedder, dict) else None
    if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0 or \
            not isinstance(embedder, dict) or not isinstance(embedder.get("name"), str):
        problems.append(f"the manifest's embedder {embedder!r} is not a name and a dimension: "
                        "restore the manifest, or re-ingest into a new --index")
        dim = None
    precision = embedder.get("precision", "fp32") if isinstance(embedder, dict) else "fp32"
    if precision not in PRECISIONS:
        problems.append(f"the manifest's precision {precision!r} is not one of "
                        f"{', '.join(PRECISIONS)}: restore the manifest (the store's vectors "
                        "were embedded at one of these), or re-ingest into a new --index")
    chunking = manifest.get("chunking")
    if not (isinstance(chunking, dict) and set(chunking) == {"max_words", "overlap_sentences"}
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                    for v in chunking.values()) and chunking["max_words"] > 0):
        problems.append(f"the manifest's chunking {chunking!r} is not max_words and "
                        "overlap_sentences: restore the manifest, or re-ingest into a new "
                        "--index")
    return dim


def _generation(index: Index, result: Checkup, repair: bool) -> bool:
    """Whether the store's generation counter is a number (a repair makes it one again)."""
    value = stored_generation(index.conn)
    if value is None or str(value).isdigit():
        return True
    result.problems.append(f"the store's generation counter is {value!r}, not a number: the "
                           "store was edited; `--repair` resets it")
    if repair:
        written = index.manifest.get("generation")
        restart = (written if isinstance(written, int) and written >= 0 else 0) + 1
        with index.transaction():
            index.conn.execute("UPDATE meta SET value = ? WHERE key = 'generation'",
                               (str(restart),))
        result.repaired.append(f"set the store's generation to {restart}")
        return True
    return False


def _metadata(index: Index, problems: list[str]) -> None:
    """Articles (and copies) whose authors or other metadata are no longer JSON: they cannot
    be shown, so every answer that retrieves one would fail."""
    for table in ("articles", "copies"):
        broken = []
        for article_id, authors, extra in index.conn.execute(
                f"SELECT id, authors, extra FROM {table}"):
            try:
                if not isinstance(json.loads(authors), list) or \
                        not isinstance(json.loads(extra), dict):
                    broken.append(article_id)
            except (TypeError, ValueError):
                broken.append(article_id)
        if broken:
            shown = ", ".join(broken[:3]) + (", ..." if len(broken) > 3 else "")
            problems.append(f"{len(broken)} {table} have unreadable authors or metadata "
                            f"({shown}: {_REINGEST})")


def _leftovers(index: Index, result: Checkup, repair: bool) -> None:
    """Temporary files of a write that was killed before it renamed them into place: litter
    (as big as the vectors) but never read. A repair holds the writer's lock, so no write of
    another process can be under way, and they can go."""
    for path in leftover_temporaries(index.path):
        size = path.stat().st_size if path.is_file() else 0
        result.problems.append(f"{path.name} ({size:,} bytes) is a temporary file left by an "
                               "interrupted write (unless a newsqa command is writing this "
                               "index now); `--repair` deletes it")
        if repair:
            path.unlink(missing_ok=True)
            result.repaired.append(f"deleted {path.name}")


def _vectors_problem(index: Index, chunks: int, dim: int, checkable: bool) -> str | None:
    """What is wrong with `vectors.faiss`, if anything. Vectors written at an older generation
    than the store's are the mark of a write stopped between committing to the store and saving
    the vectors (a kill, a crash): nothing is lost, and they are told apart from damage."""
    if index.vector_store is not None:
        return _vector_store_problem(index, chunks)
    written, current = index.manifest.get("generation"), index.generation()
    if not isinstance(written, int) or isinstance(written, bool) or written > current:
        return (f"the manifest says the vectors were written at generation {written!r}, but "
                f"the store is at generation {current}: the manifest or the store was "
                "replaced or edited")
    if written < current and index.writer_busy():
        return (f"an ingest (or another newsqa writer) is running on this index: {VECTORS} is "
                f"saved when it finishes (generation {written}, the store is at {current}); "
                "run doctor again then")
    if written < current:
        return (f"{VECTORS} lags the store: it was last written at generation {written} and "
                f"the store is at {current} (a write stopped before saving the vectors; "
                "newsqa rebuilds them from the store when it opens the index, and `--repair` "
                "or the next ingest saves them)")
    path = index.path / VECTORS
    if not path.exists():
        # A new index stopped before its first write has nothing to search: nothing is missing.
        return None if chunks == 0 else f"{VECTORS} is missing"
    if not checkable:
        return None
    if isinstance(index.vectors, FaissFile) and (problem := index.vectors.recent_problem()):
        return problem
    if not path.is_file():
        return f"{VECTORS} is unreadable (not a file)"
    # Compared byte for byte with what the store's vectors make, never parsed: a size field
    # edited in the file would have FAISS allocate whatever it says before failing.
    try:
        same, size = _matches_store(index, path, dim)
    except OSError as exc:
        return f"{VECTORS} is unreadable ({exc.strerror or exc.__class__.__name__})"
    # An inverted file updated in place since it was trained is not what a fresh build makes.
    if same or (isinstance(index.vectors, FaissFile) and index.vectors.written_for(index.feed)):
        return None
    held = path.stat().st_size
    detail = f"{held:,} bytes where the store's {chunks} vectors of dimension {dim} make " \
             f"{size:,}" if held != size else "the same size"
    return (f"{VECTORS} does not hold the store's vectors ({detail}): it was cut short, "
            "altered or replaced; `--repair` rewrites it from the store")


def _vector_store_problem(index: Index, chunks: int) -> str | None:
    """What is wrong with the vector store the index uses (see
    qa/store/vectors/milvus.py), if anything."""
    assert index.vector_store is not None
    uri, held = index.vector_store.uri, index.vector_store.synced(index.feed)
    if held is None:
        return f"the vector store {uri} does not hold this index; `--repair` fills it"
    if held != index.generation():
        return (f"the vector store {uri} holds generation {held} and the store is at "
                f"{index.generation()}; `--repair` brings it up to date")
    stored = index.vector_store.describe().get("chunks")
    if stored != chunks:
        return (f"the vector store {uri} holds {stored} vectors for {chunks} chunks; "
                "`--repair` writes it afresh")
    return None


def _matches_store(index: Index, path: Path, dim: int) -> tuple[bool, int]:
    """Whether `path` is, byte for byte, the file `Index.commit_vectors` writes from the
    store's vectors (written aside and compared a block at a time, so memory holds one copy of
    the vectors); and that file's size."""
    import faiss

    vectors = index.rebuild_vectors()
    with tempfile.TemporaryDirectory() as folder:
        expected = Path(folder) / VECTORS
        faiss.write_index(vectors, str(expected))
        size = expected.stat().st_size
        return path.stat().st_size == size and filecmp.cmp(path, expected, shallow=False), size


def _rebuild_fts(index: Index) -> None:
    with index.transaction():
        index.conn.execute("DELETE FROM chunks_fts")
        rows = index.conn.execute(
            "SELECT c.rowid, a.title, a.url, substr(a.text, c.start + 1, c.end - c.start) "
            "FROM chunks c JOIN articles a ON a.rowid = c.article_rowid").fetchall()
        insert_fts(index.conn, rows)
