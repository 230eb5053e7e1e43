"""The SQLite store's schema as numbered migrations, and opening the store (which applies them).

`PRAGMA user_version` says which migrations a store has had. Stores written before it was kept
say 0: their tables tell how far they got, and they are stamped with that before the rest is
applied, in the same transaction.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from pathlib import Path

from qa.core.errors import STORE_DAMAGED_HINT, NewsqaError
from qa.core.files import not_a_file
from qa.store.folder import DATABASE, MANIFEST

M001_ARTICLES = """
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
# Syndicated copies (see qa/ingest/copies.py): the LSH keys of each stored article, and the
# copies folded into it, kept whole so one can take its place if it is removed. Files: those
# read to the end with nothing rejected, by path, size and modification time, so an unchanged
# file is not read again.
M002_COPIES = """
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
# The change feed for vector backends kept outside the folder (see qa/store/feed.py): triggers
# note, per committed generation, which articles changed in a way a vector backend must follow
# (chunks added or removed, outlet or date changed, a copy gained or lost) and which chunk
# rowids went away. A store given this migration notes changes from its generation then on.
_GENERATION_NEXT = ("coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'generation'),"
                    " 0) + 1")
M003_CHANGES = f"""
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
INSERT OR IGNORE INTO meta (key, value) VALUES ('index_id', lower(hex(randomblob(16))));
INSERT OR REPLACE INTO meta (key, value) SELECT
    'changes_from', coalesce((SELECT value FROM meta WHERE key = 'generation'), '0');
"""
MIGRATIONS = (M001_ARTICLES, M002_COPIES, M003_CHANGES)  # user_version n: the first n applied
LATEST = len(MIGRATIONS)
READER_UP_TO = 2  # a reader needs the copies tables; only a writer starts the change feed
# The tables each migration makes: how far a store written before user_version got.
_MADE = ({"articles", "chunks", "chunks_fts", "meta"}, {"bands", "copies", "files"},
         {"changes", "removed_chunks"})


def version(conn: sqlite3.Connection) -> int:
    """The migrations `conn`'s store has had: its user_version, unless its tables show fewer
    (a store written before user_version was kept says 0; an edited one may lack a table)."""
    stamped = int(conn.execute("PRAGMA user_version").fetchone()[0])
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    shown = 0
    for made in _MADE:
        if not made <= tables:
            return shown
        shown += 1
    return max(stamped, shown)


def migrate(conn: sqlite3.Connection, up_to: int = LATEST) -> int:
    """Apply the migrations `conn`'s store lacks, up to `up_to`, in one transaction (which may
    run again: every statement is idempotent); returns the store's version now."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        at = version(conn)
        for sql in MIGRATIONS[at:up_to]:
            for statement in _statements(sql):
                conn.execute(statement)
        at = max(at, up_to)
        conn.execute(f"PRAGMA user_version = {int(at)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return at


def _statements(sql: str) -> list[str]:
    """`sql` split into whole statements (a trigger's body holds `;` of its own)."""
    out, part = [], ""
    for line in sql.strip().splitlines(keepends=True):
        part += line
        if sqlite3.complete_statement(part):
            out.append(part.strip())
            part = ""
    return out


def open_store(path: Path, *, create: bool, write: bool) -> sqlite3.Connection:
    """The store of the index folder `path`, migrated as far as this use needs. It must exist
    unless the index is being created; a missing or damaged store is an error that names
    `doctor`, never an empty index in its place."""
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
        conn = connect(database, read_only_folder=not write and not create
                       and not os.access(path, os.W_OK))
        if create:
            # A creation killed after this and before the manifest was written left an empty
            # store, made again here.
            migrate(conn)
            stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
            if stored:
                conn.close()
                raise NewsqaError(
                    f"{database} holds {stored} articles but the index has no manifest "
                    f"({MANIFEST}), so the embedder of its vectors is unknown",
                    hint="put the manifest back from a backup, or re-ingest into a new "
                         "--index")
        at = version(conn)
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorname.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            raise NewsqaError(f"{database} is not a readable SQLite store ({exc})",
                              hint=STORE_DAMAGED_HINT) from exc
        raise  # a full disk, a folder that cannot be written: see qa.core.errors
    if at < 1:
        conn.close()
        raise NewsqaError(f"{database} lacks the newsqa tables",
                          hint="re-ingest into a new --index")
    wanted = LATEST if write else READER_UP_TO
    if at < wanted:
        migrate(conn, wanted)
    elif write and conn.execute("PRAGMA user_version").fetchone()[0] != at:
        migrate(conn, at)  # a store written before user_version: stamp what it has
    return conn


def connect(database: Path, read_only_folder: bool) -> sqlite3.Connection:
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
    conn.text_factory = functools.partial(stored_text, database)
    conn.execute("PRAGMA foreign_keys = ON")
    if not read_only_folder:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    return conn


class UnreadableText(NewsqaError):
    """Text in the store that is not UTF-8 (a flipped byte, an edit): raised where it is read,
    instead of sqlite3's error, which quotes the text."""


def stored_text(database: Path, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableText(
            f"the index store {database} holds text that is not UTF-8 (a damaged byte or an "
            "edit); the article that holds it cannot be shown",
            hint="`newsqa index doctor` names it, and `newsqa index doctor --repair` sets it "
                 "aside") from None
