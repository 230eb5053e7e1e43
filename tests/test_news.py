"""News-aware answering: the newest report for "latest" questions, outlets that disagree."""

import json
from pathlib import Path

import pytest

from qa.answer.news import wants_latest
from qa.answer.pipeline import ask
from qa.core.records import Filters
from qa.ingest.pipeline import ingest
from tests.conftest import open_index
from tests.fakes import FakeEmbedder, FakeGenerator

FLOOD = [
    {"url": "https://wire.example/2024/05/01/flood", "title": "Alder Bay flood forces evacuations",
     "published": "2024-05-01", "source": "Northgate Wire",
     "text": "The Alder Bay flood has displaced 1,200 residents, officials said on Wednesday. "
             "Shelters opened at two schools near the river."},
    {"url": "https://ledger.example/2024/05/04/flood", "title": "Alder Bay flood worsens",
     "published": "2024-05-04", "source": "Harbor Ledger",
     "text": "Officials said on Saturday that the Alder Bay flood has now displaced 3,400 "
             "residents. The river crested overnight after three days of rain."},
    {"url": "https://courier.example/2024/05/02/ferry", "title": "Ferry timetable changes",
     "published": "2024-05-02", "source": "Lakeside Courier",
     "text": "The Riverton ferry will run every 40 minutes from June, the operator said."},
]
QUESTION = "How many residents has the Alder Bay flood displaced so far?"


def _built(folder: Path, articles: list[dict[str, str]], embedder: FakeEmbedder) -> Path:
    archive = folder / "archive.jsonl"
    archive.write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    with open_index(folder / "index", embedder) as index:
        ingest([archive], index, embedder)
    return folder / "index"


@pytest.fixture
def flood(tmp_path: Path, embedder: FakeEmbedder) -> Path:
    return _built(tmp_path, FLOOD, embedder)


def test_questions_about_the_latest_state_are_recognised() -> None:
    for question in (QUESTION, "What is the latest death toll?", "Who currently leads the party?",
                     "What is the most recent forecast?", "Is the bridge still closed?"):
        assert wants_latest(question), question
    for question in ("How many residents did the flood displace on May 1?",
                     "Who won the Riverton Marathon?", "What did the council decide?"):
        assert not wants_latest(question), question


def test_the_newest_report_wins_and_a_different_figure_is_noted(flood: Path,
                                                                embedder: FakeEmbedder) -> None:
    generator = FakeGenerator({"displaced": "3,400 residents"})
    with open_index(flood, embedder, write=False) as index:
        answer = ask(QUESTION, index=index, embedder=embedder, generator=generator)
    assert answer.answerable and answer.answer == "3,400 residents [1]."
    # The newest report's sentence is first in the evidence, and the generator read it last.
    assert answer.evidence[0].article.published == "2024-05-04"
    context = generator.prompts[0].rsplit("Context:", 1)[1]
    assert context.index("3,400") > context.index("1,200")
    first, other = answer.citations
    assert (first.source, other.source) == ("Harbor Ledger", "Northgate Wire")
    assert "1,200 residents" in other.quote
    assert answer.notes == (
        "An earlier report (Northgate Wire, 2024-05-01) gave 1,200 residents [2]; the answer "
        "rests on Harbor Ledger, 2024-05-04 [1].",
        "Latest report: Harbor Ledger, 2024-05-04 [1].",
    )
    assert answer.to_json()["notes"] == list(answer.notes)


def test_the_older_figure_is_answered_as_of_its_day(flood: Path, embedder: FakeEmbedder) -> None:
    generator = FakeGenerator({"displaced": "1,200 residents"})
    with open_index(flood, embedder, write=False) as index:
        answer = ask(QUESTION, index=index, embedder=embedder, generator=generator,
                     filters=Filters().ending("2024-05-02"))
    assert answer.answer == "1,200 residents [1]."
    assert [c.published for c in answer.citations] == ["2024-05-01"]  # the later one is out
    assert answer.notes == ("Latest report: Northgate Wire, 2024-05-01 [1].",)


def test_a_later_report_with_another_figure_says_the_answer_may_be_out_of_date(
        flood: Path, embedder: FakeEmbedder) -> None:
    # Not a "latest" question, and the answer rests on the older report: the newer figure is
    # named as later, not as a dispute between outlets.
    generator = FakeGenerator({"displaced": "1,200 residents"})
    with open_index(flood, embedder, write=False) as index:
        answer = ask("How many residents has the Alder Bay flood displaced?", index=index,
                     embedder=embedder, generator=generator)
    assert answer.answer == "1,200 residents [1]."
    assert answer.notes == ("A later report (Harbor Ledger, 2024-05-04) gives 3,400 residents "
                            "[2]; the answer rests on an earlier one (Northgate Wire, "
                            "2024-05-01) [1].",)


def test_no_notes_without_a_latest_question_or_another_figure(flood: Path,
                                                             embedder: FakeEmbedder) -> None:
    generator = FakeGenerator({"ferry": "every 40 minutes", "rain": "three days"})
    with open_index(flood, embedder, write=False) as index:
        ferry = ask("How often will the Riverton ferry run from June?", index=index,
                    embedder=embedder, generator=generator)
        rain = ask("How many days of rain came before the Alder Bay river crested?",
                   index=index, embedder=embedder, generator=generator)
    assert ferry.answerable and ferry.notes == ()
    assert rain.answerable and rain.notes == ()  # no other outlet gives a figure for days


def test_two_outlets_that_disagree_on_the_same_day_are_both_cited(tmp_path: Path,
                                                                  embedder: FakeEmbedder) -> None:
    same_day = [FLOOD[1], {**FLOOD[0], "published": "2024-05-04", "text": (
        "The Alder Bay flood has displaced 2,900 residents, the county said on Saturday. "
        "Volunteers filled sandbags at the harbour.")}]
    generator = FakeGenerator({"displaced": "3,400 residents"})
    with open_index(_built(tmp_path, same_day, embedder), embedder, write=False) as index:
        answer = ask("How many residents has the Alder Bay flood displaced?", index=index,
                     embedder=embedder, generator=generator)
    assert answer.answer == "3,400 residents [1]."
    assert answer.notes == ("Reports differ: Northgate Wire, 2024-05-04 gives 2,900 residents "
                            "[2]; Harbor Ledger, 2024-05-04 gives 3,400 residents [1].",)
    assert [c.source for c in answer.citations] == ["Harbor Ledger", "Northgate Wire"]
    assert "2,900 residents" in answer.citations[1].quote


STORM = [
    {"url": "https://ledger.example/2024/11/25/storm", "title": "Storm damages 140 homes",
     "published": "2024-11-25", "source": "Harbor Ledger",
     "text": "An initial survey found 140 homes with storm damage in Alder Bay, the emergency "
             "manager said. Power was cut to thousands of customers."},
    {"url": "https://ledger.example/2024/12/02/storm-update", "title": "Storm damage count rises",
     "published": "2024-12-02", "source": "Harbor Ledger",
     "text": "Inspectors have now counted 212 damaged homes in Alder Bay, up from the "
             "preliminary figure of 140 reported last week. The seawall repairs will cost "
             "$2.4 million."},
    {"url": "https://dispatch.example/2024/12/04/mayor", "title": "Vance elected mayor",
     "published": "2024-12-04", "source": "Evening Dispatch",
     "text": "Teodora Vance won the Alder Bay runoff. The storm, which damaged more than 200 "
             "homes in Alder Bay, drew attention to the race."},
]
LATEST_COUNT = "What is the latest count of homes damaged by the Alder Bay storm?"


def test_the_latest_count_is_the_revised_figure_and_the_note_quotes_both(
        tmp_path: Path, embedder: FakeEmbedder) -> None:
    index_path = _built(tmp_path, STORM, embedder)
    with open_index(index_path, embedder, write=False) as index:
        stale = ask(LATEST_COUNT, index=index, embedder=embedder,
                    generator=FakeGenerator(default="140 homes"))
        fresh = ask(LATEST_COUNT, index=index, embedder=embedder,
                    generator=FakeGenerator(default="212 homes"))
    # The older count is no answer to a question about the latest one.
    assert not stale.answerable or "140" not in stale.answer
    assert fresh.answerable and fresh.answer.startswith("212 homes [")
    assert ("Revised figure: 212 damaged homes in Alder Bay, up from the preliminary figure of "
            "140 [1].") in fresh.notes or any(
        "212 damaged" in n and "preliminary figure of 140" in n for n in fresh.notes)
    # "more than 200 homes" agrees with 212: not a disagreement, and never shortened to "200".
    assert not any("200 homes" in n and "more than" not in n for n in fresh.notes)
    assert not any(n.startswith("Reports differ") for n in fresh.notes)


def test_a_number_followed_by_a_preposition_counts_nothing() -> None:
    from qa.answer.news import _figures

    assert _figures("$150,000 toward the library expansion") == []
    assert {units for _, _, units in _figures("a $1.5 million state library grant")} == \
        {frozenset({"state", "library"})}
    assert _figures("212 damaged homes")[0][2] == frozenset({"damaged", "homes"})


def test_a_later_round_figure_does_not_hide_the_exact_count_it_agrees_with(
        tmp_path: Path, embedder: FakeEmbedder) -> None:
    index_path = _built(tmp_path, STORM, embedder)
    latest = "How many homes did the Alder Bay storm damage, at the latest count?"
    plain = "How many homes did the storm damage according to the runoff story?"
    with open_index(index_path, embedder, write=False) as index:
        answers = [ask(q, index=index, embedder=embedder,
                       generator=FakeGenerator(default="200 homes"))
                   for q in (latest, LATEST_COUNT, plain)]
    for answer in answers[:2]:
        # The Dec. 4 story's "more than 200" agrees with the Dec. 2 count: that count answers.
        assert answer.answerable and answer.answer.startswith("212"), answer.answer
        assert answer.citations[0].published == "2024-12-02"
    # Not asked for the latest: the figure as the cited story gives it, hedge and all.
    assert answers[2].answerable and answers[2].answer.startswith("more than 200 homes")


def test_a_citation_marker_is_not_the_answers_figure() -> None:
    from qa.answer.news import exact_figure, superseded
    from qa.answer.verify import Verified
    from qa.core.records import Article, Citation, Evidence

    quote = "The fire displaced more than 1 million residents, officials said."
    cited = Citation(key=1, article_id="a", url=None, title="", source="Northgate Wire",
                     published="2024-12-01", quote=quote)
    later = "Officials counted 3 displaced residents at the shelter."
    evidence = [Evidence(key=1, article=Article(id="b", text=later, published="2024-12-04"),
                         start=0, end=len(later), score=1.0)]
    # "5 [1]": its figure is 5; the marker's 1 is neither hedged by the quote nor revised later.
    assert exact_figure(Verified("5 [1].", (cited,), True), evidence) is None
    assert not superseded(Verified("5 [1].", (cited,), True), evidence)
