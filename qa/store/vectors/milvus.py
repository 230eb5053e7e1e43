"""Milvus as the vector store: for an archive that outgrows one machine's FAISS file.

The index's SQLite store stays the source of truth (articles, chunks, full text, copies); a
Milvus collection holds one row per chunk (its vector, its article, and the day and outlet a
search filter pushes down) and follows the store: `sync` applies the changes the store noted
since the generation the collection holds (see qa/store/feed.py), or writes it afresh.
The same code serves Milvus Lite (a local folder, for a laptop and the tests) and a Milvus
server or cluster.

A search pushes the date and outlet filters down to Milvus as a superset of what passes (an
article passes through any of its syndicated copies, which Milvus does not see, so articles
with copies are always let through: `recheck`), then keeps exactly the chunks SQLite passes,
asking Milvus for more if too few are left.

URIs: `milvus:///abs/path/newsqa.db` or `milvus:rel/path.db` (Milvus Lite), `milvus://host:port`
(a server over HTTP), `milvus+https://host:port` (over TLS); optional `?collection=NAME` and
`?index=FLAT|HNSW|AUTOINDEX`. A server's token (user:password, or an API key) is given
apart: the CLI reads it from NEWSQA_MILVUS_TOKEN.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from qa.core.errors import NewsqaError
from qa.core.records import Filters
from qa.store.vectors.base import ChangeFeed

STATE = "newsqa_state"  # one row per collection: which index, at which generation
SOURCE_CHARS = 512
MAX_LIMIT = 16_384  # Milvus's largest top-k
INDEX_TYPES = ("FLAT", "HNSW", "AUTOINDEX")
HNSW_BUILD = {"M": 16, "efConstruction": 200}
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Outlet text pushed down into a Milvus LIKE: no wildcard, quote or backslash can slip in.
_PLAIN_OUTLET = re.compile(r"(?:[^\W_]|[ .,'&-])+")
_HINT = "check that the Milvus server is running and the URI is right (see docs/scaling.md)"


@dataclass(frozen=True)
class MilvusTarget:
    uri: str  # canonical, as the manifest records it
    client_uri: str  # what pymilvus is given
    collection: str | None  # None: named after the index
    index_type: str
    lite: bool


def parse_uri(uri: str) -> MilvusTarget:
    parts = urlsplit(uri)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"collection", "index"}
    if unknown:
        raise NewsqaError(f"unknown setting {sorted(unknown)[0]!r} in the store URI {uri!r}",
                          hint="a Milvus URI takes ?collection=NAME and ?index=FLAT|HNSW")
    collection = query.get("collection")
    if collection is not None and not _valid_name(collection):
        raise NewsqaError(f"{collection!r} is not a Milvus collection name",
                          hint="use letters, digits and underscores, starting with a letter")
    suffix = "?" + parts.query if parts.query else ""
    if parts.scheme == "milvus" and not parts.netloc:  # a local Milvus Lite folder
        if not parts.path.endswith(".db"):
            raise NewsqaError(f"the Milvus Lite path in {uri!r} must end in .db",
                              hint="e.g. --store milvus:///home/me/news/milvus.db")
        path = Path(parts.path).expanduser().resolve()
        index_type = query.get("index", "FLAT").upper()
        return MilvusTarget(f"milvus://{path}{suffix}", str(path), collection,
                            _index_type(index_type, uri), lite=True)
    if parts.scheme in ("milvus", "milvus+http", "milvus+https") and parts.netloc:
        scheme = "https" if parts.scheme == "milvus+https" else "http"
        index_type = query.get("index", "HNSW").upper()
        base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        return MilvusTarget(base + suffix, f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}",
                            collection, _index_type(index_type, uri), lite=False)
    raise NewsqaError(f"{uri!r} is not a Milvus URI",
                      hint="milvus:///path/to/file.db (Milvus Lite) or milvus://host:19530")


def _index_type(value: str, uri: str) -> str:
    if value not in INDEX_TYPES:
        raise NewsqaError(f"index type {value!r} in {uri!r} is not one newsqa uses",
                          hint="use ?index=FLAT (exact), HNSW or AUTOINDEX")
    return value


def _valid_name(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", name) is not None


def collection_for(index_name: str) -> str:
    """A Milvus collection name for an index folder name."""
    return "newsqa_" + (re.sub(r"[^A-Za-z0-9_]", "_", index_name) or "default")[:200]


def pushdown(filters: Filters) -> str:
    """A Milvus filter that every chunk passing `filters` passes (and few others)."""
    parts: list[str] = []
    for bound, op in ((filters.since, ">="), (filters.until, "<=")):
        if bound is not None and _ISO_DAY.fullmatch(bound):
            parts.append(f'day {op} "{bound}"')
    if parts:
        parts.insert(0, 'day != ""')  # an article without a date never passes a date filter
    if filters.source and _PLAIN_OUTLET.fullmatch(filters.source):
        parts.append(f'source like "%{filters.source.lower()}%"')
    return f"({' and '.join(parts)}) or recheck == true" if parts else ""


class MilvusVectors:
    """The vectors of one index in one Milvus collection (see the module's docstring)."""

    def __init__(self, target: MilvusTarget, index_name: str, token: str = "") -> None:
        self.target = target
        self.token = token
        self.uri = target.uri
        self.collection = target.collection or collection_for(index_name)
        self._client: Any = None
        self._loaded = False

    @classmethod
    def from_uri(cls, uri: str, index_name: str, token: str = "") -> MilvusVectors:
        return cls(parse_uri(uri), index_name, token)

    # --- the connection ------------------------------------------------------------------

    @contextlib.contextmanager
    def _calls(self, doing: str) -> Iterator[Any]:
        """The client, with Milvus's failures turned into one clear error."""
        try:
            from pymilvus import MilvusException
        except ImportError as exc:
            raise NewsqaError("the Milvus client is not installed",
                              hint="pip install 'newsqa[milvus]'") from exc
        try:
            yield self._connect()
        except MilvusException as exc:
            raise NewsqaError(f"Milvus at {self.uri} failed while {doing}: {exc.message}",
                              hint=_HINT) from exc

    def _connect(self) -> Any:
        if self._client is None:
            from pymilvus import MilvusClient

            for name in ("pymilvus", "grpc._server"):  # its errors are ours to say, once
                logging.getLogger(name).setLevel(logging.CRITICAL)
            if self.target.lite:
                Path(self.target.client_uri).parent.mkdir(parents=True, exist_ok=True)
            self._client = MilvusClient(uri=self.target.client_uri,
                                        token=self.token,
                                        timeout=30)
            self._ensure_state()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
            self._loaded = False

    def _ensure_state(self) -> None:
        from pymilvus import DataType

        client = self._client
        if client.has_collection(STATE):
            client.load_collection(STATE)
            return
        schema = client.create_schema(auto_id=False)
        schema.add_field("name", DataType.VARCHAR, is_primary=True, max_length=255)
        schema.add_field("index_id", DataType.VARCHAR, max_length=64)
        schema.add_field("generation", DataType.INT64)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs a vector
        params = client.prepare_index_params()
        params.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
        client.create_collection(STATE, schema=schema, index_params=params,
                                 consistency_level="Strong")

    def _state(self) -> tuple[str, int] | None:
        rows = self._connect().get(STATE, ids=[self.collection],
                                   output_fields=["index_id", "generation"])
        if not rows:
            return None
        return str(rows[0]["index_id"]), int(rows[0]["generation"])

    def _set_state(self, index_id: str, generation: int) -> None:
        self._connect().upsert(STATE, [{"name": self.collection, "index_id": index_id,
                                        "generation": generation, "unused": [0.0, 0.0]}])

    def _create(self, dim: int) -> None:
        from pymilvus import DataType

        client = self._connect()
        if client.has_collection(self.collection):
            client.drop_collection(self.collection)
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)  # the chunk's rowid
        schema.add_field("article", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("day", DataType.VARCHAR, max_length=10)
        schema.add_field("source", DataType.VARCHAR, max_length=SOURCE_CHARS)
        schema.add_field("recheck", DataType.BOOL)
        params = client.prepare_index_params()
        params.add_index(field_name="vector", index_type=self.target.index_type,
                         metric_type="IP",
                         params=HNSW_BUILD if self.target.index_type == "HNSW" else {})
        client.create_collection(self.collection, schema=schema, index_params=params,
                                 consistency_level="Strong")

    # --- the VectorBackend seam (qa/store/vectors/base.py) -------------------------------

    def synced(self, feed: ChangeFeed) -> int | None:
        with self._calls("reading its state"):
            state = self._state()
        if state is None or state[0] != feed.index_id():
            return None
        return state[1]

    def current(self, feed: ChangeFeed) -> bool:
        return self.synced(feed) == feed.generation() and \
            feed.manifest.get("vector_store") == self.uri

    def sync(self, feed: ChangeFeed, *, full: bool = False) -> int:
        index_id, generation = feed.index_id(), feed.generation()
        with self._calls("writing vectors") as client:
            state = self._state()
            changes = None
            if not full and state is not None and state[0] == index_id and \
                    state[1] <= generation and client.has_collection(self.collection):
                changes = feed.changes(state[1])
            removed: list[int] = []
            if changes is None:  # another index's, never written, or changes not noted
                self._create(feed.dim)
                articles = feed.article_rowids()
            else:
                articles, removed = changes
            for at in range(0, len(removed), 4096):
                client.delete(self.collection, ids=removed[at : at + 4096])
            written = 0
            for batch in feed.chunk_rows(articles, batch=1024):
                client.upsert(self.collection, [
                    {"id": row.rowid, "article": row.article_rowid, "vector": row.vector,
                     "day": row.day[:10], "source": row.source.lower()[:SOURCE_CHARS],
                     "recheck": row.has_copies or len(row.source) > SOURCE_CHARS}
                    for row in batch])
                written += len(batch)
            client.load_collection(self.collection)
            self._loaded = True
            self._set_state(index_id, generation)
        feed.manifest.record({"vector_store": self.uri})  # the index's vectors are here
        return written

    def search(self, feed: ChangeFeed, query: np.ndarray, k: int, filters: Filters
               ) -> list[tuple[int, float]]:
        self._check_current(feed)
        expression = pushdown(filters)
        limit = min(k, MAX_LIMIT)
        vector = np.ascontiguousarray(query, dtype=np.float32).reshape(-1).tolist()
        with self._calls("searching") as client:
            if not self._loaded:  # a collection is searchable once loaded into memory
                client.load_collection(self.collection)
                self._loaded = True
            while True:
                params: dict[str, Any] = {"metric_type": "IP"}
                if self.target.index_type == "HNSW":
                    params["params"] = {"ef": max(64, limit)}
                found = client.search(self.collection, data=[vector], limit=limit,
                                      filter=expression, output_fields=["id"],
                                      search_params=params)[0]
                hits = [(int(h["id"]), float(h["distance"])) for h in found]
                if not filters.active():
                    return hits[:k]
                rowids = [rowid for rowid, _ in hits]
                passing = set(feed.passing(filters, rowids)) if rowids else set()
                kept = [hit for hit in hits if hit[0] in passing]
                if len(kept) >= k or len(hits) < limit or limit >= MAX_LIMIT:
                    return kept[:k]
                limit = min(limit * 4, MAX_LIMIT)

    def _check_current(self, feed: ChangeFeed) -> None:
        """Refuse to search a collection that holds another state of the index (checked at
        every search, a round trip of a millisecond or two: a shared store can be rewritten by
        another writer at any time)."""
        generation = feed.generation()
        held = self.synced(feed)
        if held != generation:
            state = "nothing of this index" if held is None else f"its generation {held}"
            raise NewsqaError(
                f"the vector store {self.uri} holds {state}, but the index at "
                f"{feed.path} is at generation {generation}",
                hint=f"bring it up to date: newsqa index sync --index {feed.path.name} "
                     f"--store {self.uri}")

    def describe(self) -> dict[str, Any]:
        with self._calls("counting vectors") as client:
            exists = client.has_collection(self.collection)
            count = client.query(self.collection, filter="", output_fields=["count(*)"]
                                 )[0]["count(*)"] if exists else 0
            state = self._state()
        return {"uri": self.uri, "engine": "Milvus Lite" if self.target.lite else "Milvus",
                "collection": self.collection, "index_type": self.target.index_type,
                "chunks": int(count), "generation": state[1] if state else None}
