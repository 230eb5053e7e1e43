"""Milvus as the vector store (qa/store/vectors/milvus.py), run against Milvus Lite in a temporary
folder: the same searches as the FAISS file, kept up to date change by change, refused when
stale."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qa.app.context import vector_store
from qa.core.errors import NewsqaError
from qa.core.records import Filters
from qa.ingest.pipeline import ingest
from qa.store.index import Index
from qa.store.vectors.milvus import MilvusVectors, collection_for, parse_uri, pushdown
from tests.conftest import open_index, run_newsqa
from tests.fakes import FakeEmbedder

OUTLETS = ["Harbor Ledger", "Evening Dispatch", "Lakeside Courier", "Valley Courier"]
TOWNS = ["Alder Bay", "Riverton", "Pinecrest", "Saltmarsh", "Northgate", "Meridian"]
THINGS = ["footbridge", "ferry", "library", "marathon", "market", "school", "tram", "harbour"]


def invented_articles(n: int, seed: int = 7) -> list[dict[str, object]]:
    """Short invented stories, each about one town and one thing, over a few months."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        town, thing = rng.choice(TOWNS), rng.choice(THINGS)
        day = f"2024-{rng.randint(1, 6):02d}-{rng.randint(1, 28):02d}"
        out.append({
            "id": f"story-{i}", "title": f"{town} {thing} news {i}", "published": day,
            "source": rng.choice(OUTLETS),
            "text": f"The {town} council met about the {thing} on day {i}. Residents asked "
                    f"how the {thing} would change their street, and officials promised a "
                    f"decision about the {thing} before the summer. Story number {i}. "
                    f"Speakers number {i * 3 + 1} and {i * 7 + 2} wanted the {thing} "
                    f"finished early; {rng.randint(2, 900)} letters reached the {town} "
                    f"office, and the vote was set for week {rng.randint(1, 52)} of the year.",
        })
    return out


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


FILTERS = [Filters(), Filters(source="ledger"), Filters(since="2024-03-01"),
           Filters(until="2024-02-15", source="courier"),
           Filters(since="2024-02-01", until="2024-04-30", source="Valley Courier"),
           Filters(source="nobody at all")]


def same_searches(index: Index, milvus: MilvusVectors, embedder: FakeEmbedder) -> int:
    """Assert that FAISS and Milvus give the same hits for a spread of questions and filters;
    returns how many hits were compared."""
    compared = 0
    for question in [f"{town} {thing}" for town in TOWNS for thing in THINGS[:3]]:
        query = embedder.embed([question])[0]
        for filters in FILTERS:
            index.attach(None)
            expected = index.search_dense(query, 8, filters)
            index.attach(milvus)
            got = index.search_dense(query, 8, filters)
            assert [h[0] for h in got] == [h[0] for h in expected] or \
                np.allclose([h[1] for h in got], [h[1] for h in expected], atol=1e-5), \
                (question, filters)
            assert np.allclose([h[1] for h in got], [h[1] for h in expected], atol=1e-5)
            compared += len(got)
    index.attach(None)
    return compared


@pytest.fixture
def built(tmp_path: Path, index_path: Path, embedder: FakeEmbedder) -> Iterator[Index]:
    archive = write_jsonl(tmp_path / "a.jsonl", invented_articles(60))
    with open_index(index_path, embedder) as index:
        ingest([archive], index, embedder)
        yield index


def test_uris_name_lite_folders_and_servers(tmp_path: Path) -> None:
    lite = parse_uri(f"milvus://{tmp_path}/v.db")
    assert lite.lite and lite.client_uri == str(tmp_path / "v.db") and lite.index_type == "FLAT"
    relative = parse_uri("milvus:vectors/v.db?collection=news")
    assert relative.lite and relative.collection == "news"
    assert relative.uri == f"milvus://{Path('vectors/v.db').resolve()}?collection=news"
    server = parse_uri("milvus://milvus.internal:19530")
    assert not server.lite and server.client_uri == "http://milvus.internal:19530"
    assert server.index_type == "HNSW"
    assert parse_uri("milvus+https://m.example:443?index=flat").client_uri == \
        "https://m.example:443"
    for bad in ("milvus:vectors/v", "milvus://h:1?shards=2", "milvus://h:1?index=IVF_PQ",
                "milvus://h:1?collection=1-bad", "qdrant://h:1"):
        with pytest.raises(NewsqaError):
            vector_store(bad, "default")
    assert vector_store("faiss", "default") is None
    assert collection_for("dev-2024") == "newsqa_dev_2024"


def test_filters_push_down_as_a_superset_and_never_inject() -> None:
    assert pushdown(Filters()) == ""
    assert pushdown(Filters(since="2024-01-02", source="Harbor Ledger")) == \
        '(day != "" and day >= "2024-01-02" and source like "%harbor ledger%") ' \
        "or recheck == true"
    # Text that could change the expression is not pushed down (SQLite decides alone).
    assert pushdown(Filters(source='x" or 1 == 1 or "')) == ""
    assert pushdown(Filters(source="100%_sure")) == ""


def test_milvus_lite_searches_exactly_as_faiss(built: Index, tmp_path: Path,
                                                 embedder: FakeEmbedder) -> None:
    milvus = MilvusVectors.from_uri(f"milvus://{tmp_path}/v.db", built.path.name)
    assert milvus.synced(built.feed) is None
    built.attach(milvus)
    assert not built.vectors_current()
    built.commit_vectors()
    assert built.vectors_current()
    assert built.manifest["vector_store"] == milvus.uri
    assert milvus.describe()["chunks"] == built.counts()["chunks"]
    assert same_searches(built, milvus, embedder) > 100
    milvus.close()


def test_sync_follows_additions_removals_and_copies(built: Index, tmp_path: Path,
                                                      embedder: FakeEmbedder) -> None:
    milvus = MilvusVectors.from_uri(f"milvus://{tmp_path}/v.db", built.path.name)
    built.attach(milvus)
    built.commit_vectors()
    # New stories, a changed story, and a syndicated copy from another outlet.
    more = invented_articles(70)[60:]
    changed = dict(invented_articles(1)[0], text="The Alder Bay ferry will stop running in "
                   "winter, the council decided after a long meeting about costs and about "
                   "the few passengers who use it after dark in the coldest months.")
    copy = dict(more[0], id="copy-of-60", source="Saltmarsh Gazette", published="2024-07-01")
    before = built.generation()
    ingest([write_jsonl(tmp_path / "b.jsonl", [*more, changed, copy])], built, embedder)
    assert built.counts()["articles"] == 70
    assert built.manifest["vector_store"] == milvus.uri and built.vectors_current()
    assert milvus.describe()["chunks"] == built.counts()["chunks"]
    # Only what changed is written: the ten new stories (one the copy's original) and the
    # changed one; and nothing when nothing changed.
    changes = built.feed.changes(before)
    assert changes is not None and len(changes[0]) == 11
    assert milvus.sync(built.feed) == 0
    same_searches(built, milvus, embedder)
    # The copy's outlet passes a filter through the original: Milvus lets it through.
    query = embedder.embed([str(more[0]["title"])])[0]
    built.attach(milvus)
    hits = built.search_dense(query, 3, Filters(source="saltmarsh"))
    assert hits and built.chunks_by_rowid([hits[0][0]])[hits[0][0]][1].id == "story-60"
    # Removal, with and without an heir.
    built.remove(["story-1", "story-2", "story-60"])
    built.commit_vectors()
    assert milvus.describe()["chunks"] == built.counts()["chunks"]
    same_searches(built, milvus, embedder)
    milvus.close()


def test_a_stale_or_foreign_store_is_refused_then_rewritten(built: Index, tmp_path: Path,
                                                             embedder: FakeEmbedder) -> None:
    uri = f"milvus://{tmp_path}/v.db?collection=shared"
    milvus = MilvusVectors.from_uri(uri, built.path.name)
    built.attach(milvus)
    built.commit_vectors()
    built.remove(["story-3"])  # committed to the store, vectors not synced
    query = embedder.embed(["Riverton ferry"])[0]
    with pytest.raises(NewsqaError, match="index sync"):
        built.search_dense(query, 5, Filters())
    built.commit_vectors()
    assert built.search_dense(query, 5, Filters())

    other = open_index(tmp_path / "indexes" / "other", embedder)
    ingest([write_jsonl(tmp_path / "c.jsonl", invented_articles(5, seed=3))], other, embedder)
    theirs = MilvusVectors.from_uri(uri, "other")
    other.attach(theirs)
    assert theirs.synced(other.feed) is None  # the collection follows the first index
    other.commit_vectors()  # written afresh for this one
    assert theirs.describe()["chunks"] == other.counts()["chunks"]
    assert milvus.synced(built.feed) is None
    with pytest.raises(NewsqaError, match="holds nothing of this index"):
        built.search_dense(query, 5, Filters())
    milvus.close()
    theirs.close()
    other.close()


def test_an_older_index_is_written_whole_then_followed(built: Index, tmp_path: Path,
                                                        embedder: FakeEmbedder) -> None:
    """An index made before changes were noted (no log) is written whole the first time."""
    built.conn.execute("UPDATE meta SET value = '99' WHERE key = 'changes_from'")
    milvus = MilvusVectors.from_uri(f"milvus://{tmp_path}/v.db", built.path.name)
    built.attach(milvus)
    built.commit_vectors()
    assert built.feed.changes(0) is None
    assert milvus.describe()["chunks"] == built.counts()["chunks"]
    same_searches(built, milvus, embedder)
    milvus.close()


def test_cli_sync_info_doctor_and_switching_back(tmp_path: Path) -> None:
    """`newsqa index sync --store` through the real command (the fake embedder's index is
    written by the library; the commands need no model)."""
    embedder = FakeEmbedder()
    index = open_index(tmp_path / "indexes" / "default", embedder)
    ingest([write_jsonl(tmp_path / "a.jsonl", invented_articles(20))], index, embedder)
    index.close()
    uri = "milvus:vectors/milvus.db"
    result = run_newsqa(tmp_path, "index", "sync", "--store", uri)
    assert result.returncode == 0, result.stderr
    info = json.loads(run_newsqa(tmp_path, "index", "info", "--json").stdout)
    assert info["vector_store"]["engine"] == "Milvus Lite"
    assert info["vector_store"]["chunks"] == info["chunks"]
    doctor = run_newsqa(tmp_path, "index", "doctor")
    assert doctor.returncode == 0 and "sound" in doctor.stdout, doctor.stdout + doctor.stderr
    back = run_newsqa(tmp_path, "index", "sync", "--store", "faiss")
    assert back.returncode == 0, back.stderr
    info = json.loads(run_newsqa(tmp_path, "index", "info", "--json").stdout)
    assert info["vector_store"]["uri"] == "faiss"
    bad = run_newsqa(tmp_path, "index", "info", "--store", "milvus:nowhere")
    assert bad.returncode == 1 and "must end in .db" in bad.stderr
    # A server that does not answer: info still describes the index, and says so.
    down = run_newsqa(tmp_path, "index", "info", "--json", "--store", "milvus://127.0.0.1:9")
    assert down.returncode == 0, down.stderr
    assert "127.0.0.1:9" in json.loads(down.stdout)["vector_store"]["error"]
