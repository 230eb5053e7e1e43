import json
from pathlib import Path

import pytest

from qa.answer.pipeline import AskParams, ask
from qa.answer.prompts import REFUSAL
from qa.core.errors import NewsqaError
from qa.core.records import Filters
from qa.ingest.pipeline import ingest
from tests.conftest import open_index
from tests.fakes import FakeEmbedder, FakeGenerator


@pytest.fixture
def built(index_path: Path, archive: Path, embedder: FakeEmbedder) -> Path:
    with open_index(index_path, embedder) as index:
        ingest([archive], index, embedder)
    return index_path


def test_an_answer_is_cited_from_the_evidence_it_was_shown(built: Path,
                                                           embedder: FakeEmbedder) -> None:
    generator = FakeGenerator({"cost": "$4.2 million"})
    streamed: list[str] = []
    with open_index(built, embedder, write=False) as index:
        answer = ask("How much will the Alder Bay footbridge cost?", index=index,
                     embedder=embedder, generator=generator, on_text=streamed.append)
    assert answer.answerable
    assert answer.answer == "$4.2 million [1]."
    assert "".join(streamed).strip() == "$4.2 million"
    (citation,) = answer.citations
    assert citation.source == "Harbor Ledger" and citation.published == "2024-03-01"
    assert "4.2 million" in citation.quote
    # The generator saw the quoted sentence: only shown evidence can be cited.
    assert citation.quote in generator.prompts[0]
    shape = answer.to_json()
    assert set(shape) == {"question", "answer", "answerable", "citations", "retrieved", "model",
                          "timings", "notes"}
    assert shape["notes"] == []
    assert set(shape["timings"]) >= {"retrieve_s", "generate_s", "total_s"}
    assert shape["retrieved"][0]["chunk_id"].startswith(shape["retrieved"][0]["article_id"] + "#")
    json.dumps(shape)


def test_an_unsupported_draft_is_refused_with_the_closest_sources(built: Path,
                                                                  embedder: FakeEmbedder) -> None:
    generator = FakeGenerator(default="The mayor of Paris opened it")
    with open_index(built, embedder, write=False) as index:
        answer = ask("Who opened the footbridge?", index=index, embedder=embedder,
                     generator=generator)
    assert not answer.answerable
    assert answer.answer == REFUSAL and answer.citations == ()
    assert answer.retrieved  # the closest sources are still listed


def test_filters_keep_later_reports_out(built: Path, embedder: FakeEmbedder) -> None:
    generator = FakeGenerator({"begin": "August"})
    with open_index(built, embedder, write=False) as index:
        later = ask("When will work on the footbridge begin?", index=index, embedder=embedder,
                    generator=generator)
        as_of = ask("When will work on the footbridge begin?", index=index, embedder=embedder,
                    generator=generator, filters=Filters(until="2024-03-31"))
    assert later.answerable and later.citations[0].source == "Lakeside Courier"
    assert {h.article.source for h in as_of.retrieved} <= {"Harbor Ledger", "Evening Dispatch"}
    assert not as_of.answerable  # "August" is only in the April update


def test_bad_questions_and_k_are_clear_errors(built: Path, embedder: FakeEmbedder) -> None:
    generator = FakeGenerator()
    with open_index(built, embedder, write=False) as index:
        with pytest.raises(NewsqaError, match="empty"):
            ask("   ", index=index, embedder=embedder, generator=generator)
        with pytest.raises(NewsqaError, match="characters long"):
            ask("why " * 1000, index=index, embedder=embedder, generator=generator)
        from dataclasses import replace

        from qa.search.retrieve import RetrieveParams
        with pytest.raises(NewsqaError, match="--k"):
            ask("why?", index=index, embedder=embedder, generator=generator,
                params=AskParams(retrieve=replace(RetrieveParams(), k=10_000)))


def test_a_refused_draft_is_retried_from_the_best_sentence_alone(built: Path,
                                                                 embedder: FakeEmbedder) -> None:
    class Distracted(FakeGenerator):
        """Wrong when shown several sentences, right when shown one."""

        def complete(self, prompt, *, max_tokens, stop):  # type: ignore[no-untyped-def]
            self.prompts.append(prompt)
            context = prompt.rsplit("Context:", 1)[1].split("\nQuestion:")[0]
            yield "$4.2 million" if context.count(". ") == 0 else "Paris"

    generator = Distracted()
    with open_index(built, embedder, write=False) as index:
        answer = ask("How much will the Alder Bay footbridge cost?", index=index,
                     embedder=embedder, generator=generator)
        assert answer.answerable and answer.answer == "$4.2 million [1]."
        assert len(generator.prompts) == 2
        no_retry = ask("How much will the Alder Bay footbridge cost?", index=index,
                       embedder=embedder, generator=generator, params=AskParams(retries=0))
        assert not no_retry.answerable


FUNDING = [
    {"url": "https://post.example/2024/11/21/loomgrid", "title": "Loomgrid raises $12 million",
     "published": "2024-11-21", "source": "Meridian Post",
     "text": "Loomgrid, a Pinecrest software company, has raised $12 million in a Series A "
             "funding round. The round was led by Sablewood Ventures. It brings Loomgrid's total "
             "funding to $15.5 million since 2021."},
]


def test_a_compound_question_is_answered_part_by_part(tmp_path: Path,
                                                      embedder: FakeEmbedder) -> None:
    from qa.answer.pipeline import compound_parts

    question = "How much did Loomgrid raise, and who led the round?"
    assert compound_parts(question) == ["How much did Loomgrid raise?", "Who led the round?"]
    assert compound_parts("Which bases does Russia intend to keep?") == [
        "Which bases does Russia intend to keep?"]
    archive = tmp_path / "funding.jsonl"
    archive.write_text("".join(json.dumps(a) + "\n" for a in FUNDING), encoding="utf-8")
    with open_index(tmp_path / "index", embedder) as index:
        ingest([archive], index, embedder)
    both = FakeGenerator({"raise": "$12 million", "led": "Sablewood Ventures"})
    half = FakeGenerator({"raise": "$12 million", "Paris": "the round was led by Paris"})
    with open_index(tmp_path / "index", embedder, write=False) as index:
        answer = ask(question, index=index, embedder=embedder, generator=both)
        partial = ask("How much did Loomgrid raise, and what did the mayor of Paris say?",
                      index=index, embedder=embedder, generator=half)
    assert answer.answerable
    assert answer.answer.startswith("$12 million [") and "Sablewood Ventures [" in answer.answer
    assert all(f"[{c.key}]" in answer.answer for c in answer.citations)
    # The part the evidence does not support is named, not silently dropped.
    assert partial.answerable and partial.answer.startswith("$12 million [")
    assert "The archive does not answer “What did the mayor of Paris say?”" in partial.answer


@pytest.mark.parametrize("question", ["the", "what is it?"])
def test_a_question_with_no_content_words_is_refused(built: Path, embedder: FakeEmbedder,
                                                     question: str) -> None:
    generator = FakeGenerator(default="$4.2 million")  # would answer anything it is asked
    with open_index(built, embedder, write=False) as index:
        answer = ask(question, index=index, embedder=embedder, generator=generator)
    assert not answer.answerable and answer.answer == REFUSAL and not answer.citations
    assert generator.prompts == []


@pytest.mark.parametrize("question", ["\U0001f600", "??"])
def test_a_question_with_no_words_at_all_is_an_error(built: Path, embedder: FakeEmbedder,
                                                     question: str) -> None:
    generator = FakeGenerator(default="$4.2 million")
    with open_index(built, embedder, write=False) as index, \
            pytest.raises(NewsqaError, match="has no words"):
        ask(question, index=index, embedder=embedder, generator=generator)
    assert generator.prompts == []
