"""The store's numbered migrations: an index written before they were numbered (user_version
0, tests/fixtures/index-v0) is upgraded in place without losing or changing anything."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from qa.core.records import Filters
from qa.store import schema
from qa.store.index import VECTORS, Index
from tests.conftest import FakeEmbedder, open_index

FIXTURE = Path(__file__).parent / "fixtures" / "index-v0"
QUESTIONS = ("Who won the Riverton marathon?", "night ferry crossing to Gull Island",
             "footbridge over the Mill River")
# Every table a store holds, with the order that makes a dump comparable.
TABLES = {"meta": "key", "articles": "rowid", "chunks": "rowid", "chunks_fts": "rowid",
          "bands": "band, key, article_rowid", "copies": "rowid", "files": "path"}


@pytest.fixture
def old_index(tmp_path: Path) -> Path:
    path = tmp_path / "default"
    shutil.copytree(FIXTURE, path, ignore=shutil.ignore_patterns("README.md"))
    return path


def _rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path / "store.sqlite")
    try:
        return {table: conn.execute(f"SELECT rowid, * FROM {table} ORDER BY {order}"
                                    if table == "chunks_fts" else
                                    f"SELECT * FROM {table} ORDER BY {order}").fetchall()
                for table, order in TABLES.items()}
    finally:
        conn.close()


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path / "store.sqlite")
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _answers(index: Index, embedder: FakeEmbedder) -> list[Any]:
    out: list[Any] = [index.counts(), index.info()["copies"]]
    for question in QUESTIONS:
        query = embedder.embed([question])[0]
        for filters in (Filters(), Filters(source="valley"), Filters(since="2024-03-05")):
            out.append(index.search_dense(query, 5, filters))
            out.append(index.search_lexical(question, 5, filters))
    return out


def test_the_fixture_is_a_store_from_before_user_version() -> None:
    # Opened immutable: a plain connection would leave WAL files beside the fixture.
    conn = sqlite3.connect(f"{(FIXTURE / 'store.sqlite').as_uri()}?immutable=1", uri=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert {"changes", "copies", "files"} <= {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master")}
    conn.close()


def test_an_old_index_is_upgraded_without_loss(old_index: Path,
                                                embedder: FakeEmbedder) -> None:
    before = _rows(old_index)
    vectors = (old_index / VECTORS).read_bytes()
    with open_index(old_index, embedder, write=False) as index:  # a reader changes nothing
        answers = _answers(index, embedder)
        assert index.vectors_current()
    assert _user_version(old_index) == 0 and _rows(old_index) == before

    with open_index(old_index, embedder) as index:
        assert _user_version(old_index) == schema.LATEST
        assert _answers(index, embedder) == answers
        assert index.vectors_current()  # its vectors.faiss is still trusted
        assert index.syndicated_copy(index.find(sources=["Valley Courier"])[0]) is not None
    assert _rows(old_index) == before
    assert (old_index / VECTORS).read_bytes() == vectors

    with open_index(old_index, embedder) as index:  # opened again: nothing to do
        assert _answers(index, embedder) == answers
    assert _rows(old_index) == before and _user_version(old_index) == schema.LATEST


def test_a_store_without_the_change_feed_starts_it_at_its_generation(
        old_index: Path, embedder: FakeEmbedder) -> None:
    conn = sqlite3.connect(old_index / "store.sqlite")
    for name in ("chunk_added", "chunk_removed", "article_moved", "copy_added", "copy_removed",
                 "copy_moved"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DROP TABLE changes")
    conn.execute("DROP TABLE removed_chunks")
    conn.execute("DELETE FROM meta WHERE key IN ('index_id', 'changes_from')")
    conn.commit()
    conn.close()
    assert schema.version(sqlite3.connect(old_index / "store.sqlite")) == 2
    with open_index(old_index, embedder) as index:
        assert _user_version(old_index) == schema.LATEST
        assert index.feed.changes(index.generation()) == ([], [])
        assert index.feed.changes(index.generation() - 1) is None  # not noted back then
        assert len(index.feed.index_id()) == 32


def test_a_reader_adds_only_the_copies_tables(old_index: Path, embedder: FakeEmbedder) -> None:
    conn = sqlite3.connect(old_index / "store.sqlite")
    for name in ("chunk_added", "chunk_removed", "article_moved", "copy_added", "copy_removed",
                 "copy_moved"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.executescript("DROP TABLE changes; DROP TABLE removed_chunks; DROP TABLE copies; "
                       "DROP TABLE bands; DROP TABLE files;")
    conn.close()
    with open_index(old_index, embedder, write=False) as index:
        assert index.counts()["articles"] == 4
    assert _user_version(old_index) == schema.READER_UP_TO
    with open_index(old_index, embedder) as index:
        assert index.counts()["articles"] == 4
    assert _user_version(old_index) == schema.LATEST


def test_a_new_store_is_made_at_the_latest_version(index_path: Path,
                                                   embedder: FakeEmbedder) -> None:
    open_index(index_path, embedder).close()
    assert _user_version(index_path) == schema.LATEST
    assert schema.version(sqlite3.connect(index_path / "store.sqlite")) == schema.LATEST
