"""Concurrency: readers while a writer works, and a second writer.

A writer (`newsqa ingest` in a subprocess, tests/fake_cli.py) replaces every article of an
index with an edited version, batch by batch, while this process asks question after question
and checks what each answer rests on. A second writer is refused with a message that names the
one at work; read-only commands are not held up; nothing ends up damaged.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.answer.pipeline import ask
from qa.app.cli import app
from qa.core.records import Answer, Article
from qa.ingest.pipeline import ingest
from qa.ingest.readers import content_hash, read_path
from qa.store.doctor import check
from qa.store.index import Index
from tests.conftest import ARTICLES, open_index
from tests.fake_cli import COMMIT_LOG, DELAY, start, story, write_archive
from tests.fakes import FakeEmbedder, FakeGenerator, FakeModels, installed

ARTICLES_N = 96  # three batches of 32
runner = CliRunner()


@pytest.fixture(autouse=True)
def story_models() -> Iterator[None]:
    with installed(FakeModels(FakeEmbedder, lambda path: FakeGenerator(default="Story"))):
        yield


def _versions(path: Path) -> dict[str, tuple[int, str]]:
    """id -> (position in the file, content hash) of each article of an archive."""
    articles = [a for a in read_path(path) if isinstance(a, Article)]
    return {a.id: (n, content_hash(a)) for n, a in enumerate(articles)}


def _wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _consistent(answer: Answer, old: dict[str, tuple[int, str]],
                new: dict[str, tuple[int, str]], batch: int = 32) -> None:
    """What one answer rests on comes from one committed state of the index: each article
    whole in its old or its new version, and the new ones all from batches the writer had
    committed before any old one (the writer replaces the articles in file order)."""
    newest_new, oldest_old = -1, len(new)
    for hit in answer.retrieved:
        article = hit.article
        assert hit.chunk.text == article.text[hit.chunk.start:hit.chunk.end]
        position, digest = new[article.id]
        if content_hash(article) == digest:
            newest_new = max(newest_new, position)
        else:
            assert content_hash(article) == old[article.id][1], "an article that is neither"
            oldest_old = min(oldest_old, position)
    assert newest_new // batch < oldest_old // batch or newest_new < 0 or oldest_old == len(new)
    shown = {(e.article.id, e.text) for e in answer.evidence}
    for citation in answer.citations:
        assert (citation.article_id, citation.quote) in shown  # cited only what was shown


def test_asking_while_an_ingest_replaces_every_article(tmp_path: Path,
                                                       embedder: FakeEmbedder) -> None:
    first = write_archive(tmp_path / "v1.jsonl", (story(n) for n in range(ARTICLES_N)))
    second = write_archive(tmp_path / "v2.jsonl", (story(n, 2) for n in range(ARTICLES_N)))
    old, new = _versions(first), _versions(second)
    index_dir = tmp_path / "indexes"
    assert runner.invoke(app, ["ingest", str(first), "--index-dir", str(index_dir)]).exit_code == 0
    log = tmp_path / "commits.log"
    writer = start("ingest", str(second), "--index-dir", str(index_dir), cwd=tmp_path,
                   **{DELAY: "0.25", COMMIT_LOG: str(log)})
    questions = _questions(ARTICLES_N)
    asked, saw_new, saw_both = 0, 0, 0
    generator = FakeGenerator(default="Story")
    while writer.poll() is None:
        # Each question as `newsqa ask` asks it: a fresh read-only open of the index.
        with Index.open(index_dir / "default", None) as index:
            answer = ask(next(questions), index=index, embedder=embedder, generator=generator)
        _consistent(answer, old, new)
        versions = {content_hash(h.article) == new[h.article.id][1] for h in answer.retrieved}
        asked += 1
        saw_new += True in versions
        saw_both += versions == {True, False}
        if asked % 10 == 0:  # and through the CLI, which must stay clean
            result = runner.invoke(app, ["ask", "--json", "--index-dir", str(index_dir),
                                         next(questions)])
            assert result.exit_code == 0 and json.loads(result.stdout)["retrieved"]
    _, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err.decode()
    assert asked >= 10 and saw_new > 0, (asked, saw_new)  # the reads overlapped the writes
    with Index.open(index_dir / "default", None) as index:
        assert check(index).problems == []
        assert {i: index.stored_hash(i) for i in new} == {i: h for i, (_, h) in new.items()}
    print(f"asked {asked} questions during the ingest: {saw_new} saw replaced articles, "
          f"{saw_both} saw old and new ones (from one committed state each)")


def _questions(n: int) -> Iterator[str]:
    """Questions that draw on different articles: the opening words of each."""
    at = 0
    while True:
        yield " ".join(story(at % n, 1 + at % 2)["text"].split()[:6])
        at += 1


def test_a_second_writer_is_refused_and_readers_are_not_held_up(tmp_path: Path) -> None:
    first = write_archive(tmp_path / "first.jsonl", (story(n) for n in range(ARTICLES_N)))
    other = write_archive(tmp_path / "other.jsonl", (story(n) for n in range(100, 106)))
    index_dir = tmp_path / "indexes"
    log = tmp_path / "commits.log"
    writer = start("ingest", str(first), "--index-dir", str(index_dir), cwd=tmp_path,
                   **{DELAY: "2.5", COMMIT_LOG: str(log)})  # holds its lock 5 s more
    _wait_for(lambda: log.exists())  # it holds the lock and has committed a batch
    where = ["--index-dir", str(index_dir)]
    # Readers do not wait for the writer.
    info = runner.invoke(app, ["index", "info", "--json", *where])
    asked = runner.invoke(app, ["ask", "--json", *where, story(3)["text"][:60]])
    assert info.exit_code == 0 and asked.exit_code == 0, (info.output, asked.output)
    assert json.loads(info.stdout)["articles"] >= 32 and json.loads(asked.stdout)["retrieved"]
    # Every other writer stops at once, saying why.
    for command in (["ingest", str(other)], ["rm", "--source", "Outlet 1"],
                    ["index", "doctor", "--repair"]):
        result = runner.invoke(app, [*command, *where])
        assert result.exit_code == 1, (command, result.output)
        message = " ".join(result.stderr.split())
        assert "another newsqa process is writing" in message, message
        assert "wait for that ingest to finish" in message and "Traceback" not in result.output
    assert writer.poll() is None, "the writer finished before the checks were done"
    second = start("ingest", str(other), *where, cwd=tmp_path)  # a process of its own
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1 and b"another newsqa process is writing" in err, err
    _, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err.decode()
    # Nothing was damaged, the first writer's articles are all there, and now the second runs.
    doctor = runner.invoke(app, ["index", "doctor", *where])
    assert doctor.exit_code == 0 and "sound" in doctor.output, doctor.output
    assert json.loads(runner.invoke(app, ["index", "info", "--json", *where]).stdout
                      )["articles"] == ARTICLES_N
    assert runner.invoke(app, ["ingest", str(other), *where]).exit_code == 0


# --- one reader, one commit in between -------------------------------------------------------

CORRECTED = dict(ARTICLES[0], text=ARTICLES[0]["text"].replace("$4.2 million", "$5.1 million"))


class ReadsTheNumber(FakeGenerator):
    """Answers with the first sum of money in the evidence it is shown."""

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]) -> Iterator[str]:
        self.prompts.append(prompt)
        context = prompt.rsplit("Context:", 1)[1].split("\nQuestion:")[0]
        found = re.search(r"\$[\d.]+ million", context)
        yield found.group(0) if found else "unknown"


QUESTION = "How much will the Alder Bay footbridge cost?"


def _correct(index_path: Path, embedder: FakeEmbedder, tmp_path: Path) -> None:
    """What a concurrent `newsqa ingest` of the corrected article does."""
    corrected = write_archive(tmp_path / "corrected.jsonl", [CORRECTED])
    with open_index(index_path, embedder) as writer:
        report = ingest([corrected], writer, embedder)
    assert report.updated == 1


@pytest.fixture
def built(index_path: Path, archive: Path, embedder: FakeEmbedder) -> Path:
    with open_index(index_path, embedder) as index:
        ingest([archive], index, embedder)
    return index_path


def _fresh_answer(index_path: Path, embedder: FakeEmbedder) -> Answer:
    with open_index(index_path, embedder, write=False) as index:
        return ask(QUESTION, index=index, embedder=embedder, generator=ReadsTheNumber())


def test_a_commit_during_an_ask_gives_the_old_answer_or_the_new(
        built: Path, embedder: FakeEmbedder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = _fresh_answer(built, embedder)
    assert before.answer == "$4.2 million [1]."
    with open_index(built, embedder, write=False) as index:
        fetch = index.chunks_by_rowid

        def commit_first(rowids: Sequence[int]):  # type: ignore[no-untyped-def]
            _correct(built, embedder, tmp_path)  # lands after the searches, before the reads
            monkeypatch.setattr(index, "chunks_by_rowid", fetch)
            return fetch(rowids)

        monkeypatch.setattr(index, "chunks_by_rowid", commit_first)
        during = ask(QUESTION, index=index, embedder=embedder, generator=ReadsTheNumber())
    after = _fresh_answer(built, embedder)
    assert after.answer == "$5.1 million [1]."
    assert during.answer in (before.answer, after.answer), during.answer


def test_a_long_lived_reader_sees_the_next_commit_whole(
        built: Path, embedder: FakeEmbedder, tmp_path: Path) -> None:
    """A reader that stays open (an eval run, an interactive session) and asks again after an
    ingest must answer as a reader opened afterwards does."""
    with open_index(built, embedder, write=False) as index:
        first = ask(QUESTION, index=index, embedder=embedder, generator=ReadsTheNumber())
        assert first.answer == "$4.2 million [1]."
        _correct(built, embedder, tmp_path)
        again = ask(QUESTION, index=index, embedder=embedder, generator=ReadsTheNumber())
    fresh = _fresh_answer(built, embedder)
    assert fresh.answer == "$5.1 million [1]."
    assert [(h.chunk.id, round(h.score, 6)) for h in again.retrieved] == \
        [(h.chunk.id, round(h.score, 6)) for h in fresh.retrieved]
    assert again.answer == fresh.answer
