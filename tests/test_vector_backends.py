"""One contract for every vector backend (qa/store/vectors/): the folder's FAISS file and Milvus
Lite run through the same cases, as txtai's `runTests(name)` does for its ANN backends."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from qa.core.errors import NewsqaError
from qa.core.records import Filters
from qa.ingest.pipeline import ingest
from qa.store.index import Index
from qa.store.vectors.base import VectorBackend
from tests.conftest import FakeEmbedder, open_index
from tests.test_milvus import FILTERS, invented_articles, write_jsonl

QUESTIONS = ["Alder Bay footbridge", "Riverton ferry", "Saltmarsh market", "tram school",
             "Northgate library decision"]
Backend = Callable[[Index], VectorBackend | None]  # what `Index.attach` is given


def _faiss(tmp_path: Path) -> Backend:
    return lambda index: None  # None: the folder's own vectors.faiss


def _milvus(tmp_path: Path) -> Backend:
    if importlib.util.find_spec("milvus_lite") is None:
        pytest.skip("Milvus Lite is not installed (pip install 'newsqa[milvus]')")
    from qa.store.vectors.milvus import MilvusVectors

    return lambda index: MilvusVectors.from_uri(f"milvus://{tmp_path}/vectors.db",
                                                index.path.name)


@pytest.fixture(params=["faiss", "milvus"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    maker: Callable[[Path], Backend] = {"faiss": _faiss, "milvus": _milvus}[request.param]
    return maker(tmp_path)


@pytest.fixture
def filled(tmp_path: Path, index_path: Path, embedder: FakeEmbedder,
           backend: Backend) -> Iterator[Index]:
    """Forty invented stories, one of them carried again by another outlet, in an index
    searched through `backend`, brought up to date."""
    stories = invented_articles(40)
    copy = dict(stories[5], id="copy-of-5", source="Saltmarsh Gazette", published="2024-07-01")
    with open_index(index_path, embedder) as index:
        index.attach(backend(index))
        ingest([write_jsonl(tmp_path / "a.jsonl", [*stories, copy])], index, embedder)
        assert index.counts()["articles"] == 40 and index.info()["copies"] == 1
        yield index


def exact(index: Index, query: np.ndarray, k: int, filters: Filters) -> list[tuple[int, float]]:
    """The `k` best (chunk rowid, cosine) by comparing `query` with every stored vector."""
    allowed = set(index.feed.passing(filters))
    scored = [(int(i), float(v @ query)) for ids, vectors in index.feed.vectors()
              for i, v in zip(ids, vectors, strict=True) if int(i) in allowed]
    return sorted(scored, key=lambda hit: (-hit[1], hit[0]))[:k]


def assert_exact(index: Index, embedder: FakeEmbedder, k: int = 6) -> int:
    """Every question under every filter finds what an exact search finds (ties in any
    order); returns how many hits were compared."""
    compared = 0
    for question in QUESTIONS:
        query = embedder.embed([question])[0]
        for filters in FILTERS:
            got, want = index.search_dense(query, k, filters), exact(index, query, k, filters)
            assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5), \
                (question, filters)
            truth = dict(exact(index, query, 10_000, filters))
            assert all(abs(truth[i] - s) < 1e-5 for i, s in got), (question, filters)
            compared += len(got)
    return compared


def test_search_matches_exact_cosine(filled: Index, embedder: FakeEmbedder) -> None:
    assert filled.vectors_current()
    assert assert_exact(filled, embedder) > 50


def test_filters_by_outlet_and_date_through_copies(filled: Index, embedder: FakeEmbedder
                                                   ) -> None:
    story = filled.article("story-5")
    assert story is not None
    query = embedder.embed([story.title])[0]
    # Only the copy is from this outlet, and dated July: the original passes through it.
    for filters in (Filters(source="saltmarsh"), Filters(since="2024-07-01"),
                    Filters(source="gazette", since="2024-06-30", until="2024-07-02")):
        hits = filled.search_dense(query, 3, filters)
        assert {filled.chunks_by_rowid([i])[i][1].id for i, _ in hits} == {"story-5"}
    assert filled.search_dense(query, 3, Filters(source="nobody at all")) == []


def test_follows_additions_and_removals(filled: Index, tmp_path: Path,
                                        embedder: FakeEmbedder) -> None:
    ingest([write_jsonl(tmp_path / "b.jsonl", invented_articles(50)[40:])], filled, embedder)
    assert filled.counts()["articles"] == 50 and filled.vectors_current()
    assert_exact(filled, embedder)
    assert filled.remove(["story-1", "story-5", "story-44"]) == 4  # story-5 with its copy
    filled.commit_vectors()
    assert filled.vectors_current()
    assert_exact(filled, embedder)
    assert filled.vectors.describe().get("chunks", filled.counts()["chunks"]) == \
        filled.counts()["chunks"]


def test_never_searches_a_stale_state(filled: Index, embedder: FakeEmbedder) -> None:
    """A write the backend has not followed is either refused (a shared store: sync it) or
    searched afresh from SQLite (the folder's file is rebuilt): never answered from before."""
    filled.remove(["story-2"])
    assert not filled.vectors_current()
    query = embedder.embed(["Riverton ferry"])[0]
    try:
        hits = filled.search_dense(query, 5, Filters())
    except NewsqaError as exc:
        assert "index sync" in (exc.hint or "")
    else:
        assert hits == exact(filled, query, 5, Filters()) or np.allclose(
            [s for _, s in hits], [s for _, s in exact(filled, query, 5, Filters())])
    filled.commit_vectors()
    assert filled.vectors_current()
    assert_exact(filled, embedder)


def test_survives_reopening(filled: Index, index_path: Path, embedder: FakeEmbedder,
                            backend: Backend) -> None:
    filled.close()
    with open_index(index_path, embedder, write=False) as index:
        index.attach(backend(index))
        assert index.vectors_current()
        assert assert_exact(index, embedder) > 50


def test_describes_itself(filled: Index) -> None:
    described = filled.vectors.describe()
    assert described["uri"] == filled.vectors.uri
    assert filled.info()["vector_store"] == described
    assert filled.vectors.synced(filled.feed) == filled.generation()
