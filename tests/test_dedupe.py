"""Syndicated copies: recognised, folded into one article that remembers its carriers, filtered
on, removed and promoted without losing anything. The story is invented for these tests."""

import json
from pathlib import Path
from typing import Any

import pytest

from qa.answer.pipeline import ask
from qa.core.records import Article, Filters
from qa.ingest.copies import band_keys, copy_similarity, shingles
from qa.ingest.pipeline import IngestReport, ingest, remove_articles
from qa.search.retrieve import RetrieveParams, retrieve
from qa.store.doctor import check
from qa.store.index import Index
from tests.conftest import open_index
from tests.fakes import FakeEmbedder, FakeGenerator

WIRE = (
    "The Port of Alder Bay will close its northern container terminal for six weeks from "
    "Monday while cranes are replaced, the port authority said on Thursday. Ships due at the "
    "terminal will be sent to the southern quay, where two extra shifts have been added. The "
    "authority expects delays of up to a day for some cargo. The new cranes, built in "
    "Rotterdam, can lift forty tonnes each and will double the terminal's hourly capacity, "
    "according to the harbour master, Ines Varga. Dock workers' unions said they had been "
    "consulted and supported the schedule. The work is part of a larger upgrade paid for by a "
    "regional transport fund."
)


def _story(source: str, published: str, slug: str, title: str, text: str = WIRE,
           ) -> dict[str, Any]:
    return {"url": f"https://{slug}.example/port-cranes", "title": title, "source": source,
            "published": published, "text": text}


HARBOR = _story("Harbor Ledger", "2024-05-02", "harbor", "Alder Bay port to swap cranes")
VALLEY = _story("Valley Courier", "2024-05-03", "valley", "Port terminal closes for new cranes",
                WIRE.replace("regional transport fund.", "regional transport fund set up in "
                             "2019."))
LAKESIDE = _story("Lakeside Courier", "2024-05-01", "lakeside", "Cranes coming to Alder Bay",
                  WIRE.replace("up to a day", "as much as a day"))
OTHER = {"url": "https://harbor.example/marathon", "title": "Riverton marathon results",
         "source": "Harbor Ledger", "published": "2024-05-02",
         "text": "Orlin Maddox won the Riverton Marathon on Sunday in 2 hours and 19 minutes. "
                 "Sigrid Paulsen won the women's race. More than 3,000 runners took part."}


def _write(path: Path, *records: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _ingest(index_path: Path, embedder: FakeEmbedder, *paths: Path) -> IngestReport:
    with open_index(index_path, embedder) as index:
        return ingest(list(paths), index, embedder, batch_size=8, rescan=True)


def _sources(index: Index) -> list[str]:
    return sorted(r[0] for r in index.conn.execute("SELECT source FROM articles"))


def _article(record: dict[str, Any]) -> Article:
    return Article(id=record["url"], text=record["text"], title=record["title"],
                   source=record["source"], published=record["published"])


def test_copy_similarity_rules() -> None:
    harbor, valley, other = _article(HARBOR), _article(VALLEY), _article(OTHER)
    similarity = copy_similarity(valley, harbor)
    assert similarity is not None and 0.8 <= similarity < 1.0
    assert copy_similarity(other, harbor) is None
    # One outlet printing the same body under another headline is a template, not a copy.
    template = Article(id="t", text=WIRE, title="Tide tables for May", source="Harbor Ledger")
    assert copy_similarity(template, harbor) is None
    # Briefs are too short to call copies, however alike.
    brief = "Cranes will be replaced at the northern terminal."
    assert copy_similarity(Article(id="a", text=brief), Article(id="b", text=brief)) is None
    assert band_keys(brief) == [] and len(band_keys(WIRE)) == 20
    assert band_keys(WIRE) == band_keys(WIRE)  # stable across calls (stored in the index)
    assert len(shingles("one two three four")) == 2


def test_a_syndicated_copy_is_folded_into_the_stored_article(
        index_path: Path, tmp_path: Path, embedder: FakeEmbedder) -> None:
    report = _ingest(index_path, embedder, _write(tmp_path / "a.jsonl", HARBOR, OTHER, VALLEY))
    assert (report.added, report.copies, report.rejected) == (2, 1, [])
    with open_index(index_path, embedder) as index:
        assert _sources(index) == ["Harbor Ledger", "Harbor Ledger"]
        harbor_id = index.find(urls=[HARBOR["url"]])[0]
        (carrier,) = index.carriers([harbor_id])[harbor_id]
        assert (carrier.source, carrier.published, carrier.url) == (
            "Valley Courier", "2024-05-03", VALLEY["url"])
        assert index.info()["copies"] == 1
        assert index.info()["copy_outlets"] == {"Valley Courier": 1}
        assert not check(index).problems
    # Re-ingesting stores nothing and embeds nothing.
    calls = embedder.calls
    again = _ingest(index_path, embedder, tmp_path / "a.jsonl")
    assert (again.added, again.copies, again.unchanged) == (0, 0, 3)
    assert embedder.calls == calls


def test_an_earlier_copy_becomes_the_article_retrieval_sees(
        index_path: Path, tmp_path: Path, embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, _write(tmp_path / "a.jsonl", HARBOR, VALLEY))
    report = _ingest(index_path, embedder, _write(tmp_path / "b.jsonl", LAKESIDE))
    assert (report.added, report.copies) == (1, 1)  # the stored one became its copy
    with open_index(index_path, embedder) as index:
        assert _sources(index) == ["Lakeside Courier"]
        lake_id = index.find(urls=[LAKESIDE["url"]])[0]
        carried = index.carriers([lake_id])[lake_id]
        assert [(c.source, c.published) for c in carried] == [
            ("Harbor Ledger", "2024-05-02"), ("Valley Courier", "2024-05-03")]
        # Only the canonical article has chunks; its copies keep their own text whole.
        assert index.counts()["articles"] == 1
        copy = index.syndicated_copy(index.find(urls=[VALLEY["url"]])[0])
        assert copy is not None and copy.text == VALLEY["text"]
        assert not check(index).problems


def test_filters_match_an_article_through_its_copies(
        index_path: Path, tmp_path: Path, embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, _write(tmp_path / "a.jsonl", HARBOR, OTHER, VALLEY))
    question = "Which terminal will close while cranes are replaced?"
    with open_index(index_path, embedder, write=False) as index:
        vector = embedder.embed([question])[0]
        params = RetrieveParams(k=5)

        def found(filters: Filters) -> set[str | None]:
            return {h.article.source for h in retrieve(index, question, vector, filters, params)
                    if "cranes" in h.article.text}

        assert found(Filters(source="valley")) == {"Harbor Ledger"}
        assert found(Filters(source="valley", until="2024-05-02")) == set()  # its copy is later
        assert found(Filters(since="2024-05-03")) == {"Harbor Ledger"}
        assert found(Filters(source="evening")) == set()


def test_an_answer_says_who_else_carried_the_story(
        index_path: Path, tmp_path: Path, embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, _write(tmp_path / "a.jsonl", HARBOR, VALLEY, OTHER))
    generator = FakeGenerator({"terminal": "The northern container terminal [1]"})
    with open_index(index_path, embedder, write=False) as index:
        answer = ask("Which terminal will the Port of Alder Bay close?", index=index,
                     embedder=embedder, generator=generator)
    assert answer.answerable, answer.answer
    (citation,) = answer.citations
    assert citation.source == "Harbor Ledger"
    carried = answer.to_json()["citations"][0]["also_carried_by"]
    assert [(c["source"], c["url"]) for c in carried] == [("Valley Courier", VALLEY["url"])]


def test_removing_an_article_promotes_its_copy(
        index_path: Path, tmp_path: Path, embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, _write(tmp_path / "a.jsonl", LAKESIDE, HARBOR, VALLEY, OTHER))
    with open_index(index_path, embedder) as index:
        gone = index.find(sources=["Lakeside Courier"])
        heirs = index.successors(gone)
        (heir,) = heirs.values()
        assert heir.article.source == "Harbor Ledger"  # the earliest remaining copy
        assert remove_articles(index, lambda: embedder, gone) == (1, 1)
        harbor_id = index.find(urls=[HARBOR["url"]])[0]
        assert index.article(harbor_id) is not None
        assert [c.source for c in index.carriers([harbor_id])[harbor_id]] == ["Valley Courier"]
        assert index.counts()["articles"] == 2
        assert not check(index).problems
        # Removing a copy by its outlet removes only the copy.
        assert index.remove(index.find(sources=["valley courier"])) == 1
        assert index.carriers([harbor_id]) == {}
        assert index.counts()["articles"] == 2


def test_removing_an_article_with_its_copies_leaves_nothing_behind(
        index_path: Path, tmp_path: Path, embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, _write(tmp_path / "a.jsonl", HARBOR, VALLEY))
    with open_index(index_path, embedder) as index:
        everything = index.find(urls=[HARBOR["url"], VALLEY["url"]])
        assert index.successors(everything) == {}
        assert index.remove(everything) == 2
        assert index.info()["copies"] == 0 and index.counts()["articles"] == 0


def test_an_older_version_of_a_url_does_not_replace_the_newer(
        index_path: Path, tmp_path: Path, embedder: FakeEmbedder) -> None:
    newer = {**OTHER, "published": "2024-05-03", "text": OTHER["text"] + " Results are final."}
    _ingest(index_path, embedder, _write(tmp_path / "new.jsonl", newer))
    report = _ingest(index_path, embedder, _write(tmp_path / "old.jsonl", OTHER))
    assert (report.added, report.updated, report.older) == (0, 0, 1)
    later = {**newer, "published": "2024-05-04", "text": newer["text"] + " Prizes were paid."}
    report = _ingest(index_path, embedder, _write(tmp_path / "later.jsonl", later))
    assert report.updated == 1
    with open_index(index_path, embedder, write=False) as index:
        (stored_id,) = index.find(urls=[OTHER["url"]])
        stored = index.article(stored_id)
        assert stored is not None and stored.text.endswith("Prizes were paid.")


def test_an_index_from_before_copies_gets_its_keys(
        index_path: Path, tmp_path: Path, embedder: FakeEmbedder) -> None:
    _ingest(index_path, embedder, _write(tmp_path / "a.jsonl", HARBOR))
    with open_index(index_path, embedder) as index:  # make it look like an older store
        index.conn.execute("DELETE FROM bands")
        index.conn.execute("DELETE FROM meta WHERE key = 'copy_keys'")
    report = _ingest(index_path, embedder, _write(tmp_path / "b.jsonl", VALLEY))
    assert report.copies == 1


@pytest.mark.parametrize("order", [(HARBOR, VALLEY), (VALLEY, HARBOR)])
def test_copies_in_one_batch_are_found(index_path: Path, tmp_path: Path,
                                       embedder: FakeEmbedder, order: tuple[dict[str, Any], ...],
                                       ) -> None:
    report = _ingest(index_path, embedder, _write(tmp_path / "a.jsonl", *order))
    assert (report.added, report.copies) == (1, 1)
    with open_index(index_path, embedder, write=False) as index:
        assert _sources(index) == ["Harbor Ledger"]  # the earlier one, whatever the order


def test_the_same_day_copy_with_a_headline_stands_for_the_story(
        index_path: Path, tmp_path: Path, embedder: FakeEmbedder) -> None:
    untitled = {**HARBOR, "title": ""}
    titled = {**VALLEY, "published": HARBOR["published"]}
    report = _ingest(index_path, embedder, _write(tmp_path / "a.jsonl", untitled, titled))
    assert (report.added, report.copies) == (1, 1)
    with open_index(index_path, embedder, write=False) as index:
        assert _sources(index) == ["Valley Courier"]
