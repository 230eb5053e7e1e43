import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from qa.core.errors import NewsqaError
from qa.core.records import Filters
from qa.ingest.pipeline import file_mark, ingest
from qa.store.index import MANIFEST, VECTORS, EmbedderSpec, Index, StoredArticle
from tests.conftest import ARTICLES, open_index
from tests.fakes import FakeEmbedder


def _ingest(index_path: Path, embedder: FakeEmbedder, *paths: Path):  # type: ignore[no-untyped-def]
    with open_index(index_path, embedder) as index:
        return ingest(list(paths), index, embedder)


def test_ingest_then_reingest_changes_nothing(index_path: Path, archive: Path,
                                              embedder: FakeEmbedder) -> None:
    first = _ingest(index_path, embedder, archive)
    assert (first.added, first.unchanged, first.rejected) == (3, 0, [])
    before = {p.name: p.read_bytes() for p in index_path.iterdir() if p.suffix == ".faiss"}
    manifest = json.loads((index_path / MANIFEST).read_text())
    assert manifest["counts"] == {"articles": 3, "chunks": first.chunks}
    assert manifest["embedder"] == {"name": embedder.name, "dim": embedder.dim, "precision": "fp32"}
    assert manifest["chunking"] == {"max_words": 30, "overlap_sentences": 1}

    calls = embedder.calls
    second = _ingest(index_path, embedder, archive)
    assert (second.files, second.files_unchanged, second.unchanged) == (0, 1, 0)  # not read
    with open_index(index_path, embedder) as index:
        third = ingest([archive], index, embedder, rescan=True)
    assert (third.files, third.added, third.updated, third.unchanged) == (1, 0, 0, 3)
    assert embedder.calls == calls  # nothing re-embedded
    after = {p.name: p.read_bytes() for p in index_path.iterdir() if p.suffix == ".faiss"}
    assert after == before
    assert json.loads((index_path / MANIFEST).read_text())["generation"] == manifest["generation"]


def test_a_changed_article_replaces_the_stored_one(index_path: Path, archive: Path,
                                                   embedder: FakeEmbedder, tmp_path: Path) -> None:
    _ingest(index_path, embedder, archive)
    changed = dict(ARTICLES[1], text="Orlin Maddox won the Riverton Marathon in record time.")
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps(changed) + "\n", encoding="utf-8")
    report = _ingest(index_path, embedder, newer)
    assert (report.added, report.updated) == (0, 1)
    with open_index(index_path, embedder, write=False) as index:
        assert index.counts()["articles"] == 3
        hits = index.search_lexical("record time", 10, Filters())
        assert len(hits) == 1
        old = index.search_lexical("women's race", 10, Filters())
        assert old == []  # the old chunks are gone from every table


def test_filters_restrict_both_rankers(index_path: Path, archive: Path,
                                       embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, archive)
    with open_index(index_path, embedder, write=False) as index:
        query = embedder.embed(["footbridge"])[0]

        def outlets(filters: Filters) -> set[str]:
            rows = index.search_dense(query, 10, filters) + index.search_lexical(
                "footbridge", 10, filters)
            found = index.chunks_by_rowid([r for r, _ in rows])
            return {str(article.source) for _, article in found.values()}

        assert outlets(Filters()) >= {"Harbor Ledger", "Lakeside Courier"}
        march = outlets(Filters(until="2024-03-31"))
        assert "Harbor Ledger" in march and "Lakeside Courier" not in march
        assert outlets(Filters(since="2024-04-01")) == {"Lakeside Courier"}
        assert outlets(Filters(source="harbor")) == {"Harbor Ledger"}
        assert outlets(Filters(source="nobody")) == set()


def test_a_different_embedder_is_refused(index_path: Path, archive: Path,
                                         embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, archive)
    with pytest.raises(NewsqaError, match="was built with embedder fake/bag-of-words"):
        Index.open(index_path, EmbedderSpec("other/model", 64))
    with pytest.raises(NewsqaError, match="no index at"):
        Index.open(index_path.parent / "missing", EmbedderSpec("other/model", 64))


def test_stale_or_missing_vectors_are_rebuilt_from_the_store(index_path: Path, archive: Path,
                                                             embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, archive)
    query = embedder.embed(["footbridge cost"])[0]
    with open_index(index_path, embedder, write=False) as index:
        expected = index.search_dense(query, 5, Filters())
    (index_path / VECTORS).unlink()
    with open_index(index_path, embedder, write=False) as index:
        assert index.search_dense(query, 5, Filters()) == expected
    (index_path / VECTORS).write_bytes(b"garbage")
    with open_index(index_path, embedder, write=False) as index:
        assert index.search_dense(query, 5, Filters()) == expected


def test_a_crashed_batch_leaves_the_previous_state(index_path: Path, archive: Path,
                                                   embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, archive)

    class Exploding(FakeEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt

    bad = index_path.parent / "more.jsonl"
    bad.write_text(json.dumps({"text": "A new article about ferries."}) + "\n", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt), open_index(index_path, embedder) as index:
        ingest([bad], index, Exploding())
    with open_index(index_path, embedder, write=False) as index:
        assert index.counts()["articles"] == 3


def test_one_writer_at_a_time(index_path: Path, embedder: FakeEmbedder) -> None:
    with open_index(index_path, embedder), pytest.raises(NewsqaError, match="another newsqa"):
        open_index(index_path, embedder)


def test_the_store_holds_no_pickles(index_path: Path, archive: Path,
                                    embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, archive)
    for path in index_path.iterdir():
        if path.is_file():
            assert b"\x80\x04\x95" not in path.read_bytes()  # pickle protocol-4 header
    conn = sqlite3.connect(index_path / "store.sqlite")
    blob = conn.execute("SELECT vector FROM chunks LIMIT 1").fetchone()[0]
    assert np.frombuffer(blob, dtype=np.float32).shape == (embedder.dim,)


def test_no_module_loads_pickles_or_evaluates_code() -> None:
    import re

    package = Path(__file__).resolve().parents[1] / "qa"
    for source in package.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "import pickle" not in text and "allow_pickle=True" not in text, source
        assert not re.search(r"(?<![\w.])(eval|exec)\(", text), source
        assert "yaml.load(" not in text and "torch.load(" not in text, source


def test_remove_by_id_url_and_outlet(index_path: Path, archive: Path,
                                     embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, archive)
    with open_index(index_path, embedder) as index:
        found = index.find(urls=[ARTICLES[0]["url"]], sources=["evening dispatch"])
        assert len(found) == 2
        assert index.remove(found) == 2
        index.commit_vectors()
    with open_index(index_path, embedder, write=False) as index:
        assert index.counts()["articles"] == 1
        hits = index.search_dense(embedder.embed(["marathon footbridge"])[0], 10, Filters())
        sources = {a.source for _, a in index.chunks_by_rowid([r for r, _ in hits]).values()}
        assert sources == {"Lakeside Courier"}
        assert index.search_lexical("marathon", 10, Filters()) == []


def test_doctor_finds_and_repairs_derived_parts(index_path: Path, archive: Path,
                                                embedder: FakeEmbedder) -> None:
    from qa.store.doctor import check

    _ingest(index_path, embedder, archive)
    with open_index(index_path, embedder) as index:
        assert check(index).problems == []
        index.conn.execute("DELETE FROM chunks_fts WHERE rowid = 1")
        (index_path / VECTORS).write_bytes(b"truncated")
        problems = check(index).problems
        assert any("full-text" in p for p in problems) and any(VECTORS in p for p in problems)
        repaired = check(index, repair=True)
        assert len(repaired.repaired) == 2
        assert check(index).problems == []
        assert index.search_lexical("footbridge cost", 5, Filters())


def test_a_lost_or_damaged_store_is_an_error_not_an_empty_index(
        index_path: Path, archive: Path, embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, archive)
    (index_path / "store.sqlite").rename(index_path / "moved.sqlite")
    for suffix in ("-wal", "-shm"):
        (index_path / f"store.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.raises(NewsqaError, match="no store.sqlite"):
        open_index(index_path, embedder, write=False)
    assert not (index_path / "store.sqlite").exists()  # nothing created in its place
    (index_path / "store.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(NewsqaError, match="not a readable SQLite store"):
        open_index(index_path, embedder, write=False)


def test_outlet_filters_match_literally(index_path: Path, archive: Path,
                                        embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, archive)
    with open_index(index_path, embedder, write=False) as index:
        assert index.search_lexical("footbridge", 10, Filters(source="_")) == []
        assert index.search_lexical("footbridge", 10, Filters(source="%")) == []


def test_files_read_whole_are_not_read_again_until_they_change(
        index_path: Path, archive: Path, embedder: FakeEmbedder, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ARTICLES[0]) + "\n{not json\n", encoding="utf-8")
    first = _ingest(index_path, embedder, archive, bad)
    assert (first.files, first.added, len(first.rejected)) == (2, 3, 1)
    second = _ingest(index_path, embedder, archive, bad)
    # The clean file is skipped unread; the one with a rejected line is read (and reported)
    # every time until it is fixed.
    assert (second.files, second.files_unchanged, second.unchanged) == (1, 1, 1)
    assert len(second.rejected) == 1
    changed = {**ARTICLES[1], "text": ARTICLES[1]["text"] + " Prizes were paid in full."}
    archive.write_text("".join(json.dumps(a) + "\n" for a in [ARTICLES[0], changed]),
                       encoding="utf-8")
    third = _ingest(index_path, embedder, archive)
    assert (third.files, third.updated, third.unchanged) == (1, 1, 1)
    with open_index(index_path, embedder) as index:  # a removal forgets which files were read
        index.remove(index.find(urls=[ARTICLES[0]["url"]]))
    fourth = _ingest(index_path, embedder, archive)
    assert (fourth.files, fourth.added) == (1, 1)


def test_an_interrupted_ingest_resumes(index_path: Path, tmp_path: Path,
                                       embedder: FakeEmbedder) -> None:
    records = [{"url": f"https://ledger.example/{n}", "title": f"Harbor note {n}",
                "text": f"The harbor crew repaired pier {n} on Monday and reopened it."}
               for n in range(10)]
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    class Failing(FakeEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            if self.calls == 2:
                raise KeyboardInterrupt  # the user pressed Ctrl-C during the third batch
            return super().embed(texts)

    with open_index(index_path, embedder) as index, pytest.raises(KeyboardInterrupt):
        ingest([path], index, Failing(), batch_size=3)
    with open_index(index_path, embedder, write=False) as index:
        assert index.counts()["articles"] == 6  # two whole batches were committed
        assert not index.file_done(file_mark(path, None))
    resumed = _ingest(index_path, embedder, path)
    assert (resumed.files, resumed.added, resumed.unchanged) == (1, 4, 6)
    with open_index(index_path, embedder, write=False) as index:
        assert index.counts()["articles"] == 10 and index.file_done(file_mark(path, None))


def test_past_the_exact_limit_the_vectors_are_searched_with_an_inverted_file(
        index_path: Path, embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    import qa.store.vectors.faiss
    from qa.core.records import Article
    from qa.ingest.chunking import chunk_article

    rng = np.random.default_rng(7)
    articles = [Article(id=f"a{n}", text=f"Harbor note {n} about pier {n % 9}.",
                        source="Ledger" if n % 2 else "Courier", published="2024-05-01")
                for n in range(300)]
    vectors = rng.normal(size=(300, embedder.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with open_index(index_path, embedder) as index:
        index.write_batch([StoredArticle(a, f"h{n}", None, tuple(chunk_article(a, index.chunking)),
                                         vectors[n:n + 1], ()) for n, a in enumerate(articles)])
        index.commit_vectors()
        exact = [index.search_dense(v, 10, Filters(source="ledger")) for v in vectors[:20]]
    monkeypatch.setattr(qa.store.vectors.faiss, "EXACT_UP_TO", 100)
    with open_index(index_path, embedder) as index:
        index.commit_vectors()
    with open_index(index_path, embedder, write=False) as index:
        assert isinstance(index.vectors.load(index.feed), faiss.IndexIVF)
        # 7 lists for 300 vectors, all of them probed: the same results as the exact search.
        found = [index.search_dense(v, 10, Filters(source="ledger")) for v in vectors[:20]]
        assert [[i for i, _ in r] for r in found] == [[i for i, _ in r] for r in exact]
        assert all(index.chunks_by_rowid([i])[i][1].source == "Ledger"
                   for r in found for i, _ in r)


def test_an_untitled_article_is_found_by_the_words_of_its_url(index_path: Path, tmp_path: Path,
                                                               embedder: FakeEmbedder) -> None:
    """A scrape that lost its headline and kept only page furniture is still found by its URL's
    slug, in both rankers, and after doctor rebuilds the full-text table."""
    from qa.search.retrieve import RetrieveParams, retrieve
    from qa.store.doctor import check

    furniture = "Share this page. Sign up for our newsletter. Read more stories like this one."
    records = [
        {"id": "untitled", "url": "https://news.example/2024/05/02/city/ferry-winter-plan/",
         "title": "", "text": furniture},
        {"id": "titled", "url": "https://news.example/2024/05/02/city/footbridge-vote/",
         "title": "Council votes on the Mill River footbridge", "text": furniture},
    ]
    path = tmp_path / "scraped.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    _ingest(index_path, embedder, path)
    question = "What is the ferry winter plan?"
    with open_index(index_path, embedder) as index:
        vector = embedder.embed([question])[0]
        for params in (RetrieveParams(lexical_weight=0.0), RetrieveParams(dense_weight=0.0)):
            hits = retrieve(index, question, vector, Filters(), params)
            assert hits[0].article.id == "untitled"
        index.conn.execute("DELETE FROM chunks_fts")
        assert check(index, repair=True).repaired
        hits = retrieve(index, question, vector, Filters(), RetrieveParams(dense_weight=0.0))
        assert hits[0].article.id == "untitled"
        assert hits[0].article.title == ""  # the slug finds the story; it is not its title
