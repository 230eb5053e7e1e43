"""The folder's FAISS file grows with what an ingest adds (issue 18): it is updated from the
store's change feed, not rebuilt, and its inverted file is trained once and again only when the
store has grown well past it. Whatever the path, searches find what an exact search finds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qa.ingest.pipeline import ingest, remove_articles
from qa.store.index import Index
from qa.store.vectors import faiss as faiss_file
from tests.conftest import FakeEmbedder, open_index
from tests.test_milvus import invented_articles, write_jsonl
from tests.test_vector_backends import assert_exact

STORIES = invented_articles(80)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The chunk count of every full build of the vectors, in order."""
    seen: list[int] = []
    real = faiss_file.build

    def counted(feed: Any) -> Any:
        seen.append(feed.chunk_count())
        return real(feed)

    monkeypatch.setattr(faiss_file, "build", counted)
    return seen


@pytest.fixture
def index(index_path: Path, embedder: FakeEmbedder) -> Iterator[Index]:
    with open_index(index_path, embedder) as opened:
        yield opened


def _add(index: Index, embedder: FakeEmbedder, folder: Path, start: int, stop: int) -> None:
    ingest([write_jsonl(folder / f"{start}-{stop}.jsonl", STORIES[start:stop])], index, embedder)
    assert index.vectors_current()


def _held(index: Index) -> Any:
    """The vectors file as a new reader would find it."""
    import faiss

    return faiss.read_index(str(index.path / "vectors.faiss"))


def test_an_ingest_adds_to_the_file_and_a_removal_takes_out(
        index: Index, embedder: FakeEmbedder, tmp_path: Path, builds: list[int]) -> None:
    _add(index, embedder, tmp_path, 0, 20)
    assert len(builds) == 1  # the first ingest has no file to add to
    _add(index, embedder, tmp_path, 20, 30)
    _add(index, embedder, tmp_path, 30, 40)
    assert len(builds) == 1
    assert _held(index).ntotal == index.counts()["chunks"]
    assert_exact(index, embedder)

    remove_articles(index, lambda: embedder, ["story-3", "story-25"])
    assert len(builds) == 1
    assert index.counts()["articles"] == 38
    assert _held(index).ntotal == index.counts()["chunks"]
    assert_exact(index, embedder)


def test_a_new_reader_searches_the_updated_file(
        index_path: Path, embedder: FakeEmbedder, tmp_path: Path, builds: list[int]) -> None:
    with open_index(index_path, embedder) as index:
        _add(index, embedder, tmp_path, 0, 15)
        _add(index, embedder, tmp_path, 15, 25)
    assert len(builds) == 1
    with open_index(index_path, embedder, write=False) as reader:
        assert reader.vectors_current()
        assert_exact(reader, embedder)
    assert len(builds) == 1  # the reader trusted the file: its digest is the one recorded


def test_a_file_this_index_did_not_write_is_not_built_on(
        index: Index, embedder: FakeEmbedder, tmp_path: Path, builds: list[int]) -> None:
    import faiss

    _add(index, embedder, tmp_path, 0, 20)
    stranger = faiss.IndexIDMap2(faiss.IndexFlatIP(index.dim))
    faiss.write_index(stranger, str(index.path / "vectors.faiss"))
    index.vectors.close()  # as a new process would start: nothing held in memory
    _add(index, embedder, tmp_path, 20, 25)
    assert len(builds) == 2  # rebuilt from SQLite, not added to the stranger's file
    assert _held(index).ntotal == index.counts()["chunks"]
    assert_exact(index, embedder)


def test_a_full_sync_rebuilds(index: Index, embedder: FakeEmbedder, tmp_path: Path,
                              builds: list[int]) -> None:
    _add(index, embedder, tmp_path, 0, 10)
    index.commit_vectors(full=True)
    assert len(builds) == 2
    assert_exact(index, embedder)


def test_the_inverted_file_is_trained_once_then_again_past_twice(
        index: Index, embedder: FakeEmbedder, tmp_path: Path, builds: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    _add(index, embedder, tmp_path, 0, 10)
    exact_up_to = index.counts()["chunks"] + 5
    monkeypatch.setattr(faiss_file, "EXACT_UP_TO", exact_up_to)
    assert not isinstance(_held(index), faiss.IndexIVF)

    _add(index, embedder, tmp_path, 10, 20)  # crosses the threshold: trained here
    trained_on = index.counts()["chunks"]
    assert trained_on > exact_up_to
    assert builds[-1] == trained_on and isinstance(_held(index), faiss.IndexIVF)
    assert index.manifest.get(faiss_file.TRAINED_ON) == trained_on

    _add(index, embedder, tmp_path, 20, 30)  # grown, but not twice: added to, not trained
    assert index.counts()["chunks"] <= 2 * trained_on
    assert builds[-1] == trained_on and isinstance(_held(index), faiss.IndexIVF)
    assert_exact(index, embedder)

    _add(index, embedder, tmp_path, 30, 60)  # past twice: trained again
    assert index.counts()["chunks"] > 2 * trained_on
    assert builds[-1] == index.counts()["chunks"]
    assert index.manifest.get(faiss_file.TRAINED_ON) == index.counts()["chunks"]
    assert_exact(index, embedder)


def test_doctor_finds_nothing_wrong_with_vectors_updated_in_place(
        index: Index, embedder: FakeEmbedder, tmp_path: Path, builds: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    from qa.store.doctor import check

    _add(index, embedder, tmp_path, 0, 20)
    _add(index, embedder, tmp_path, 20, 30)
    remove_articles(index, lambda: embedder, ["story-4"])
    # Exact vectors updated in place are byte for byte what a fresh build writes.
    fresh = tmp_path / "fresh.faiss"
    faiss.write_index(faiss_file.build(index.feed), str(fresh))
    assert fresh.read_bytes() == (index.path / "vectors.faiss").read_bytes()

    monkeypatch.setattr(faiss_file, "EXACT_UP_TO", index.counts()["chunks"] - 1)
    _add(index, embedder, tmp_path, 30, 35)  # trained here
    _add(index, embedder, tmp_path, 35, 40)  # added to the inverted file
    remove_articles(index, lambda: embedder, ["story-31"])
    assert isinstance(_held(index), faiss.IndexIVF)
    assert check(index).problems == []

    # A stranger's file is still told apart, however well formed.
    stranger = faiss.IndexIDMap2(faiss.IndexFlatIP(index.dim))
    faiss.write_index(stranger, str(index.path / "vectors.faiss"))
    assert any("does not hold the store's vectors" in p for p in check(index).problems)
