"""`newsqa repl`: a conversation with the archive.

Questions are answered exactly as `newsqa ask` answers them (one pipeline, one renderer), with
the models loaded once. A follow-up ("and who reported it?", "what about the air base?") is
made self-contained before retrieval by carrying the question that opened the thread, and the
last answer, along ("How long did it take him? (Who won the marathon: Orlin Maddox)"); the
rewritten question is shown in a dim line. Filters set with `/since`, `/until`, `/as-of`,
`/source` and `/k` hold for every turn until changed.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from qa.core.errors import NewsqaError
from qa.core.records import Answer, Filters
from qa.core.settings import MAX_K, AskParams, check_k
from qa.core.text import proper_names, tokens

if TYPE_CHECKING:
    from qa.app.context import AppContext

COMMANDS: dict[str, str] = {
    "/sources": "the last answer's sources, with their quotes",
    "/open": "N: read source N of the last answer in full",
    "/since": "DATE: only articles published on or after (off to clear)",
    "/until": "DATE: only articles published on or before (off to clear)",
    "/as-of": "DATE: answer as of that date (off to clear)",
    "/source": "NAME: only this outlet (off to clear)",
    "/filters": "show the filters; `/filters clear` clears them",
    "/k": "N: how many articles to retrieve",
    "/model": "PATH: answer with another GGUF model",
    "/json": "print answers as JSON (again to turn off)",
    "/new": "start a new conversation (follow-ups forget earlier questions)",
    "/help": "this list",
    "/quit": "leave (or Ctrl-D)",
}
HELP_DATES = ("dates: 2024-12-08, Dec 8 2024, today, yesterday, 3 days ago, last week, "
              "last month (relative to the as-of date when one is set)")

# Words that open a follow-up, and pronouns that point back at the previous turn.
_OPENERS = ("and ", "but ", "so ", "also ", "then ", "what about ", "how about ")
_POINTERS = frozenset(["it", "its", "they", "them", "he", "she", "him", "her", "there"])
_ENDS_POINTING = re.compile(r"\b(that|this|then|those|these)\W*$", re.IGNORECASE)
_CITATION = re.compile(r"\s*\[\d+\]")
_RELATIVE = re.compile(r"^(\d+)\s+(day|week|month)s?\s+ago$")


class CommandError(ValueError):
    """A bad command or argument: one line of explanation, and the session goes on."""


def parse_user_date(text: str, today: date) -> str:
    """An ISO or written date, or a relative one (`today`, `yesterday`, `3 days ago`,
    `last week`, `last month`) counted back from `today`."""
    from qa.ingest.readers import parse_date

    value = " ".join(text.lower().split())
    days = {"today": 0, "yesterday": 1, "last week": 7, "a week ago": 7, "last month": 30,
            "a month ago": 30}.get(value)
    if days is None and (match := _RELATIVE.match(value)):
        days = int(match.group(1)) * {"day": 1, "week": 7, "month": 30}[match.group(2)]
    if days is not None:
        return (today - timedelta(days=days)).isoformat()
    parsed = parse_date(text)
    if parsed is None:
        raise CommandError(f"{text!r} is not a date; {HELP_DATES}")
    return parsed[:10]


@dataclass
class Turn:
    asked: str  # as typed
    question: str  # self-contained, as answered
    answer: Answer
    topic: str = ""  # the question that opened this thread of follow-ups

    def __post_init__(self) -> None:
        self.topic = self.topic or self.question


def is_follow_up(question: str) -> bool:
    """Whether `question` leans on the previous turn: it opens with "and", "what about" and
    the like, or points back ("it", "that", "they") without naming anything of its own."""
    lowered = question.lower().lstrip()
    if lowered.startswith(_OPENERS):
        return True
    points = bool(set(tokens(question)) & _POINTERS or _ENDS_POINTING.search(question))
    return points and not proper_names(question)


def rewrite(question: str, previous: Turn | None) -> str:
    """`question` made self-contained from the previous turn (unchanged if it stands alone)."""
    if previous is None or not is_follow_up(question):
        return question
    core = question.strip().rstrip("?").strip()
    for opener in _OPENERS[:5]:  # "and", "but", ...: drop; "what about" keeps its meaning
        if core.lower().startswith(opener):
            core = core[len(opener):].strip()
    core = core[:1].upper() + core[1:]
    context = previous.topic.rstrip("?")
    said = _CITATION.sub("", previous.answer.answer).strip().rstrip(".")
    if previous.answer.answerable and said:
        context += f": {said}"
    # The form the bundled tiny model answered best of those tried on the sample archive.
    return f"{core}? ({context})"


@dataclass
class Session:
    """What a conversation keeps between turns."""

    index: Any
    embedder: Any
    generator: Any
    console: Console
    models_dir: Path = Path("models")
    load_generator: Callable[[Path], Any] | None = None
    params: AskParams = field(default_factory=AskParams)  # `k` is the session's own
    filters: Filters = field(default_factory=Filters)
    as_of: str | None = None
    k: int = 5
    as_json: bool = False
    turns: list[Turn] = field(default_factory=list)
    today: date = field(default_factory=date.today)
    done: bool = False
    warming: threading.Thread | None = None

    @classmethod
    def of(cls, app: AppContext, index: Any, generator: Any, console: Console) -> Session:
        """A session over an open index, with the context's embedder and settings; /model
        loads another GGUF file through the context's models."""
        settings = app.settings
        return cls(index=index, embedder=app.embedder(), generator=generator, console=console,
                   models_dir=settings.models.models_dir, load_generator=app.load_generator,
                   params=settings.answering, k=settings.retrieval.k)

    def start_warm_up(self) -> None:
        """Load the models and evaluate the prompts' fixed opening in the background, while
        the reader types the first question (which waits for it to finish)."""
        self.warming = threading.Thread(target=self._warm_up, name="warm-up", daemon=True)
        self.warming.start()

    def _warm_up(self) -> None:
        from qa.answer.prompts import SHORT_ANSWER_EXAMPLES

        try:
            self.embedder.embed(["warm up"])
            prime = getattr(self.generator, "prime", None)
            if prime is not None:
                prime(SHORT_ANSWER_EXAMPLES)
        except Exception:  # the first question meets the same problem, and reports it
            pass

    def _wait_for_warm_up(self) -> None:
        if self.warming is not None:
            self.warming.join()
            self.warming = None

    # --- turns -----------------------------------------------------------------------------

    def effective_filters(self) -> Filters:
        return self.filters.ending(self.as_of)

    def handle(self, line: str) -> None:
        """One line of input: a command or a question. Errors are one line; the session lives."""
        line = line.strip()
        if not line:
            return
        try:
            if line.startswith("/"):
                self.command(line)
            else:
                self.ask(line)
        except (CommandError, NewsqaError) as exc:
            message = exc.message if isinstance(exc, NewsqaError) else str(exc)
            self.console.print(f"[red]error:[/] {escape(message)}")
            if isinstance(exc, NewsqaError) and exc.hint:
                self.console.print(f"[dim]hint: {escape(exc.hint)}[/]")
        except KeyboardInterrupt:
            self.console.print("[yellow]stopped[/]")
        except Exception as exc:  # a bug, not the reader's fault: say so, keep the session
            self.console.print(f"[red]internal error:[/] {escape(repr(exc))} [dim](please "
                               "report it; the session goes on)[/]")

    def ask(self, asked: str) -> None:
        from qa.answer.pipeline import ask
        from qa.app.render import render_answer, streaming

        self._wait_for_warm_up()
        previous = self.turns[-1] if self.turns else None
        question = rewrite(asked, previous)
        if question != asked:
            self.console.print(f"[dim]→ {escape(question)}[/]")
        params, filters = self.params.with_k(self.k), self.effective_filters()
        answer = streaming(self.console, lambda on_text: ask(
            question, index=self.index, embedder=self.embedder, generator=self.generator,
            filters=filters, params=params, on_text=on_text), stream=not self.as_json)
        topic = previous.topic if previous is not None and question != asked else question
        self.turns.append(Turn(asked, question, answer, topic))
        if self.as_json:
            self.console.print_json(json.dumps(answer.to_json(), ensure_ascii=False))
        else:
            render_answer(self.console, answer)

    # --- commands --------------------------------------------------------------------------

    def command(self, line: str) -> None:
        name, _, arg = line.partition(" ")
        name, arg = name.lower(), arg.strip()
        matches = [c for c in COMMANDS if c.startswith(name)]
        if name not in COMMANDS and len(matches) == 1:
            name = matches[0]
        if name not in COMMANDS:
            raise CommandError(f"unknown command {name}; /help lists them")
        handler = getattr(self, "cmd_" + name[1:].replace("-", "_"))
        handler(arg)

    def cmd_help(self, _: str) -> None:
        for name, what in COMMANDS.items():
            self.console.print(f"  [cyan]{name}[/] {escape(what)}")
        self.console.print(f"  [dim]{HELP_DATES}[/]")
        self.console.print("  [dim]Esc then Enter starts a new line; Ctrl-C stops an answer[/]")

    def cmd_quit(self, _: str) -> None:
        self.done = True

    def cmd_new(self, _: str) -> None:
        self.turns.clear()
        self.console.print("[dim]new conversation; filters kept (/filters clear clears them)[/]")

    def cmd_json(self, _: str) -> None:
        self.as_json = not self.as_json
        self.console.print(f"[dim]JSON output {'on' if self.as_json else 'off'}[/]")

    def _last(self) -> Answer:
        if not self.turns:
            raise CommandError("no answer yet; ask a question first")
        return self.turns[-1].answer

    def cmd_sources(self, _: str) -> None:
        from qa.app.render import render_citation, render_closest

        answer = self._last()
        if answer.citations:
            for citation in answer.citations:
                render_citation(self.console, citation)
        else:
            self.console.print("[dim]the last answer cites nothing; the closest articles:[/]")
            render_closest(self.console, answer.retrieved, limit=5)

    def cmd_open(self, arg: str) -> None:
        from qa.app.render import render_article

        answer = self._last()
        sources = ([c.article_id for c in answer.citations] if answer.citations else
                   list(dict.fromkeys(h.article.id for h in answer.retrieved)))
        if not arg.isdigit() or not 1 <= int(arg) <= len(sources):
            raise CommandError(f"/open takes a source number from 1 to {len(sources)}"
                               if sources else "the last answer has no sources to open")
        article = self.index.article(sources[int(arg) - 1])
        if article is None:
            raise CommandError("that article is no longer in the index")
        if self.console.is_terminal:
            os.environ.setdefault("LESS", "-R")  # let less show the styles, not their codes
            with self.console.pager(styles=True):
                render_article(self.console, article)
        else:
            render_article(self.console, article)

    def _date_filter(self, arg: str, flag: str) -> str | None:
        if not arg:
            raise CommandError(f"/{flag} takes a date, or off; {HELP_DATES}")
        if arg.lower() in ("off", "clear", "none"):
            return None
        return parse_user_date(arg, date.fromisoformat(self.as_of) if self.as_of and
                               flag != "as-of" else self.today)

    def cmd_since(self, arg: str) -> None:
        self.filters = replace(self.filters, since=self._date_filter(arg, "since"))
        self.cmd_filters("")

    def cmd_until(self, arg: str) -> None:
        self.filters = replace(self.filters, until=self._date_filter(arg, "until"))
        self.cmd_filters("")

    def cmd_as_of(self, arg: str) -> None:
        self.as_of = self._date_filter(arg, "as-of")
        self.cmd_filters("")

    def cmd_source(self, arg: str) -> None:
        if not arg:
            raise CommandError("/source takes an outlet's name (any part of it), or off")
        self.filters = replace(self.filters,
                               source=None if arg.lower() in ("off", "clear", "none") else arg)
        self.cmd_filters("")

    def cmd_filters(self, arg: str) -> None:
        if arg.lower() == "clear":
            self.filters, self.as_of = Filters(), None
        elif arg:
            raise CommandError("/filters takes nothing, or clear")
        f = self.filters
        shown = [f"{name} {value}" for name, value in (
            ("since", f.since), ("until", f.until), ("as-of", self.as_of),
            ("source", f.source)) if value]
        self.console.print(f"[dim]filters: {escape(', '.join(shown) or 'none')}; k {self.k}[/]")

    def cmd_k(self, arg: str) -> None:
        try:
            self.k = check_k(int(arg) if arg.isdigit() else 0)
        except NewsqaError:
            raise CommandError(f"/k takes a whole number from 1 to {MAX_K}") from None
        self.cmd_filters("")

    def cmd_model(self, arg: str) -> None:
        from qa.models.catalog import resolve_generator

        if not arg:
            self.console.print(f"[dim]model: {escape(self.generator.name)}[/]")
            return
        if self.load_generator is None:
            raise CommandError("this session cannot switch models")
        choice = resolve_generator(Path(arg).expanduser(), "/model", self.models_dir)
        generator = self.load_generator(choice.path)
        self._wait_for_warm_up()  # it may be using the model being closed
        close = getattr(self.generator, "close", None)
        if close is not None:
            close()
        self.generator = generator
        self.console.print(f"[dim]model: {escape(generator.name)}[/]")


def run(session: Session, *, history: Path | None = None, input: Any = None,
        output: Any = None) -> None:
    """The prompt loop: until /quit or Ctrl-D. `input`/`output` are prompt_toolkit's, for
    tests; by default the terminal."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings

    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    stored: Any = InMemoryHistory()
    if history is not None:
        try:
            history.parent.mkdir(parents=True, exist_ok=True)
            stored = FileHistory(str(history))
        except OSError:
            session.console.print(f"[dim]history not kept: cannot write {escape(str(history))}[/]")
    prompt: Any = PromptSession(
        history=stored, completer=WordCompleter(list(COMMANDS), sentence=True),
        key_bindings=bindings, input=input, output=output)
    session.console.print("[dim]Ask about the archive; /help lists the commands.[/]")
    session.start_warm_up()
    while not session.done:
        try:
            line = prompt.prompt("newsqa> ")
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            break
        session.handle(line)
