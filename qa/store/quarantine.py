"""Setting unreadable rows aside: moved out of the store into a quarantine file beside it."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.store import articles, ledger


def with_dependents(conn: sqlite3.Connection, rows: Sequence[tuple[str, int]]
                    ) -> list[tuple[str, int]]:
    """These rows (`("articles" | "copies", rowid)`) and the copies of each article."""
    taken: dict[tuple[str, int], None] = {}
    for table, rowid in rows:
        taken[(table, rowid)] = None
        if table == "articles":
            taken.update((("copies", r[0]), None) for r in conn.execute(
                "SELECT rowid FROM copies WHERE canonical_rowid = ?", (rowid,)))
    return list(taken)


def write_aside(conn: sqlite3.Connection, folder: Path, rows: Sequence[tuple[str, int]],
                reason: str) -> Path:
    """Write these rows into `quarantine-TIME.jsonl` in `folder`, each column as text where it
    is UTF-8, else as hex, and sync it: done before the rows are deleted, so a crash between
    the two loses nothing."""
    file = folder / f"quarantine-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.jsonl"
    with open(file, "x", encoding="utf-8") as handle:
        handle.writelines(json.dumps(_raw_row(conn, table, rowid, reason)) + "\n"
                          for table, rowid in rows)
        handle.flush()
        os.fsync(handle.fileno())
    return file


def delete_rows(conn: sqlite3.Connection, rows: Sequence[tuple[str, int]]) -> None:
    """Delete these rows (an article with its chunks), inside the caller's transaction."""
    for table, rowid in rows:
        if table == "articles":
            articles.delete_article(conn, rowid)
        else:
            conn.execute("DELETE FROM copies WHERE rowid = ?", (rowid,))
    ledger.forget_files(conn)  # let the next ingest read their files


def _raw_row(conn: sqlite3.Connection, table: str, rowid: int, reason: str) -> dict[str, Any]:
    names = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    blobs = conn.execute(
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
