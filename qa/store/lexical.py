"""Full-text (BM25) search of the chunks, and the SQL of the outlet and date filters."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from qa.core.records import Filters
from qa.core.text import STOPWORDS, tokens


def fts_query(text: str) -> str | None:
    """An FTS5 OR-query of the content words of `text`, each quoted so none is an operator."""
    words = dict.fromkeys(t for t in tokens(text) if t not in STOPWORDS)
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def filter_sql(filters: Filters) -> tuple[str, list[Any]]:
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


def passing(conn: sqlite3.Connection, filters: Filters, among: Sequence[int] | None = None
            ) -> list[int]:
    """Rowids of the chunks (of those `among`, if given) whose article passes `filters`."""
    where, params = filter_sql(filters)
    if among is not None:
        where = f"c.rowid IN ({','.join('?' * len(among))}) AND {where}"
        params = [*among, *params]
    return [int(r[0]) for r in conn.execute(
        f"SELECT c.rowid FROM chunks c JOIN articles a ON a.rowid = c.article_rowid "
        f"WHERE {where}", params)]


def search_lexical(conn: sqlite3.Connection, text: str, k: int, filters: Filters
                   ) -> list[tuple[int, float]]:
    """(chunk rowid, BM25 score, higher is better) of the `k` best chunks for `text`; the
    title counts twice the body."""
    query = fts_query(text)
    if query is None:
        return []
    where, params = filter_sql(filters)
    rows = conn.execute(
        "SELECT f.rowid, bm25(chunks_fts, 2.0, 1.0) AS s FROM chunks_fts f "
        "JOIN chunks c ON c.rowid = f.rowid JOIN articles a ON a.rowid = c.article_rowid "
        f"WHERE chunks_fts MATCH ? AND {where} ORDER BY s, f.rowid LIMIT ?",
        [query, *params, k],
    ).fetchall()
    return [(int(r[0]), -float(r[1])) for r in rows]
