"""The REPL, driven through prompt_toolkit's pipe input with the fake models, and once for real
in a pseudo-terminal."""

import io
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from qa.app.cli import SAMPLE
from qa.app.repl import CommandError, Session, Turn, is_follow_up, parse_user_date, rewrite, run
from qa.ingest.pipeline import ingest
from qa.store.index import Index
from tests.conftest import open_index
from tests.fakes import FakeEmbedder, FakeGenerator

ROOT = Path(__file__).resolve().parents[1]
BASES = "Which bases does Russia intend to keep?"
SCRIPT = {"bases": "Tartus naval base and the Khmeimim air base [1]",
          "reported": "TASS [1]", "Turkey": "help withdrawing troops [1]"}


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    embedder = FakeEmbedder()
    path = tmp_path / "indexes" / "default"
    with open_index(path, embedder) as writing:
        ingest([Path(str(SAMPLE))], writing, embedder)
    with open_index(path, embedder, write=False) as reading:
        yield reading


def _session(index: Index, generator: FakeGenerator | None = None) -> Session:
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    return Session(index=index, embedder=FakeEmbedder(), generator=generator or
                   FakeGenerator(SCRIPT), console=console, today=date(2024, 12, 20),
                   load_generator=lambda path: FakeGenerator(SCRIPT))


def _output(session: Session) -> str:
    file = session.console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def _type(session: Session, keys: Sequence[str], history: Path) -> str:
    """Type `keys` (each a line, or raw keys) at the prompt, then Ctrl-D."""
    with create_pipe_input() as pipe:
        pipe.send_text("".join(k if k.endswith(("\r", "\t")) else k + "\r" for k in keys)
                       + "\x04")
        run(session, history=history, input=pipe, output=DummyOutput())
    return _output(session)


def test_dates_plain_and_relative() -> None:
    today = date(2024, 12, 20)
    assert parse_user_date("2024-12-08", today) == "2024-12-08"
    assert parse_user_date("Dec 8 2024", today) == "2024-12-08"
    assert parse_user_date("last week", today) == "2024-12-13"
    assert parse_user_date("3 days ago", today) == "2024-12-17"
    assert parse_user_date("yesterday", today) == "2024-12-19"
    with pytest.raises(CommandError, match="not a date"):
        parse_user_date("soonish", today)


def test_follow_ups_are_recognised_and_rewritten(index: Index) -> None:
    assert is_follow_up("and who reported it?") and is_follow_up("when was that?")
    assert is_follow_up("what about the air base?")
    assert not is_follow_up(BASES) and not is_follow_up("Who won the Riverton Winter Marathon?")
    session = _session(index)
    session.handle(BASES)
    previous = session.turns[-1]
    assert rewrite(BASES, previous) == BASES
    assert rewrite("and who reported it?", previous) == (
        "Who reported it? (Which bases does Russia intend to keep: Tartus naval base and the "
        "Khmeimim air base)")
    refused = Turn("q", "Who won?", session.turns[-1].answer.__class__(
        question="Who won?", answer="refused", answerable=False, citations=(), retrieved=(),
        model="m", timings={}))
    assert rewrite("when was that?", refused) == "When was that? (Who won)"


def test_a_conversation_with_history_filters_and_follow_ups(index: Index,
                                                            tmp_path: Path) -> None:
    generator = FakeGenerator(SCRIPT)
    session = _session(index, generator)
    history = tmp_path / "state" / "history"
    out = _type(session, [BASES, "and who reported it?", "/source meridian",
                          "What did Russia ask Turkey for?", "/sources", "/open 1", "/filters"],
                history)
    # Answers and sources, rendered as `newsqa ask` renders them.
    assert "Tartus naval base and the Khmeimim air base [1]." in out and "Sources" in out
    # The follow-up was made self-contained, shown, and that is what the model was asked.
    assert "→ Who reported it? (Which bases does Russia intend to keep: Tartus" in out
    assert "Question: Who reported it? (Which bases" in generator.prompts[1]
    # The outlet filter holds for the next question, and /filters shows it.
    last = session.turns[-1].answer
    assert last.retrieved and {h.article.source for h in last.retrieved} == {"Meridian Post"}
    assert "filters: source meridian; k 5" in out
    # /open shows the whole cited article.
    cited = session.index.article(last.citations[0].article_id)
    assert cited is not None and cited.text.split("\n")[0].strip()[:60] in out
    # History is kept on disk, and the Up arrow brings it back in a new session.
    assert BASES in history.read_text(encoding="utf-8")
    again = _session(index, FakeGenerator(SCRIPT))
    _type(again, ["\x1b[A" * 5 + "\r"], history)  # five back: the third line typed
    assert again.filters.source == "meridian"


def test_commands_and_bad_input_never_end_the_session(index: Index, tmp_path: Path) -> None:
    session = _session(index)
    out = _type(session, ["/help", "/bogus", "/since soonish", "/k 0", "/k 12", "/open 1",
                          "/since Dec 1 2024", "/as-of 2024-12-09", "/until last week",
                          "/json", BASES, "/json", "/filters clear", "/model", "/new"],
                tmp_path / "history")
    assert "/as-of" in out and "relative to the as-of date" in out  # the help
    assert "unknown command /bogus" in out
    assert "'soonish' is not a date" in out
    assert "/k takes a whole number from 1 to 100" in out
    assert "no answer yet" in out  # /open before any answer
    # "last week" counts back from the as-of date once one is set.
    assert "filters: since 2024-12-01, until 2024-12-02, as-of 2024-12-09; k 12" in out
    assert '"answerable": ' in out  # /json printed the answer as JSON
    assert "filters: none; k 12" in out
    assert "model: fake.gguf" in out
    assert session.turns == [] and session.k == 12 and not session.as_json
    assert "Traceback" not in out


def test_tab_completes_commands_and_escape_enter_continues_a_line(index: Index,
                                                                 tmp_path: Path) -> None:
    generator = FakeGenerator(SCRIPT)
    session = _session(index, generator)
    out = _type(session, ["/hel\t", "\r", "Which bases\x1b\rdoes Russia intend to keep?"],
                tmp_path / "history")
    assert "relative to the as-of date" in out  # /help ran
    assert session.turns[-1].question == "Which bases\ndoes Russia intend to keep?"
    assert f"Question: {BASES}" in generator.prompts[-1]


def test_ctrl_c_during_an_answer_returns_to_the_prompt(index: Index, tmp_path: Path) -> None:
    class Interrupted(FakeGenerator):
        def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]
                     ) -> Iterator[str]:
            if not self.prompts:
                self.prompts.append(prompt)
                yield "Tartus"
                raise KeyboardInterrupt  # what SIGINT raises in the generating loop
            yield from super().complete(prompt, max_tokens=max_tokens, stop=stop)

    session = _session(index, Interrupted(SCRIPT))
    out = _type(session, [BASES, BASES], tmp_path / "history")
    assert "stopped" in out
    assert len(session.turns) == 1 and session.turns[0].answer.answerable


def test_model_switch(index: Index, tmp_path: Path) -> None:
    session = _session(index)
    gguf = tmp_path / "other.gguf"
    gguf.write_bytes(b"GGUF" + b"\x00" * 64)
    _type(session, [f"/model {gguf}", "/model /nowhere/missing.gguf"], tmp_path / "history")
    out = _output(session)
    assert "model: fake.gguf" in out
    assert "error:" in out and "missing.gguf" in out


FAKE_REPL = """
import sys
from qa.app.cli import app
from qa.app.context import use_models
from tests.fakes import FakeModels, FakeGenerator
use_models(FakeModels(generator=lambda path: FakeGenerator({"bases": "Tartus and Khmeimim [1]"})))
app(["ingest", "--sample"], standalone_mode=False)
app(sys.argv[1:])
"""


def test_the_real_repl_in_a_pseudo_terminal(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", XDG_STATE_HOME=str(tmp_path / "state"),
               PYTHONPATH=str(ROOT), NEWSQA_INDEX_DIR=str(tmp_path / "indexes"))
    child = pexpect.spawn(sys.executable, ["-c", FAKE_REPL, "repl"], cwd=str(tmp_path),
                          env=env, encoding="utf-8", timeout=60, dimensions=(40, 120))
    try:
        child.expect("newsqa>")
        time.sleep(0.3)  # let the prompt start reading keys
        child.sendline(BASES)
        child.expect("Sources")
        child.expect("newsqa>")
        screen = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", child.before)
        assert "[1] " in screen and "Tartus" in screen
        time.sleep(0.3)
        child.sendline("/filters")
        child.expect("filters: none")
        child.expect("newsqa>")
        time.sleep(0.3)
        child.sendeof()  # Ctrl-D leaves
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_a_chain_of_follow_ups_keeps_to_the_question_that_opened_it(index: Index) -> None:
    session = _session(index)
    for line in (BASES, "and who reported it?", "when was that?"):
        session.handle(line)
    assert session.turns[-1].question.startswith(
        "When was that? (Which bases does Russia intend to keep")
    assert session.turns[-1].question.count("(") == 1
    session.handle("Who won the Riverton Winter Marathon?")  # a new thread
    assert session.turns[-1].topic == "Who won the Riverton Winter Marathon?"


def test_an_unexpected_error_is_one_line_and_the_session_goes_on(index: Index) -> None:
    class Broken(FakeGenerator):
        def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]
                     ) -> Iterator[str]:
            raise RuntimeError("the model fell over")
            yield ""

    session = _session(index, Broken())
    session.handle(BASES)
    session.handle("/filters")
    out = _output(session)
    assert "internal error" in out and "the model fell over" in out
    assert "filters: none" in out and "Traceback" not in out


class _SlowPriming(FakeGenerator):
    """Notes the order of priming and answering; priming takes a while."""

    def __init__(self) -> None:
        super().__init__(SCRIPT)
        self.events: list[str] = []

    def prime(self, opening: str) -> None:
        time.sleep(0.3)
        self.events.append("primed" if "Question:" in opening else "primed with nothing")

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]) -> Iterator[str]:
        self.events.append("answered")
        return super().complete(prompt, max_tokens=max_tokens, stop=stop)


def test_the_models_warm_up_while_the_reader_types(index: Index, tmp_path: Path) -> None:
    generator = _SlowPriming()
    session = _session(index, generator)
    output = _type(session, [BASES], tmp_path / "history")
    assert "Khmeimim" in output
    assert generator.events[0] == "primed"  # the first question waited for the warm-up
    assert "answered" in generator.events[1:]
