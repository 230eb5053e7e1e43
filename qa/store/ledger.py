"""The file ledger: which files were read to the end, as they were then, so an unchanged one
is not read again."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from qa.store.folder import now
from qa.store.records import FileMark


def file_done(conn: sqlite3.Connection, mark: FileMark) -> bool:
    """Whether this file, as it is now, was read to the end and everything in it stored."""
    return conn.execute(
        "SELECT 1 FROM files WHERE path = ? AND size = ? AND mtime_ns = ? AND fields = ?",
        mark.key()).fetchone() is not None


def mark_files(conn: sqlite3.Connection, files: Sequence[FileMark]) -> None:
    """Note these files as read whole (inside the caller's transaction); a file's older marks
    go."""
    for mark in files:
        conn.execute("DELETE FROM files WHERE path = ?", (mark.path,))
    conn.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?)",
                     [(*mark.key(), now()) for mark in files])


def forget_files(conn: sqlite3.Connection) -> None:
    """Forget every file read: after a removal, a file read before may hold what was
    removed, and the next ingest should read it again."""
    conn.execute("DELETE FROM files")
