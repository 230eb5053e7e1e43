"""Article, copy, chunk, full-text and band rows of the store: written and read back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from qa.core.records import Article, Carrier, Chunk
from qa.core.text import headline
from qa.store.folder import damaged, now
from qa.store.records import Copy, StoredArticle

ARTICLE_COLUMNS = ("id, url, title, text, published, day, source, authors, extra, "
                   "content_hash, origin, added")


def article_of(row: sqlite3.Row) -> Article:
    """The article (or copy) a row of `articles` or `copies` holds."""
    try:
        authors, extra = json.loads(row["authors"]), json.loads(row["extra"])
    except (TypeError, ValueError):
        authors, extra = None, None
    if not isinstance(authors, list) or not isinstance(extra, dict) or \
            not all(isinstance(a, str) for a in authors):
        raise damaged(None, f"article {row['id']} has damaged authors or metadata")
    return Article(
        id=row["id"], text=row["text"], url=row["url"], title=row["title"],
        published=row["published"], source=row["source"], authors=tuple(authors),
        extra=extra,
    )


def rowid_of(conn: sqlite3.Connection, article_id: str) -> int | None:
    row = conn.execute("SELECT rowid FROM articles WHERE id = ?", (article_id,)).fetchone()
    return int(row[0]) if row else None


def insert_fts(conn: sqlite3.Connection, rows: Iterable[tuple[int, str, str | None, str]]
               ) -> None:
    """Full-text rows for (chunk rowid, title, URL, chunk text): a chunk is found by its text
    and by its story's headline (`qa.core.text.headline`)."""
    conn.executemany("INSERT INTO chunks_fts (rowid, title, body) VALUES (?,?,?)",
                     [(rowid, headline(title, url), body) for rowid, title, url, body in rows])


def put_article(conn: sqlite3.Connection, stored: StoredArticle) -> int:
    """Insert or replace one article with its chunks, vectors, full text and LSH keys.
    A replaced article keeps its rowid, so its copies stay with it."""
    article = stored.article
    values = (article.id, article.url, article.title, article.text, article.published,
              article.date, article.source, json.dumps(list(article.authors)),
              json.dumps(article.extra, ensure_ascii=False, default=str), stored.digest,
              stored.origin, now())
    rowid = rowid_of(conn, article.id)
    if rowid is None:
        conn.execute("DELETE FROM copies WHERE id = ?", (article.id,))
        cur = conn.execute(f"INSERT INTO articles ({ARTICLE_COLUMNS}) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", values)
        rowid = int(cur.lastrowid or 0)
    else:
        delete_chunks(conn, rowid)
        conn.execute("DELETE FROM bands WHERE article_rowid = ?", (rowid,))
        conn.execute("UPDATE articles SET (" + ARTICLE_COLUMNS + ") = (?,?,?,?,?,?,?,?,?,?,?,?) "
                     "WHERE rowid = ?", (*values, rowid))
    vecs = np.ascontiguousarray(stored.vectors, dtype=np.float32)
    for chunk, vector in zip(stored.chunks, vecs, strict=True):
        cur = conn.execute(
            "INSERT INTO chunks (id, article_rowid, n, start, end, vector) VALUES (?,?,?,?,?,?)",
            (chunk.id, rowid, chunk.n, chunk.start, chunk.end, vector.tobytes()),
        )
        insert_fts(conn, [(int(cur.lastrowid or 0), article.title, article.url, chunk.text)])
    insert_keys(conn, rowid, stored.keys)
    return rowid


def insert_keys(conn: sqlite3.Connection, rowid: int, keys: Sequence[int]) -> None:
    conn.executemany("INSERT OR IGNORE INTO bands (band, key, article_rowid) VALUES (?,?,?)",
                     [(b, k, rowid) for b, k in enumerate(keys)])


def insert_copy(conn: sqlite3.Connection, copy: Copy, canonical: int, similarity: float
                ) -> None:
    article = copy.article
    conn.execute(
        "INSERT INTO copies (id, canonical_rowid, url, title, text, published, day, source,"
        " authors, extra, content_hash, origin, similarity, added)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (article.id, canonical, article.url, article.title, article.text,
         article.published, article.date, article.source,
         json.dumps(list(article.authors)),
         json.dumps(article.extra, ensure_ascii=False, default=str), copy.digest, copy.origin,
         round(similarity, 4), now()),
    )


def fold_into(conn: sqlite3.Connection, article_id: str, canonical: int, similarity: float
              ) -> None:
    """Turn the stored article `article_id` into a copy of `canonical`, with its copies."""
    rowid = rowid_of(conn, article_id)
    if rowid is None or rowid == canonical:
        return
    row = conn.execute("SELECT * FROM articles WHERE rowid = ?", (rowid,)).fetchone()
    conn.execute("UPDATE copies SET canonical_rowid = ? WHERE canonical_rowid = ?",
                 (canonical, rowid))
    insert_copy(conn, Copy(article_of(row), row["content_hash"], row["origin"]), canonical,
                similarity)
    delete_article(conn, rowid)


def delete_chunks(conn: sqlite3.Connection, rowid: int) -> None:
    conn.execute("DELETE FROM chunks_fts WHERE rowid IN "
                 "(SELECT rowid FROM chunks WHERE article_rowid = ?)", (rowid,))
    conn.execute("DELETE FROM chunks WHERE article_rowid = ?", (rowid,))


def delete_article(conn: sqlite3.Connection, rowid: int) -> None:
    delete_chunks(conn, rowid)
    conn.execute("DELETE FROM articles WHERE rowid = ?", (rowid,))


def remove(conn: sqlite3.Connection, article_ids: Sequence[str],
           successors: dict[str, StoredArticle]) -> int:
    """Delete articles and copies (and their chunks); returns how many. A removed article's
    remaining copies pass to its successor, or go with it if it has none."""
    removed = 0
    for article_id in article_ids:
        if conn.execute("DELETE FROM copies WHERE id = ?", (article_id,)).rowcount:
            removed += 1
            continue
        rowid = rowid_of(conn, article_id)
        if rowid is None:
            continue
        if article_id in successors:
            heir_article = successors[article_id]
            conn.execute("DELETE FROM copies WHERE id = ?", (heir_article.article.id,))
            heir = put_article(conn, heir_article)
            conn.execute("UPDATE copies SET canonical_rowid = ? WHERE canonical_rowid = ?",
                         (heir, rowid))
        else:
            removed += conn.execute("DELETE FROM copies WHERE canonical_rowid = ?",
                                    (rowid,)).rowcount
        delete_article(conn, rowid)
        removed += 1
    return removed


def bump_generation(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES ('generation', '1') ON CONFLICT(key) "
                 "DO UPDATE SET value = CAST(value AS INTEGER) + 1")


def meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


# --- reading ---------------------------------------------------------------------------------


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    return {"articles": int(articles), "chunks": int(chunks)}


def stored_hash(conn: sqlite3.Connection, article_id: str) -> str | None:
    """The content hash stored under `article_id`, as an article or as a copy."""
    for table in ("articles", "copies"):
        row = conn.execute(f"SELECT content_hash FROM {table} WHERE id = ?", (article_id,)
                           ).fetchone()
        if row:
            return str(row[0])
    return None


def one(conn: sqlite3.Connection, table: str, article_id: str) -> Article | None:
    """The article (`table` "articles") or copy ("copies") stored under `article_id`."""
    row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (article_id,)).fetchone()
    return article_of(row) if row else None


def copy_candidates(conn: sqlite3.Connection, keys: Sequence[int], limit: int) -> list[Article]:
    """Stored articles sharing an LSH band with these keys (see qa/ingest/copies.py)."""
    if not keys:
        return []
    match = " OR ".join("(b.band = ? AND b.key = ?)" for _ in keys)
    params: list[Any] = [v for band, key in enumerate(keys) for v in (band, key)]
    rows = conn.execute(
        f"SELECT a.* FROM articles a WHERE a.rowid IN (SELECT b.article_rowid FROM bands b "
        f"WHERE {match}) LIMIT ?", [*params, limit],
    ).fetchall()
    return [article_of(r) for r in rows]


def successors(conn: sqlite3.Connection, article_ids: Sequence[str]) -> dict[str, Copy]:
    """For each stored article in `article_ids` that has copies not being removed with it,
    the copy that takes its place (the earliest published)."""
    leaving = set(article_ids)
    out: dict[str, Copy] = {}
    for article_id in article_ids:
        rowid = rowid_of(conn, article_id)
        if rowid is None:
            continue
        for row in conn.execute("SELECT * FROM copies WHERE canonical_rowid = ? "
                                "ORDER BY day IS NULL, day, rowid", (rowid,)):
            if row["id"] not in leaving:
                out[article_id] = Copy(article_of(row), row["content_hash"], row["origin"])
                break
    return out


def find(conn: sqlite3.Connection, ids: Sequence[str], urls: Sequence[str],
         sources: Sequence[str]) -> list[str]:
    """Ids of stored articles and copies with any of these ids, URLs or outlets (outlet
    names match case-insensitively and whole)."""
    found: dict[str, None] = {}
    for values, compare in ((ids, "id = ?"), (urls, "url = ?"),
                            (sources, "lower(source) = lower(?)")):
        for value in values:
            for table in ("articles", "copies"):
                rows = conn.execute(f"SELECT id FROM {table} WHERE {compare}", (value,))
                found.update((r[0], None) for r in rows)
    return list(found)


def chunks_by_rowid(conn: sqlite3.Connection, rowids: Sequence[int]
                    ) -> dict[int, tuple[Chunk, Article]]:
    if not rowids:
        return {}
    marks = ",".join("?" * len(rowids))
    rows = conn.execute(
        "SELECT c.rowid AS crow, c.id AS cid, c.n, c.start, c.end, a.* FROM chunks c "
        f"JOIN articles a ON a.rowid = c.article_rowid WHERE c.rowid IN ({marks})",
        list(rowids),
    ).fetchall()
    out: dict[int, tuple[Chunk, Article]] = {}
    articles: dict[str, Article] = {}
    for row in rows:
        article = articles.setdefault(row["id"], article_of(row))
        chunk = Chunk(id=row["cid"], article_id=article.id, n=row["n"], start=row["start"],
                      end=row["end"], text=article.text[row["start"] : row["end"]])
        out[int(row["crow"])] = (chunk, article)
    return out


def carriers(conn: sqlite3.Connection, article_ids: Sequence[str]
             ) -> dict[str, tuple[Carrier, ...]]:
    """The copies folded into each of these articles: who else carried the story, oldest
    first."""
    if not article_ids:
        return {}
    marks = ",".join("?" * len(article_ids))
    rows = conn.execute(
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


def article_urls(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(article id, URL) of every stored article, and of every copy under the id of the
    article it was folded into."""
    return [(str(r[0]), str(r[1])) for r in conn.execute(
        "SELECT id, url FROM articles WHERE url IS NOT NULL UNION ALL "
        "SELECT a.id, k.url FROM copies k JOIN articles a ON a.rowid = k.canonical_rowid "
        "WHERE k.url IS NOT NULL")]


def summary(conn: sqlite3.Connection) -> dict[str, Any]:
    """What `newsqa index info` says of the stored articles and copies."""
    first, last, undated = conn.execute(
        "SELECT min(day), max(day), count(*) - count(day) FROM articles").fetchone()
    outlets = conn.execute("SELECT coalesce(source, '(unknown)'), count(*) FROM articles "
                           "GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    copies = conn.execute("SELECT count(*) FROM copies").fetchone()[0]
    copy_outlets = conn.execute("SELECT coalesce(source, '(unknown)'), count(*) FROM copies "
                                "GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    return {"copies": int(copies), "dates": [first, last], "undated": int(undated),
            "outlets": {str(name): int(n) for name, n in outlets},
            "copy_outlets": {str(name): int(n) for name, n in copy_outlets}}


def key_articles(conn: sqlite3.Connection, keys_of: Callable[[str], Sequence[int]],
                 batch: int) -> Iterator[int]:
    """Give every stored article the LSH keys `keys_of(text)` makes, `batch` articles a
    transaction (one transaction each); yields how many were keyed."""
    last = 0
    while rows := conn.execute(
            "SELECT rowid, text FROM articles WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (last, batch)).fetchall():
        conn.execute("BEGIN IMMEDIATE")
        try:
            for rowid, text in rows:
                conn.execute("DELETE FROM bands WHERE article_rowid = ?", (rowid,))
                insert_keys(conn, rowid, keys_of(text))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        yield len(rows)
        last = rows[-1][0]
