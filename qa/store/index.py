"""The on-disk index: `indexes/<name>/` with a manifest, a SQLite metadata store and FAISS vectors.

SQLite is the source of truth: articles, chunks, their vectors (float32 blobs) and a full-text
(BM25) table, all written in one transaction per batch, so a crash at any moment leaves the
previous committed state. `vectors.faiss` is a derived copy for fast search, written to a
temporary file and renamed into place, and stamped with the store's generation in the manifest;
if the two disagree (a crash between them), the vectors are rebuilt from SQLite on open.
Nothing here uses pickle: SQLite rows, JSON and FAISS's own binary format only.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import signal
import sqlite3
import stat
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.core.errors import STORE_DAMAGED_HINT, NewsqaError
from qa.core.records import Article, Carrier, Chunk, Filters
from qa.core.text import STOPWORDS, tokens
from qa.ingest.chunking import ChunkParams
from qa.store.locks import LOCK, folder_busy, lock_folder

FORMAT_VERSION = 1
PRECISIONS = ("fp32", "int8")  # what an index's vectors may be embedded at
MANIFEST = "manifest.json"
DATABASE = "store.sqlite"
VECTORS = "vectors.faiss"
TMP_MARK = ".tmp-"  # in the names of files being written (see _write_atomic)
_WRITTEN_WHOLE = (VECTORS, MANIFEST)  # the files _write_atomic writes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    url TEXT,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    published TEXT,
    day TEXT,
    source TEXT,
    authors TEXT NOT NULL,
    extra TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    origin TEXT,
    added TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_day ON articles(day);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    article_rowid INTEGER NOT NULL REFERENCES articles(rowid) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_rowid);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, body, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""
# Added after the first release, and to older stores when they are opened. Syndicated copies (see
# qa/ingest/copies.py): the LSH keys of each stored article, and the copies folded into it, kept
# whole so one can take its place if it is removed. Files: those read to the end with nothing
# rejected, by path, size and modification time, so an unchanged file is not read again.
_COPIES_SCHEMA = """
CREATE TABLE IF NOT EXISTS bands (
    band INTEGER NOT NULL,
    key INTEGER NOT NULL,
    article_rowid INTEGER NOT NULL REFERENCES articles(rowid) ON DELETE CASCADE,
    PRIMARY KEY (band, key, article_rowid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bands_article ON bands(article_rowid);
CREATE TABLE IF NOT EXISTS copies (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    canonical_rowid INTEGER NOT NULL REFERENCES articles(rowid),
    url TEXT,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    published TEXT,
    day TEXT,
    source TEXT,
    authors TEXT NOT NULL,
    extra TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    origin TEXT,
    similarity REAL NOT NULL,
    added TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS copies_canonical ON copies(canonical_rowid);
CREATE TABLE IF NOT EXISTS files (
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    fields TEXT NOT NULL,
    done TEXT NOT NULL,
    PRIMARY KEY (path, size, mtime_ns, fields)
) WITHOUT ROWID;
"""
# Added with vector stores other than the index's own FAISS file (see qa/store/vectors/milvus.py),
# and to older stores when they are opened. Triggers note, per committed generation, which articles
# changed in a way a vector store must follow (chunks added or removed, outlet or date changed, a
# copy gained or lost) and which chunk rowids went away, so a store is brought up to date from the
# changes since the generation it holds rather than rebuilt.
_GENERATION_NEXT = ("coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'generation'),"
                    " 0) + 1")
_CHANGES_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS changes (
    article_rowid INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_generation ON changes(generation);
CREATE TABLE IF NOT EXISTS removed_chunks (
    chunk_rowid INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS removed_chunks_generation ON removed_chunks(generation);
CREATE TRIGGER IF NOT EXISTS chunk_added AFTER INSERT ON chunks BEGIN
    INSERT OR REPLACE INTO changes VALUES (NEW.article_rowid, {_GENERATION_NEXT});
END;
CREATE TRIGGER IF NOT EXISTS chunk_removed AFTER DELETE ON chunks BEGIN
    INSERT OR REPLACE INTO changes VALUES (OLD.article_rowid, {_GENERATION_NEXT});
    INSERT OR REPLACE INTO removed_chunks VALUES (OLD.rowid, {_GENERATION_NEXT});
END;
CREATE TRIGGER IF NOT EXISTS article_moved AFTER UPDATE OF day, source ON articles BEGIN
    INSERT OR REPLACE INTO changes VALUES (NEW.rowid, {_GENERATION_NEXT});
END;
CREATE TRIGGER IF NOT EXISTS copy_added AFTER INSERT ON copies BEGIN
    INSERT OR REPLACE INTO changes VALUES (NEW.canonical_rowid, {_GENERATION_NEXT});
END;
CREATE TRIGGER IF NOT EXISTS copy_removed AFTER DELETE ON copies BEGIN
    INSERT OR REPLACE INTO changes VALUES (OLD.canonical_rowid, {_GENERATION_NEXT});
END;
CREATE TRIGGER IF NOT EXISTS copy_moved AFTER UPDATE OF canonical_rowid ON copies BEGIN
    INSERT OR REPLACE INTO changes VALUES (OLD.canonical_rowid, {_GENERATION_NEXT});
    INSERT OR REPLACE INTO changes VALUES (NEW.canonical_rowid, {_GENERATION_NEXT});
END;
"""
_ARTICLE_COLUMNS = ("id, url, title, text, published, day, source, authors, extra, "
                    "content_hash, origin, added")


# (absolute path, size, modification time in ns, the JSONL field mapping as JSON)
FileMark = tuple[str, int, int, str]


class VectorStore(Protocol):
    """Where an index's vectors are searched when not in its own FAISS file: a database
    server that follows the store (see qa/store/vectors/milvus.py). SQLite stays the source
    of truth."""

    uri: str

    def synced(self, index: Index) -> int | None:
        """The generation of `index` this store holds, or None if it holds another index or
        nothing yet."""
        ...

    def sync(self, index: Index, *, full: bool = False) -> int:
        """Bring the store up to the committed state of `index` (with `full`, write it
        afresh rather than apply the changes since the generation it holds); returns the
        number of chunks written."""
        ...

    def search(self, index: Index, query: np.ndarray, k: int, filters: Filters
               ) -> list[tuple[int, float]]:
        """(chunk rowid, cosine) of the `k` chunks nearest `query` that pass `filters`."""
        ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class EmbedderSpec:
    name: str
    dim: int
    # How the vectors are computed (int8 or fp32): recorded when an index is created, so that
    # later writes match (see `Index.precision`); not part of the compatibility check.
    precision: str = "fp32"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


MAX_INDEX_NAME_BYTES = 100  # file systems allow 255 bytes a name; a name is typed, and shown


def excerpt_of(name: str, limit: int = 60) -> str:
    return repr(name[:limit]) + (f"... ({len(name):,} characters)" if len(name) > limit else "")


def index_folder(index_dir: Path, name: str) -> Path:
    """The folder of the index called `name` in `index_dir`. A name is one folder name, never
    a path: `..`, `/abs`, `a/b`, `.` or "" would put the store outside `index_dir` (or in it)."""
    if not name.strip() or name in (".", "..") or any(c in name for c in "/\\") or \
            any(ord(c) < 32 or ord(c) == 127 for c in name) or \
            len(name.encode("utf-8", "surrogatepass")) > MAX_INDEX_NAME_BYTES:
        raise NewsqaError(f"--index {excerpt_of(name)} is not an index name: a name is one "
                          "folder name inside the index dir, without / or \\, not . or .., "
                          f"and at most {MAX_INDEX_NAME_BYTES} bytes",
                          hint="write --index news (and --index-dir PATH to choose the folder "
                               "that holds the indexes)")
    return index_dir / name


def leftover_temporaries(folder: Path) -> list[Path]:
    """The temporary files of writes killed before they renamed them into place
    (`.vectors.faiss.tmp-PID`, `.manifest.json.tmp-PID`), and no other file: a user's own
    `.draft.tmp-2024` is not newsqa's to delete."""
    found = []
    for name in _WRITTEN_WHOLE:
        prefix = f".{name}{TMP_MARK}"
        found += [p for p in folder.glob(f"{prefix}*")
                  if p.name[len(prefix):].isdigit() and p.is_file() and not p.is_symlink()]
    return sorted(found)


def _write_atomic(path: Path, data: bytes | Callable[[Path], None]) -> None:
    """Write `data` (or let `data(tmp)` write the file) beside `path`, sync it and rename it
    into place, so a reader sees the old file or the new one, never half of one."""
    assert path.name in _WRITTEN_WHOLE, "leftover_temporaries finds only these"
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        if callable(data):
            data(tmp)
        else:
            tmp.write_bytes(data)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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


def _filter_sql(filters: Filters) -> tuple[str, list[Any]]:
    """SQL conditions over `articles a`: the article, or one of its copies, passes every
    filter. Articles with no date never pass a date filter."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.since:
        clauses.append("{t}.day >= ?")
        params.append(filters.since)
    if filters.until:
        clauses.append("{t}.day <= ?")
        params.append(filters.until)
    if filters.source:
        clauses.append("lower({t}.source) LIKE ? ESCAPE '\\'")
        escaped = filters.source.lower().replace("\\", "\\\\").replace("%", "\\%")
        params.append("%" + escaped.replace("_", "\\_") + "%")
    if not clauses:
        return "1", []
    condition = " AND ".join(clauses)
    return (f"(({condition.format(t='a')}) OR EXISTS (SELECT 1 FROM copies k WHERE "
            f"k.canonical_rowid = a.rowid AND {condition.format(t='k')}))"), params + params


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


MAX_MANIFEST_BYTES = 1024 * 1024  # the manifest newsqa writes is under 1 KB


def not_a_file(path: Path) -> str | None:
    """Why `path` (if it exists) cannot be one of an index's files: a FIFO would make the
    reader wait forever and a device (a link to /dev/zero) never ends. None for a regular file
    or a missing one."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc.__class__.__name__})"
    if stat.S_ISREG(mode):
        return None
    return "is a folder" if stat.S_ISDIR(mode) else "is not a regular file (a FIFO, a device " \
        "or a socket)"


def read_small_file(path: Path, limit: int) -> bytes:
    """A regular file of at most `limit` bytes, read without waiting on a FIFO (opened
    non-blocking and checked before reading) and without reading past the limit. Raises
    OSError (ValueError for a file that is not regular or is too big)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file (a FIFO, a device or a socket)")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"over {limit:,} bytes")
    return data


def _file_digest(path: Path) -> str:
    """SHA-256 of a file, read in blocks: the vectors file is trusted only if it is the one
    this index wrote (an older index, without a digest, is trusted on size alone)."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return ""


class UnreadableText(NewsqaError):
    """Text in the store that is not UTF-8 (a flipped byte, an edit): raised where it is read,
    instead of sqlite3's error, which quotes the text."""


def _stored_text(database: Path, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableText(
            f"the index store {database} holds text that is not UTF-8 (a damaged byte or an "
            "edit); the article that holds it cannot be shown",
            hint="`newsqa index doctor` names it, and `newsqa index doctor --repair` sets it "
                 "aside") from None


def _damaged(path: Path | None, what: str) -> NewsqaError:
    where = f"the index at {path}" if path else "the index"
    return NewsqaError(f"{where} is damaged: {what}",
                       hint="run `newsqa index doctor` to see what is wrong; re-ingest into a "
                            "new --index if the store itself is damaged")


def _missing(path: Path) -> NewsqaError:
    """No index at `path`: where that is (a relative index folder is relative to the working
    folder), the indexes its folder does hold, and how to point at the right one."""
    folder = path.parent
    here = sorted(p.name for p in folder.iterdir() if (p / MANIFEST).is_file()) \
        if folder.is_dir() else []
    where = f"no index at {path.absolute()}"
    if not path.is_absolute():
        where += f" ({path} in the working folder {Path.cwd()})"
    if here:
        return NewsqaError(where, hint=f"{folder} holds {', '.join(here)}: pick one with "
                           "--index NAME, or make this one with `newsqa ingest PATH`")
    return NewsqaError(where, hint="if you ingested from another folder, point at its indexes "
                       "with --index-dir DIR or NEWSQA_INDEX_DIR=DIR; else make one with "
                       "`newsqa ingest PATH`")


def fts_query(text: str) -> str | None:
    """An FTS5 OR-query of the content words of `text`, each quoted so none is an operator."""
    words = dict.fromkeys(t for t in tokens(text) if t not in STOPWORDS)
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


class Index:
    """One index directory, opened for reading or (holding its lock) for writing."""

    def __init__(self, path: Path, conn: sqlite3.Connection, manifest: dict[str, Any],
                 lock: Any = None) -> None:
        self.path = path
        self.conn = conn
        self.manifest = manifest
        self._lock = lock
        self._vectors: Any = None  # faiss index, loaded on first search
        self._vectors_generation = -1  # the store's generation when they were loaded
        self.vector_store: VectorStore | None = None  # None: the FAISS file (see `attach`)

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
                raise _missing(path)
            path.mkdir(parents=True, exist_ok=True)
        lock = cls._take_lock(path) if write else None
        if lock is not None:  # a writer killed half-way through a file leaves its temporary
            for leftover in leftover_temporaries(path):
                leftover.unlink(missing_ok=True)
        try:
            manifest = cls._read_manifest(manifest_path) if manifest_path.exists() else None
            if manifest is None:
                assert embedder is not None
                manifest = {
                    "format_version": FORMAT_VERSION,
                    "embedder": {"name": embedder.name, "dim": embedder.dim,
                                 "precision": embedder.precision},
                    "chunking": (chunking or ChunkParams()).as_dict(),
                    "counts": {"articles": 0, "chunks": 0},
                    "generation": 0,
                    "created": _now(),
                    "updated": _now(),
                }
            if embedder is not None:
                cls._check_embedder(path, manifest, embedder)
            conn = cls._connect(path, manifest, create=not manifest_path.exists(), write=write)
            index = cls(path, conn, manifest, lock)
            if write and not manifest_path.exists():
                index._save_manifest()
            return index
        except BaseException:
            if lock is not None:
                lock.close()
            raise

    @staticmethod
    def _connect(path: Path, manifest: dict[str, Any], *, create: bool, write: bool
                 ) -> sqlite3.Connection:
        """The store, which must exist unless the index is being created; a missing or
        damaged store is an error that names `doctor`, never an empty index in its place."""
        database = path / DATABASE
        for name in (DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm"):
            if (problem := not_a_file(path / name)) is not None:
                raise NewsqaError(f"{path / name} {problem}, so the index cannot be opened",
                                  hint="move it away; re-ingest into a new --index if the "
                                       "store is lost")
        if not create and not database.exists():
            raise NewsqaError(f"the index at {path} has a manifest but no {DATABASE}: its "
                              "articles are lost", hint="re-ingest into a new --index")
        try:
            conn = Index._sqlite(database, read_only_folder=not write and not create
                                 and not os.access(path, os.W_OK))
            if create:
                # One transaction, which may run again: a creation killed after it and before
                # the manifest was written left an empty store, made again here.
                conn.executescript(
                    "BEGIN IMMEDIATE;" + _SCHEMA + _COPIES_SCHEMA + _CHANGES_SCHEMA
                    + "INSERT OR IGNORE INTO meta (key, value) VALUES "
                    f"('index_id', '{uuid.uuid4().hex}'), ('changes_from', '0'); COMMIT;")
                stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
                if stored:
                    conn.close()
                    raise NewsqaError(
                        f"{database} holds {stored} articles but the index has no manifest "
                        f"({MANIFEST}), so the embedder of its vectors is unknown",
                        hint="put the manifest back from a backup, or re-ingest into a new "
                             "--index")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            if exc.sqlite_errorname.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
                raise NewsqaError(f"{database} is not a readable SQLite store ({exc})",
                                  hint=STORE_DAMAGED_HINT) from exc
            raise  # a full disk, a folder that cannot be written: see qa.core.errors

        if not {"articles", "chunks", "chunks_fts", "meta"} <= tables:
            conn.close()
            raise NewsqaError(f"{database} lacks the newsqa tables",
                              hint="re-ingest into a new --index")
        if not {"bands", "copies", "files"} <= tables:
            conn.executescript(_COPIES_SCHEMA)
        if write and "changes" not in tables:  # an older store: changes are noted from now on
            conn.executescript(
                "BEGIN IMMEDIATE;" + _CHANGES_SCHEMA
                + "INSERT OR IGNORE INTO meta (key, value) VALUES ('index_id', "
                f"'{uuid.uuid4().hex}'); INSERT OR REPLACE INTO meta (key, value) SELECT "
                "'changes_from', coalesce((SELECT value FROM meta WHERE key = 'generation'), "
                "'0'); COMMIT;")
        return conn

    @staticmethod
    def _sqlite(database: Path, read_only_folder: bool) -> sqlite3.Connection:
        """A connection to the store. In a folder nobody can write (a read-only mount, a
        backup), SQLite cannot make the files its WAL mode shares between processes; as no
        process can write there either, the store is opened as immutable."""
        if read_only_folder:
            wal = database.with_name(f"{database.name}-wal")
            if wal.exists() and wal.stat().st_size:
                raise NewsqaError(f"{wal} holds writes not yet merged into the store, which "
                                  "cannot be done in a folder that cannot be written",
                                  hint="copy the index folder somewhere writable and use that "
                                       "(--index-dir)")
            conn = sqlite3.connect(f"{database.resolve().as_uri()}?immutable=1", uri=True,
                                   isolation_level=None)
        else:
            conn = sqlite3.connect(database, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.text_factory = functools.partial(_stored_text, database)
        conn.execute("PRAGMA foreign_keys = ON")
        if not read_only_folder:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        return conn

    def writer_busy(self) -> bool:
        """Whether another process is writing this index now (holding its lock)."""
        return self._lock is None and folder_busy(self.path)

    @staticmethod
    def _take_lock(path: Path) -> Any:
        return lock_folder(path, f"another newsqa process is writing {path}",
                           hint="wait for that ingest to finish, then run this again")

    @staticmethod
    def _read_manifest(path: Path) -> dict[str, Any]:
        try:
            data = read_small_file(path, MAX_MANIFEST_BYTES)
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else exc
            raise NewsqaError(f"the index manifest {path} cannot be read: {why}",
                              hint="put the manifest back from a backup (or move this one "
                                   "away and run `newsqa index doctor`)") from exc
        try:
            manifest = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, a huge number
            raise NewsqaError(
                f"the index manifest {path} is unreadable ({exc.__class__.__name__}): it names "
                "the embedder of the stored vectors, so neither newsqa nor doctor can use the "
                "index without it",
                hint="put manifest.json back from a backup; else re-ingest the files into a new "
                     "--index (and delete this one)",
            ) from exc
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            raise NewsqaError(
                f"{path} is not a newsqa index of format {FORMAT_VERSION}",
                hint="rebuild it with `newsqa ingest` into a new --index",
            )
        return manifest

    @staticmethod
    def _check_embedder(path: Path, manifest: dict[str, Any], embedder: EmbedderSpec) -> None:
        built = manifest.get("embedder") or {}
        if built.get("name") != embedder.name or built.get("dim") != embedder.dim:
            raise NewsqaError(
                f"the index at {path} was built with embedder {built.get('name')} "
                f"(dim {built.get('dim')}), not {embedder.name} (dim {embedder.dim})",
                hint="use the embedder it was built with, or ingest into a new --index",
            )

    def check_embedder(self, embedder: EmbedderSpec) -> None:
        """Refuse an embedder other than the one the index was built with."""
        self._check_embedder(self.path, self.manifest, embedder)

    @staticmethod
    def exists(path: Path) -> bool:
        return (path / MANIFEST).is_file()

    def discard(self) -> None:
        """Close the index and delete its files (not its folder): for an index this process
        made and stored nothing in. They are deleted while the lock is still held, so no other
        writer can have begun meanwhile."""
        if self._lock is None:
            raise ValueError("discarding an index needs its write lock")
        if self.vector_store is not None:
            self.vector_store.close()
            self.vector_store = None
        self.conn.close()
        for name in (MANIFEST, DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm", VECTORS):
            (self.path / name).unlink(missing_ok=True)
        (self.path / LOCK).unlink(missing_ok=True)
        self._lock.close()
        self._lock = None

    def close(self) -> None:
        if self.vector_store is not None:
            self.vector_store.close()
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
    def chunking(self) -> ChunkParams:
        try:
            return ChunkParams(**self.manifest["chunking"])
        except (TypeError, KeyError):
            raise _damaged(self.path, "its manifest's chunking settings are not newsqa's"
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
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        try:
            return int(row[0]) if row else 0
        except (TypeError, ValueError):
            raise _damaged(self.path, "its generation counter is not a number") from None

    def counts(self) -> dict[str, int]:
        articles = self.conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return {"articles": int(articles), "chunks": int(chunks)}

    # --- writing ---------------------------------------------------------------------------

    def stored_hash(self, article_id: str) -> str | None:
        """The content hash stored under `article_id`, as an article or as a copy."""
        for table in ("articles", "copies"):
            row = self.conn.execute(
                f"SELECT content_hash FROM {table} WHERE id = ?", (article_id,)
            ).fetchone()
            if row:
                return str(row[0])
        return None

    def stored_version(self, article_id: str) -> Article | None:
        """The article or copy stored under `article_id`."""
        return self.article(article_id) or self.copy(article_id)

    def write_batch(self, items: Sequence[tuple[Article, str, str | None, list[Chunk], np.ndarray]],
                    demote: Mapping[str, tuple[str, float]] | None = None,
                    files: Sequence[FileMark] = (),
                    keys: Mapping[str, Sequence[int]] | None = None) -> None:
        """Store (article, content hash, origin, chunks, vectors) tuples in one transaction,
        replacing any stored article or copy with the same id. `demote` maps an id in `items`
        to (the id of a stored article, similarity): that article becomes a copy of it.
        `files` are marked as read whole (see `file_done`) in the same transaction. `keys` are
        articles' LSH keys when the caller has them already (else they are computed)."""
        self._check_writable()
        with self.transaction():
            for article, digest, origin, chunks, vectors in items:
                rowid = self._put_article(article, digest, origin, chunks, vectors,
                                          (keys or {}).get(article.id))
                if demote and article.id in demote:
                    old_id, similarity = demote[article.id]
                    self._fold_into(old_id, rowid, similarity)
            self._mark_files(files)
            self._bump_generation()
        self._vectors = None

    def file_done(self, mark: FileMark) -> bool:
        """Whether this file, as it is now, was read to the end and everything in it stored."""
        return self.conn.execute(
            "SELECT 1 FROM files WHERE path = ? AND size = ? AND mtime_ns = ? AND fields = ?",
            mark).fetchone() is not None

    def mark_files(self, files: Sequence[FileMark]) -> None:
        self._check_writable()
        if files:
            with self.transaction():
                self._mark_files(files)

    def _mark_files(self, files: Sequence[FileMark]) -> None:
        for path, *_ in files:
            self.conn.execute("DELETE FROM files WHERE path = ?", (path,))
        self.conn.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?)",
                              [(*mark, _now()) for mark in files])

    def write_copy(self, article: Article, digest: str, origin: str | None, canonical_id: str,
                   similarity: float) -> None:
        """Store `article` as a copy of the stored article `canonical_id`: no chunks, no
        vectors, only the record (and `canonical_id` remembers it carried the story)."""
        self._check_writable()
        with self.transaction():
            canonical = self._rowid(canonical_id)
            if canonical is None:
                raise ValueError(f"no stored article {canonical_id}")
            if self._rowid(article.id) is not None:  # an article of its own until now
                self._fold_into(article.id, canonical, similarity)
            self.conn.execute("DELETE FROM copies WHERE id = ?", (article.id,))
            self._insert_copy(article, digest, origin, canonical, similarity)
            self._bump_generation()
        self._vectors = None

    def copy_candidates(self, keys: Sequence[int], limit: int = 50) -> list[Article]:
        """Stored articles sharing an LSH band with these keys (see qa/ingest/copies.py)."""
        if not keys:
            return []
        match = " OR ".join("(b.band = ? AND b.key = ?)" for _ in keys)
        params: list[Any] = [v for band, key in enumerate(keys) for v in (band, key)]
        rows = self.conn.execute(
            f"SELECT a.* FROM articles a WHERE a.rowid IN (SELECT b.article_rowid FROM bands b "
            f"WHERE {match}) LIMIT ?", [*params, limit],
        ).fetchall()
        return [self._article(r) for r in rows]

    def ensure_copy_keys(self, batch: int = 500) -> int:
        """Give every stored article its LSH keys (a store made before copies were recognised
        lacks them); returns how many articles were keyed."""
        from qa.ingest.copies import band_keys

        if self._meta("copy_keys") == "1":
            return 0
        self._check_writable()
        done, last = 0, 0
        while rows := self.conn.execute(
                "SELECT rowid, text FROM articles WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (last, batch)).fetchall():
            with self.transaction():
                for rowid, text in rows:
                    self.conn.execute("DELETE FROM bands WHERE article_rowid = ?", (rowid,))
                    self._insert_keys(rowid, band_keys(text))
            done += len(rows)
            last = rows[-1][0]
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('copy_keys', '1')")
        return done

    def successors(self, article_ids: Sequence[str]) -> dict[str, tuple[Article, str, str | None]]:
        """For each stored article in `article_ids` that has copies not being removed with it,
        the copy that takes its place (the earliest published): (article, hash, origin)."""
        leaving = set(article_ids)
        out: dict[str, tuple[Article, str, str | None]] = {}
        for article_id in article_ids:
            rowid = self._rowid(article_id)
            if rowid is None:
                continue
            for row in self.conn.execute(
                    "SELECT * FROM copies WHERE canonical_rowid = ? "
                    "ORDER BY day IS NULL, day, rowid", (rowid,)):
                if row["id"] not in leaving:
                    out[article_id] = (self._article(row), row["content_hash"], row["origin"])
                    break
        return out

    def remove(self, article_ids: Sequence[str],
               successors: Mapping[str, tuple[Article, str, str | None, list[Chunk], np.ndarray]]
               | None = None) -> int:
        """Delete articles and copies (and their chunks and vectors) in one transaction;
        returns how many. A removed article's remaining copies pass to its successor (see
        `successors`, embedded by the caller), or go with it if it has none."""
        self._check_writable()
        successors = successors or {}
        removed = 0
        with self.transaction():
            for article_id in article_ids:
                if self.conn.execute("DELETE FROM copies WHERE id = ?", (article_id,)).rowcount:
                    removed += 1
                    continue
                rowid = self._rowid(article_id)
                if rowid is None:
                    continue
                if article_id in successors:
                    article, digest, origin, chunks, vectors = successors[article_id]
                    self.conn.execute("DELETE FROM copies WHERE id = ?", (article.id,))
                    heir = self._put_article(article, digest, origin, chunks, vectors)
                    self.conn.execute("UPDATE copies SET canonical_rowid = ? "
                                      "WHERE canonical_rowid = ?", (heir, rowid))
                else:
                    removed += self.conn.execute("DELETE FROM copies WHERE canonical_rowid = ?",
                                                 (rowid,)).rowcount
                self._delete_article(rowid)
                removed += 1
            if removed:
                # A file read before may hold what was removed: let the next ingest read it.
                self.conn.execute("DELETE FROM files")
                self._bump_generation()
        self._vectors = None
        return removed

    def set_aside(self, rows: Sequence[tuple[str, int]], reason: str) -> Path:
        """Move stored rows (`("articles" | "copies", rowid)`) that cannot be read out of the
        store, with an article's chunks and copies, into `quarantine-TIME.jsonl` beside it:
        each column as text where it is UTF-8, else as hex. The file is written (and synced)
        before the rows are deleted, so a crash between the two loses nothing."""
        self._check_writable()
        taken: dict[tuple[str, int], None] = {}
        for table, rowid in rows:
            taken[(table, rowid)] = None
            if table == "articles":
                taken.update((("copies", r[0]), None) for r in self.conn.execute(
                    "SELECT rowid FROM copies WHERE canonical_rowid = ?", (rowid,)))
        file = self.path / f"quarantine-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.jsonl"
        with open(file, "x", encoding="utf-8") as handle:
            handle.writelines(json.dumps(self._raw_row(table, rowid, reason)) + "\n"
                              for table, rowid in taken)
            handle.flush()
            os.fsync(handle.fileno())
        with self.transaction():
            for table, rowid in taken:
                if table == "articles":
                    self._delete_article(rowid)
                else:
                    self.conn.execute("DELETE FROM copies WHERE rowid = ?", (rowid,))
            self.conn.execute("DELETE FROM files")  # let the next ingest read their files
            self._bump_generation()
        self._vectors = None
        return file

    def _raw_row(self, table: str, rowid: int, reason: str) -> dict[str, Any]:
        names = [r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")]
        blobs = self.conn.execute(
            f"SELECT {', '.join(f'CAST({n} AS BLOB)' for n in names)} FROM {table} "
            "WHERE rowid = ?", (rowid,)).fetchone()
        row: dict[str, Any] = {"table": table, "reason": reason}
        for name, blob in zip(names, blobs, strict=True):
            if name == "vector" or blob is None:
                continue
            try:
                row[name] = bytes(blob).decode("utf-8")
            except UnicodeDecodeError:
                row[name] = {"hex": bytes(blob).hex()}
        return row

    def find(self, *, ids: Sequence[str] = (), urls: Sequence[str] = (),
             sources: Sequence[str] = ()) -> list[str]:
        """Ids of stored articles and copies with any of these ids, URLs or outlets (outlet
        names match case-insensitively and whole)."""
        found: dict[str, None] = {}
        for values, compare in ((ids, "id = ?"), (urls, "url = ?"),
                                (sources, "lower(source) = lower(?)")):
            for value in values:
                for table in ("articles", "copies"):
                    rows = self.conn.execute(f"SELECT id FROM {table} WHERE {compare}", (value,))
                    found.update((r[0], None) for r in rows)
        return list(found)

    # --- writing: the parts ----------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._lock is None:
            raise RuntimeError("index opened read-only")

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _rowid(self, article_id: str) -> int | None:
        row = self.conn.execute("SELECT rowid FROM articles WHERE id = ?", (article_id,)).fetchone()
        return int(row[0]) if row else None

    def _put_article(self, article: Article, digest: str, origin: str | None,
                     chunks: Sequence[Chunk], vectors: np.ndarray,
                     keys: Sequence[int] | None = None) -> int:
        """Insert or replace one article with its chunks, vectors, full text and LSH keys.
        A replaced article keeps its rowid, so its copies stay with it."""
        from qa.ingest.copies import band_keys

        values = (article.id, article.url, article.title, article.text, article.published,
                  article.date, article.source, json.dumps(list(article.authors)),
                  json.dumps(article.extra, ensure_ascii=False, default=str), digest, origin,
                  _now())
        rowid = self._rowid(article.id)
        if rowid is None:
            self.conn.execute("DELETE FROM copies WHERE id = ?", (article.id,))
            cur = self.conn.execute(f"INSERT INTO articles ({_ARTICLE_COLUMNS}) "
                                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", values)
            rowid = int(cur.lastrowid or 0)
        else:
            self._delete_chunks(rowid)
            self.conn.execute("DELETE FROM bands WHERE article_rowid = ?", (rowid,))
            self.conn.execute(
                "UPDATE articles SET (" + _ARTICLE_COLUMNS + ") = (?,?,?,?,?,?,?,?,?,?,?,?) "
                "WHERE rowid = ?", (*values, rowid))
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        for chunk, vector in zip(chunks, vecs, strict=True):
            cur = self.conn.execute(
                "INSERT INTO chunks (id, article_rowid, n, start, end, vector)"
                " VALUES (?,?,?,?,?,?)",
                (chunk.id, rowid, chunk.n, chunk.start, chunk.end, vector.tobytes()),
            )
            self.conn.execute("INSERT INTO chunks_fts (rowid, title, body) VALUES (?,?,?)",
                              (cur.lastrowid, article.headline, chunk.text))
        self._insert_keys(rowid, band_keys(article.text) if keys is None else keys)
        return rowid

    def _insert_keys(self, rowid: int, keys: Sequence[int]) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO bands (band, key, article_rowid) "
                              "VALUES (?,?,?)", [(b, k, rowid) for b, k in enumerate(keys)])

    def _insert_copy(self, article: Article, digest: str, origin: str | None, canonical: int,
                     similarity: float) -> None:
        self.conn.execute(
            "INSERT INTO copies (id, canonical_rowid, url, title, text, published, day, source,"
            " authors, extra, content_hash, origin, similarity, added)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (article.id, canonical, article.url, article.title, article.text,
             article.published, article.date, article.source,
             json.dumps(list(article.authors)),
             json.dumps(article.extra, ensure_ascii=False, default=str), digest, origin,
             round(similarity, 4), _now()),
        )

    def _fold_into(self, article_id: str, canonical: int, similarity: float) -> None:
        """Turn the stored article `article_id` into a copy of `canonical`, with its copies."""
        rowid = self._rowid(article_id)
        if rowid is None or rowid == canonical:
            return
        row = self.conn.execute("SELECT * FROM articles WHERE rowid = ?", (rowid,)).fetchone()
        self.conn.execute("UPDATE copies SET canonical_rowid = ? WHERE canonical_rowid = ?",
                          (canonical, rowid))
        self._insert_copy(self._article(row), row["content_hash"], row["origin"], canonical,
                          similarity)
        self._delete_article(rowid)

    def _delete_chunks(self, rowid: int) -> None:
        self.conn.execute("DELETE FROM chunks_fts WHERE rowid IN "
                          "(SELECT rowid FROM chunks WHERE article_rowid = ?)", (rowid,))
        self.conn.execute("DELETE FROM chunks WHERE article_rowid = ?", (rowid,))

    def _delete_article(self, rowid: int) -> None:
        self._delete_chunks(rowid)
        self.conn.execute("DELETE FROM articles WHERE rowid = ?", (rowid,))

    def _bump_generation(self) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('generation', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

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

    def vectors_current(self) -> bool:
        """Whether the vectors searched (`vectors.faiss`, or the attached vector store) are
        those of the store's present generation."""
        if self.vector_store is not None:
            return self.vector_store.synced(self) == self.generation() and \
                self.manifest.get("vector_store") == self.vector_store.uri
        return (self.path / VECTORS).exists() and \
            self.manifest.get("generation") == self.generation()

    def commit_vectors(self, *, full: bool = False) -> None:
        """Bring the vectors (`vectors.faiss`, or the attached vector store, written afresh
        with `full`) and the manifest up to date with the committed store. The manifest
        remembers which store is in use."""
        if self.vector_store is not None:
            with self.snapshot():
                self.vector_store.sync(self, full=full)
            self.manifest["vector_store"] = self.vector_store.uri
            self._save_manifest()
            return
        vectors = self._load_vectors(trust_file=False)
        import faiss

        digest: list[str] = []

        def write(tmp: Path) -> None:
            try:
                faiss.write_index(vectors, str(tmp))
            except RuntimeError as exc:  # FAISS reports a failed write (a full disk) this way
                full = "No space left" in str(exc) or "Disk quota" in str(exc)
                raise OSError(errno.ENOSPC if full else errno.EIO, "No space left on device"
                              if full else f"FAISS could not write it: {str(exc)[-200:]}",
                              str(self.path / VECTORS)) from exc
            digest.append(_file_digest(tmp))

        # Written straight to disk: serialising in memory first would hold two more copies.
        with _sigint_deferred():
            _write_atomic(self.path / VECTORS, write)
            self.manifest["generation"] = self.generation()
            self.manifest["vectors_sha256"] = digest[0]
            self.manifest.pop("vector_store", None)
            self._save_manifest()

    def _save_manifest(self) -> None:
        self.manifest["counts"] = self.counts()
        self.manifest["updated"] = _now()
        body = json.dumps(self.manifest, indent=2, sort_keys=True) + "\n"
        _write_atomic(self.path / MANIFEST, body.encode("utf-8"))

    # --- vectors ---------------------------------------------------------------------------

    def _load_vectors(self, trust_file: bool = True) -> Any:
        import faiss

        generation = self.generation()
        if self._vectors is not None and self._vectors_generation == generation:
            return self._vectors
        if self._vectors is not None and self._lock is None:
            # Another process wrote since these were loaded (a long-lived reader: eval, the
            # REPL): its manifest says which generation its vectors file holds.
            with contextlib.suppress(NewsqaError):
                self.manifest = self._read_manifest(self.path / MANIFEST)
        file = self.path / VECTORS
        expected = self.counts()["chunks"]
        self._vectors, self._vectors_generation = None, generation
        if trust_file and file.is_file() and self.manifest.get("generation") == generation and \
                self.manifest.get("vectors_sha256") in (None, _file_digest(file)):
            try:
                index = faiss.read_index(str(file))
            except (RuntimeError, MemoryError):
                index = None
            if index is not None and index.ntotal == expected and index.d == self.dim:
                _tune(index)
                self._vectors = index
                return index
        self._vectors = self.rebuild_vectors()
        return self._vectors

    def rebuild_vectors(self) -> Any:
        """The FAISS index of the store's vectors, built afresh (see `new_vector_index`)."""
        total = self.counts()["chunks"]
        index = new_vector_index(self.dim, total, lambda n: self._sample_vectors(total, n))
        rows = self.conn.execute("SELECT rowid, vector FROM chunks ORDER BY rowid")
        while batch := rows.fetchmany(4096):
            ids = np.array([r[0] for r in batch], dtype=np.int64)
            index.add_with_ids(self._stacked([r[1] for r in batch]), ids)
        return index

    def _stacked(self, blobs: Sequence[Any]) -> np.ndarray:
        size = self.dim * np.dtype(np.float32).itemsize
        if any(not isinstance(b, bytes) or len(b) != size for b in blobs):
            raise _damaged(self.path, f"some stored vectors do not have dimension {self.dim}")
        return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), self.dim)

    def _sample_vectors(self, total: int, n: int) -> np.ndarray:
        """About `n` stored vectors spread evenly over the store (the same ones every time)."""
        step = max(1, total // max(1, n))
        rows = self.conn.execute("SELECT vector FROM chunks WHERE rowid % ? = 0 LIMIT ?",
                                 (step, n)).fetchall()
        return self._stacked([r[0] for r in rows])

    # --- searching -------------------------------------------------------------------------

    def allowed_chunks(self, filters: Filters) -> np.ndarray | None:
        if not filters.active():
            return None
        return np.array(self._passing(filters), dtype=np.int64)

    def _passing(self, filters: Filters, among: Sequence[int] | None = None) -> list[int]:
        """Rowids of the chunks (of those `among`, if given) whose article passes `filters`."""
        where, params = _filter_sql(filters)
        if among is not None:
            where = f"c.rowid IN ({','.join('?' * len(among))}) AND {where}"
            params = [*among, *params]
        return [int(r[0]) for r in self.conn.execute(
            f"SELECT c.rowid FROM chunks c JOIN articles a ON a.rowid = c.article_rowid "
            f"WHERE {where}", params)]

    def search_dense(self, query: np.ndarray, k: int, filters: Filters) -> list[tuple[int, float]]:
        if self.vector_store is not None:
            self._check_vector_store()
            return self.vector_store.search(self, query, k, filters)
        import faiss

        vectors = self._load_vectors()
        if vectors.ntotal == 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        allowed = self.allowed_chunks(filters)
        if allowed is None:
            scores, ids = vectors.search(q, min(k, vectors.ntotal))
        else:
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

    def _check_vector_store(self) -> None:
        """Refuse to search a vector store that holds another state of the index (checked at
        every search, a round trip of a millisecond or two: a shared store can be rewritten by
        another writer at any time)."""
        assert self.vector_store is not None
        generation = self.generation()
        held = self.vector_store.synced(self)
        if held != generation:
            state = "nothing of this index" if held is None else f"its generation {held}"
            raise NewsqaError(
                f"the vector store {self.vector_store.uri} holds {state}, but the index at "
                f"{self.path} is at generation {generation}",
                hint=f"bring it up to date: newsqa index sync --index {self.path.name} "
                     f"--store {self.vector_store.uri}")

    def search_lexical(self, text: str, k: int, filters: Filters) -> list[tuple[int, float]]:
        query = fts_query(text)
        if query is None:
            return []
        where, params = _filter_sql(filters)
        rows = self.conn.execute(
            "SELECT f.rowid, bm25(chunks_fts, 2.0, 1.0) AS s FROM chunks_fts f "
            "JOIN chunks c ON c.rowid = f.rowid JOIN articles a ON a.rowid = c.article_rowid "
            f"WHERE chunks_fts MATCH ? AND {where} ORDER BY s, f.rowid LIMIT ?",
            [query, *params, k],
        ).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    # --- following the store (for a vector store; see VectorStore) ---------------------------

    def attach(self, vector_store: VectorStore | None) -> None:
        """Search `vector_store` instead of `vectors.faiss` (None: back to the FAISS file)."""
        self.vector_store = vector_store

    def index_id(self) -> str:
        """A random id given to the index when it was made: a vector store remembers which
        index it follows. An older index without one gets one when next opened for writing."""
        value = self._meta("index_id")
        if value is None:
            raise NewsqaError(f"the index at {self.path} predates vector stores",
                              hint=f"open it for writing once: newsqa index sync --index "
                                   f"{self.path.name} --store faiss")
        return value

    def vector_changes(self, since: int) -> tuple[list[int], list[int]] | None:
        """What changed after generation `since`: (rowids of articles to write again, rowids of
        chunks that went away), or None when changes were not noted that far back."""
        start = self._meta("changes_from")
        if start is None or not start.isdigit() or int(start) > since:
            return None
        articles = [int(r[0]) for r in self.conn.execute(
            "SELECT article_rowid FROM changes WHERE generation > ? ORDER BY article_rowid",
            (since,))]
        removed = [int(r[0]) for r in self.conn.execute(
            "SELECT chunk_rowid FROM removed_chunks WHERE generation > ? ORDER BY chunk_rowid",
            (since,))]
        return articles, removed

    def article_rowids(self) -> list[int]:
        return [int(r[0]) for r in self.conn.execute("SELECT rowid FROM articles ORDER BY rowid")]

    def chunk_vectors(self, article_rowids: Sequence[int], batch: int = 2048
                      ) -> Iterator[list[tuple[int, int, np.ndarray, str, str, bool]]]:
        """The chunks of these articles (those still stored), in batches: (chunk rowid, article
        rowid, vector, day or "", outlet or "", whether the article has copies)."""
        for at in range(0, len(article_rowids), 500):
            part = list(article_rowids[at : at + 500])
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                "SELECT c.rowid, c.article_rowid, c.vector, a.day, a.source, EXISTS (SELECT 1 "
                "FROM copies k WHERE k.canonical_rowid = a.rowid) FROM chunks c JOIN articles a "
                f"ON a.rowid = c.article_rowid WHERE a.rowid IN ({marks}) ORDER BY c.rowid",
                part)
            while block := rows.fetchmany(batch):
                vectors = self._stacked([r[2] for r in block])
                yield [(int(r[0]), int(r[1]), vectors[i], r[3] or "", r[4] or "", bool(r[5]))
                       for i, r in enumerate(block)]

    def passing_chunks(self, rowids: Sequence[int], filters: Filters) -> set[int]:
        """Which of these chunks pass `filters` (exactly as `allowed_chunks` decides)."""
        return set(self._passing(filters, rowids)) if rowids else set()

    # --- reading records -------------------------------------------------------------------

    @staticmethod
    def _article(row: sqlite3.Row) -> Article:
        try:
            authors, extra = json.loads(row["authors"]), json.loads(row["extra"])
        except (TypeError, ValueError):
            authors, extra = None, None
        if not isinstance(authors, list) or not isinstance(extra, dict) or \
                not all(isinstance(a, str) for a in authors):
            raise _damaged(None, f"article {row['id']} has damaged authors or metadata")
        return Article(
            id=row["id"], text=row["text"], url=row["url"], title=row["title"],
            published=row["published"], source=row["source"], authors=tuple(authors),
            extra=extra,
        )

    def chunks_by_rowid(self, rowids: Sequence[int]) -> dict[int, tuple[Chunk, Article]]:
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        rows = self.conn.execute(
            "SELECT c.rowid AS crow, c.id AS cid, c.n, c.start, c.end, a.* FROM chunks c "
            f"JOIN articles a ON a.rowid = c.article_rowid WHERE c.rowid IN ({marks})",
            list(rowids),
        ).fetchall()
        out: dict[int, tuple[Chunk, Article]] = {}
        articles: dict[str, Article] = {}
        for row in rows:
            article = articles.setdefault(row["id"], self._article(row))
            chunk = Chunk(
                id=row["cid"], article_id=article.id, n=row["n"], start=row["start"],
                end=row["end"], text=article.text[row["start"] : row["end"]],
            )
            out[int(row["crow"])] = (chunk, article)
        return out

    def article(self, article_id: str) -> Article | None:
        row = self.conn.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
        return self._article(row) if row else None

    def copy(self, article_id: str) -> Article | None:
        row = self.conn.execute("SELECT * FROM copies WHERE id = ?", (article_id,)).fetchone()
        return self._article(row) if row else None

    def carriers(self, article_ids: Sequence[str]) -> dict[str, tuple[Carrier, ...]]:
        """The copies folded into each of these articles: who else carried the story, oldest
        first."""
        if not article_ids:
            return {}
        marks = ",".join("?" * len(article_ids))
        rows = self.conn.execute(
            "SELECT a.id AS canonical, k.id, k.url, k.title, k.source, k.published "
            "FROM copies k JOIN articles a ON a.rowid = k.canonical_rowid "
            f"WHERE a.id IN ({marks}) ORDER BY k.day IS NULL, k.day, k.rowid",
            list(article_ids),
        ).fetchall()
        out: dict[str, list[Carrier]] = {}
        for r in rows:
            out.setdefault(r["canonical"], []).append(
                Carrier(article_id=r["id"], url=r["url"], title=r["title"], source=r["source"],
                        published=r["published"]))
        return {k: tuple(v) for k, v in out.items()}

    def article_urls(self) -> list[tuple[str, str]]:
        """(article id, URL) of every stored article, and of every copy under the id of the
        article it was folded into."""
        return [(str(r[0]), str(r[1])) for r in self.conn.execute(
            "SELECT id, url FROM articles WHERE url IS NOT NULL UNION ALL "
            "SELECT a.id, k.url FROM copies k JOIN articles a ON a.rowid = k.canonical_rowid "
            "WHERE k.url IS NOT NULL")]

    def info(self) -> dict[str, Any]:
        counts = self.counts()
        first, last, undated = self.conn.execute(
            "SELECT min(day), max(day), count(*) - count(day) FROM articles").fetchone()
        outlets = self.conn.execute(
            "SELECT coalesce(source, '(unknown)'), count(*) FROM articles GROUP BY 1 "
            "ORDER BY 2 DESC, 1"
        ).fetchall()
        copies = self.conn.execute("SELECT count(*) FROM copies").fetchone()[0]
        copy_outlets = self.conn.execute(
            "SELECT coalesce(source, '(unknown)'), count(*) FROM copies GROUP BY 1 "
            "ORDER BY 2 DESC, 1"
        ).fetchall()
        size = sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
        return {
            "path": str(self.path),
            "format_version": self.manifest["format_version"],
            "embedder": self.manifest["embedder"],
            "chunking": self.manifest["chunking"],
            "articles": counts["articles"],
            "chunks": counts["chunks"],
            "copies": int(copies),
            "dates": [first, last],
            "undated": int(undated),
            "outlets": {str(name): int(n) for name, n in outlets},
            "copy_outlets": {str(name): int(n) for name, n in copy_outlets},
            "size_bytes": size,
            "updated": self.manifest.get("updated"),
            "vector_store": self._describe_vectors(),
        }

    def _describe_vectors(self) -> dict[str, Any]:
        """What the vectors are searched in; an unreachable store is said, not raised: `info`
        is where a user looks when something is wrong."""
        if self.vector_store is None:
            return {"uri": "faiss", "file": str(self.path / VECTORS)}
        try:
            return self.vector_store.describe()
        except NewsqaError as exc:
            return {"uri": self.vector_store.uri, "error": exc.message}
