"""The folder's FAISS file grows with what an ingest adds (issue 18): it is updated from the
store's change feed, not rebuilt; a small ingest writes only the recent segment beside it, merged
into the main file once it holds a tenth as much; the inverted file is trained once and again
only when the store has grown well past it. Whatever the path, searches find what an exact
search finds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.core.records import Filters
from qa.ingest.pipeline import ingest, remove_articles
from qa.store.folder import RECENT
from qa.store.index import Index
from qa.store.vectors import faiss as faiss_file
from qa.store.vectors.recent import Recent
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
    """The main vectors file as a new reader would find it."""
    import faiss

    return faiss.read_index(str(index.path / "vectors.faiss"))


def _count(index: Index) -> int:
    """How many vectors a new reader searches (the main file and the segment together)."""
    fresh = faiss_file.FaissFile(index.path, index.manifest, writer=False)
    return fresh.held_count(index.feed)


def _segment(index: Index) -> Recent:
    recent = Recent.read(index.path / RECENT, index.dim)
    assert recent is not None
    return recent


def test_an_ingest_adds_to_the_file_and_a_removal_takes_out(
        index: Index, embedder: FakeEmbedder, tmp_path: Path, builds: list[int]) -> None:
    _add(index, embedder, tmp_path, 0, 20)
    assert len(builds) == 1  # the first ingest has no file to add to
    _add(index, embedder, tmp_path, 20, 30)
    _add(index, embedder, tmp_path, 30, 40)
    assert len(builds) == 1
    assert _count(index) == index.counts()["chunks"]
    assert_exact(index, embedder)

    remove_articles(index, lambda: embedder, ["story-3", "story-25"])
    assert len(builds) == 1
    assert index.counts()["articles"] == 38
    assert _count(index) == index.counts()["chunks"]
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
    assert _count(index) == index.counts()["chunks"]
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
    assert _segment(index).gone.size  # in the segment, not yet in the main file
    assert check(index).problems == []
    # Once merged, exact vectors are byte for byte what a fresh build writes.
    _add(index, embedder, tmp_path, 30, 33)  # merged: 3 chunks gone and 9 added to 90
    assert _segment(index).ids.size == 0 and _segment(index).gone.size == 0
    fresh = tmp_path / "fresh.faiss"
    faiss.write_index(faiss_file.build(index.feed), str(fresh))
    assert fresh.read_bytes() == (index.path / "vectors.faiss").read_bytes()

    monkeypatch.setattr(faiss_file, "EXACT_UP_TO", index.counts()["chunks"] - 1)
    _add(index, embedder, tmp_path, 33, 35)  # trained here
    _add(index, embedder, tmp_path, 35, 36)  # added to the inverted file's segment
    assert _segment(index).ids.size
    remove_articles(index, lambda: embedder, ["story-31"])
    assert isinstance(_held(index), faiss.IndexIVF)
    assert check(index).problems == []

    # A stranger's file is still told apart, however well formed.
    stranger = faiss.IndexIDMap2(faiss.IndexFlatIP(index.dim))
    faiss.write_index(stranger, str(index.path / "vectors.faiss"))
    assert any("does not hold the store's vectors" in p for p in check(index).problems)


def test_a_small_ingest_writes_the_segment_and_leaves_the_main_file(
        index_path: Path, embedder: FakeEmbedder, tmp_path: Path, builds: list[int]) -> None:
    with open_index(index_path, embedder) as index:
        _add(index, embedder, tmp_path, 0, 60)
        main = (index.path / "vectors.faiss").read_bytes()
        _add(index, embedder, tmp_path, 60, 62)  # 6 chunks beside 180: the segment only
        changed = dict(STORIES[10], text="The harbour council changed its mind entirely.")
        ingest([write_jsonl(tmp_path / "changed.jsonl", [changed])], index, embedder)
        remove_articles(index, lambda: embedder, ["story-5", "story-61"])
        assert (index.path / "vectors.faiss").read_bytes() == main
        segment = _segment(index)
        assert segment.ids.size > 0 and segment.gone.size >= 3  # story-5, story-10 before
        assert builds == [180]
        assert _count(index) == index.counts()["chunks"]
        assert_exact(index, embedder)
    with open_index(index_path, embedder, write=False) as reader:  # a new process
        assert reader.vectors_current()
        assert_exact(reader, embedder)
    with open_index(index_path, embedder) as index:
        _add(index, embedder, tmp_path, 62, 80)  # past a tenth of the main file: merged
        assert (index.path / "vectors.faiss").read_bytes() != main
        assert _segment(index).ids.size == 0 and _segment(index).gone.size == 0
        assert builds == [180]
        assert _count(index) == index.counts()["chunks"]
        assert_exact(index, embedder)


def test_a_segment_this_index_did_not_write_is_reported_and_not_built_on(
        index: Index, embedder: FakeEmbedder, tmp_path: Path, builds: list[int]) -> None:
    from qa.store.doctor import check

    _add(index, embedder, tmp_path, 0, 60)
    _add(index, embedder, tmp_path, 60, 61)
    stranger = Recent.empty(np.arange(5, dtype=np.int64), index.dim)
    stranger.write(index.path / RECENT)
    index.vectors.close()  # as a new process would start: nothing held in memory
    assert any(RECENT in p and "SHA-256" in p for p in check(index).problems)
    _add(index, embedder, tmp_path, 61, 62)
    assert len(builds) == 2  # rebuilt from SQLite, not added to the stranger's segment
    assert _count(index) == index.counts()["chunks"]
    assert check(index).problems == []
    assert_exact(index, embedder)

    (index.path / RECENT).unlink()
    index.vectors.close()
    assert check(index, repair=True).problems == [f"{RECENT} is missing"]
    assert check(index).problems == []
    assert_exact(index, embedder)


def test_an_index_written_before_segments_is_added_to_without_a_rebuild(
        index: Index, embedder: FakeEmbedder, tmp_path: Path, builds: list[int]) -> None:
    _add(index, embedder, tmp_path, 0, 60)
    (index.path / RECENT).unlink()
    index.vectors.manifest.record({faiss_file.RECENT_SHA256: None})  # as code before wrote it
    index.vectors.close()
    assert index.vectors_current()
    assert_exact(index, embedder)
    _add(index, embedder, tmp_path, 60, 62)
    assert builds == [180]
    assert (index.path / RECENT).is_file() and _segment(index).ids.size
    assert_exact(index, embedder)


def test_a_fifo_in_place_of_the_segment_is_reported_and_never_waited_on(
        index: Index, embedder: FakeEmbedder, tmp_path: Path, builds: list[int]) -> None:
    import os

    from qa.store.doctor import check

    _add(index, embedder, tmp_path, 0, 60)
    (index.path / RECENT).unlink()
    os.mkfifo(index.path / RECENT)  # opened for reading, it would block until a writer came
    index.vectors.close()
    assert any(RECENT in p for p in check(index).problems)
    assert_exact(index, embedder)  # searched from the store's vectors instead
    (index.path / RECENT).unlink()
    _add(index, embedder, tmp_path, 60, 62)  # the vectors held were rebuilt, not the files:
    assert len(builds) == 3 and check(index).problems == []  # written afresh


def test_vectors_rebuilt_in_memory_are_never_taken_for_the_files(
        index_path: Path, embedder: FakeEmbedder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """After the files were not trusted (a sync that failed, a segment gone), the vectors a
    search rebuilt from the store are not the main file: the next ingest neither adds a
    segment on top of them (each chunk would be found twice) nor writes a segment for a main
    file that is not on disk (a new reader would search removed chunks)."""
    from qa.store.doctor import check

    query = embedder.embed(["council"])[0]
    with open_index(index_path, embedder) as index:
        _add(index, embedder, tmp_path, 0, 60)
        _add(index, embedder, tmp_path, 60, 61)
        real = faiss_file.FaissFile.sync

        def full_disk(self: Any, feed: Any, full: bool = False) -> int:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(faiss_file.FaissFile, "sync", full_disk)
        with pytest.raises(OSError):
            _add(index, embedder, tmp_path, 61, 62)
        monkeypatch.setattr(faiss_file.FaissFile, "sync", real)
        index.vectors.close()
        index.search_dense(query, 5, Filters())  # the files lag the store: rebuilt in memory
        _add(index, embedder, tmp_path, 62, 63)
        hits = [i for i, _ in index.search_dense(query, 1000, Filters())]
        assert len(hits) == len(set(hits)) == index.counts()["chunks"]
        assert_exact(index, embedder)

        changed = dict(STORIES[10], text="The harbour council changed its mind entirely.")
        ingest([write_jsonl(tmp_path / "changed.jsonl", [changed])], index, embedder)
        (index.path / RECENT).unlink()
        index.vectors.close()
        index.search_dense(query, 5, Filters())  # the segment is gone: rebuilt in memory
        _add(index, embedder, tmp_path, 63, 64)
    with open_index(index_path, embedder, write=False) as reader:
        hits = [i for i, _ in reader.search_dense(query, 1000, Filters())]
        assert sorted(hits) == sorted(reader.chunks_by_rowid(hits))
        assert len(hits) == reader.counts()["chunks"]
        assert_exact(reader, embedder)
        assert check(reader).problems == []


def test_a_long_lived_reader_reads_the_main_file_again_only_when_it_changed(
        index_path: Path, embedder: FakeEmbedder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    reads: list[str] = []
    real_read = faiss.read_index
    monkeypatch.setattr(faiss, "read_index", lambda path: reads.append(path) or real_read(path))
    with open_index(index_path, embedder) as index:
        _add(index, embedder, tmp_path, 0, 60)
    with open_index(index_path, embedder, write=False) as reader:  # the REPL, a server
        assert_exact(reader, embedder)
        assert len(reads) == 1
        with open_index(index_path, embedder) as index:
            _add(index, embedder, tmp_path, 60, 63)  # the segment only
        assert_exact(reader, embedder)  # the new chunks are found ...
        assert len(reads) == 1  # ... and neither the ingest nor the reader read the main file
        with open_index(index_path, embedder) as index:
            _add(index, embedder, tmp_path, 63, 80)  # merged: a new main file
        assert_exact(reader, embedder)
        assert len(reads) == 3  # the merge read it once, and the reader reads the new one
