"""The service behind `newsqa serve` and `newsqa mcp`: the archive's questions, searches and
articles, for any front end (the HTTP API, MCP tools, the page).

Built once from an `AppContext`: the models are loaded and the generator's KV cache primed as
the REPL primes it (`warm_up`), then every question is answered exactly as `newsqa ask`
answers it (one pipeline), in the answer lane (qa/app/server/lanes.py): one at a time, in the
order asked, each reading one committed state of the index. A follow-up is made
self-contained as the REPL makes it, from the earlier questions the client sends (and the
answers this service gave them, when it still has them).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qa.app.server.events import Event, answer_events, error_event, quote_offsets
from qa.app.server.lanes import Cancelled, IndexUnavailable, Lane
from qa.core.errors import NewsqaError
from qa.core.records import Answer, Filters

if TYPE_CHECKING:
    import contextlib
    from concurrent.futures import Future

    from qa.app.context import AppContext
    from qa.app.repl import Turn
    from qa.store.index import Index

MAX_PREVIOUS = 20  # earlier questions of a conversation a follow-up may lean on
REMEMBERED = 256  # answers kept for rewriting follow-ups


class NotFound(NewsqaError):
    """What was asked for is not in the index."""


@dataclass(frozen=True)
class Query:
    """A question (or a search) and its filters, as a client sends them: dates as written."""

    question: str
    since: str | None = None
    until: str | None = None
    as_of: str | None = None
    source: str | None = None
    k: int | None = None  # None: the settings' k
    previous: tuple[str, ...] = ()  # the conversation's earlier questions, oldest first


def whole_number(value: str | int | None) -> int | None:
    """`k` as a client sends it (a number, digits, empty for the default), or the error."""
    if value is None or isinstance(value, int) or not value.strip():
        return value if isinstance(value, int) else None
    try:
        return int(value.strip())
    except ValueError:
        raise NewsqaError(f"--k {value!r} is not a whole number", hint="try --k 5") from None


@dataclass(frozen=True)
class Answered:
    """An answer, and where each citation's quote is in its article (`None` if not found)."""

    answer: Answer
    offsets: tuple[tuple[int, int] | None, ...]


class Service:
    """One archive, its models loaded once, answering any number of clients in turn."""

    def __init__(self, app: AppContext, *, max_waiting: int = 64) -> None:
        self.app = app
        self.embedder = app.embedder()
        self.generator, self.model = app.generator()
        self.params = app.settings.answering
        self._shared_embedder = _Serialised(self.embedder)
        self._remembered: OrderedDict[str, Answer] = OrderedDict()
        self._remembering = threading.Lock()
        folder = app.folder
        self.answers = Lane("answers", folder, self._open, max_waiting=max_waiting)
        self.reads = Lane("reads", folder, self._open, max_waiting=max_waiting)

    @property
    def name(self) -> str:
        return self.app.folder.name

    def _open(self, stack: contextlib.ExitStack) -> Index:
        try:
            return stack.enter_context(self.app.open_index(embedder=self.embedder))
        except NewsqaError as exc:
            raise IndexUnavailable(exc.message, hint=exc.hint) from None

    def warm_up(self) -> NewsqaError | None:
        """Load the models, prime the generator's cache with the prompts' fixed opening, and
        open the index in both lanes; the problem with the index, if any (the server still
        starts, and says it to every question until it is fixed)."""
        from qa.answer.prompts import SHORT_ANSWER_EXAMPLES

        self.embedder.embed(["warm up"])
        prime = getattr(self.generator, "prime", None)
        if prime is not None:
            self.answers.call(lambda _index: prime(SHORT_ANSWER_EXAMPLES))
        try:
            self.reads.call(_require_articles)
        except NewsqaError as exc:
            return exc
        return None

    def close(self) -> None:
        self.answers.close()
        self.reads.close()
        close = getattr(self.generator, "close", None)
        if close is not None:
            close()

    # --- questions ---------------------------------------------------------------------------

    def prepared(self, query: Query) -> tuple[str, Filters, int]:
        """The question, filters and k of `query`, or the error the CLI gives for them."""
        from qa.answer.pipeline import MAX_QUESTION_CHARS, check_question
        from qa.app.options import date_option

        k = self.params.retrieve.k if query.k is None else query.k
        question = check_question(query.question, k)
        if len(query.previous) > MAX_PREVIOUS:
            raise NewsqaError(f"{len(query.previous)} earlier questions sent (at most "
                              f"{MAX_PREVIOUS})", hint="send the latest ones only")
        if any(len(p) > MAX_QUESTION_CHARS for p in query.previous):
            raise NewsqaError(f"an earlier question is longer than {MAX_QUESTION_CHARS:,} "
                              "characters", hint="send the questions as they were asked")
        # An empty field is no filter (a form sends `since=` when the box is left empty).
        filters = Filters(since=date_option(query.since or None, "--since"),
                          until=date_option(query.until or None, "--until"),
                          source=(query.source or "").strip() or None).ending(
                              date_option(query.as_of or None, "--as-of"))
        return question, filters, k

    def submit(self, query: Query, emit: Callable[[Event], None],
               cancelled: threading.Event) -> Future[Answered]:
        """Queue `query` for the answer lane; `emit` is told the stages and the draft as they
        come (in the lane's thread). Returns the future of an `Answered`. A bad query raises
        here, before anything is queued."""
        question, filters, k = self.prepared(query)
        question = self.rewritten(question, query.previous)
        return self.answers.submit(
            lambda index: self._answer(index, question, filters, k, emit, cancelled), cancelled)

    def ask(self, query: Query) -> Answer:
        """The answer `newsqa ask --json` gives (waiting its turn)."""
        return self.submit(query, lambda _: None, threading.Event()).result().answer

    def stream(self, query: Query, cancelled: threading.Event | None = None) -> Iterator[Event]:
        """The events of answering `query`: `status`, `draft` pieces, `answer`, one `citation`
        each, a `note` each, then `done`; or `error`. Closing the iterator early (a client
        gone) stops the generation."""
        import queue

        cancelled = cancelled or threading.Event()
        events: queue.Queue[Event | None] = queue.Queue()
        try:
            future = self.submit(query, events.put, cancelled)
        except NewsqaError as exc:
            yield error_event(exc)
            return
        future.add_done_callback(lambda _: events.put(None))
        try:
            while (event := events.get()) is not None:
                yield event
            failure = future.exception()
            if failure is not None:
                yield error_event(failure)
                return
            yield from answer_events(future.result())
            yield Event("done", {})
        finally:
            cancelled.set()

    def _answer(self, index: Index, question: str, filters: Filters, k: int,
                emit: Callable[[Event], None], cancelled: threading.Event) -> Answered:
        from qa.answer.pipeline import ask

        _require_articles(index)
        _check_source(index, filters.source)
        emit(Event("status", {"stage": "retrieving", "question": question}))
        generator = _Watched(self.generator, emit, cancelled, question)

        def on_text(piece: str) -> None:
            if cancelled.is_set():
                raise Cancelled
            emit(Event("draft", {"text": piece}))

        answer = ask(question, index=index, embedder=self._shared_embedder,
                     generator=generator, filters=filters, params=self.params.with_k(k),
                     on_text=on_text)
        self._remember(answer)
        return Answered(answer, quote_offsets(answer, index))

    # --- follow-ups --------------------------------------------------------------------------

    def rewritten(self, question: str, previous: Sequence[str]) -> str:
        """`question` made self-contained from the conversation's earlier questions, as the
        REPL makes it (the earlier answers are this service's, while it remembers them)."""
        from qa.app.repl import rewrite

        return rewrite(question, self._thread(previous))

    def _thread(self, previous: Sequence[str]) -> Turn | None:
        from qa.app.repl import Turn, rewrite

        turn: Turn | None = None
        for typed in previous:
            asked = " ".join(typed.split())
            if not asked:
                continue
            question = rewrite(asked, turn)
            with self._remembering:
                answer = self._remembered.get(question)
            if answer is None:  # not asked here (or long ago): the question alone carries on
                answer = Answer(question, "", False, (), (), self.model, {})
            topic = turn.topic if turn is not None and question != asked else question
            turn = Turn(asked, question, answer, topic)
        return turn

    def _remember(self, answer: Answer) -> None:
        with self._remembering:
            self._remembered[answer.question] = answer
            self._remembered.move_to_end(answer.question)
            while len(self._remembered) > REMEMBERED:
                self._remembered.popitem(last=False)

    # --- reading -----------------------------------------------------------------------------

    def search(self, query: Query) -> dict[str, Any]:
        """The passages retrieval finds for `query` (no generation): what `ask` would read."""
        from qa.search.retrieve import retrieve

        question, filters, k = self.prepared(query)

        def run(index: Index) -> dict[str, Any]:
            _require_articles(index)
            _check_source(index, filters.source)
            vector = self._shared_embedder.embed([question])[0]
            with index.snapshot():
                hits = retrieve(index, question, vector, filters, self.params.with_k(k).retrieve)
            return {"query": question, "hits": [
                {"article_id": h.article.id, "chunk_id": h.chunk.id, "title": h.article.title,
                 "source": h.article.source, "published": h.article.published,
                 "url": h.article.url, "text": h.chunk.text, "score": round(h.score, 6)}
                for h in hits]}

        return self.reads.call(run)

    def article(self, article_id: str, quote: str | None = None) -> dict[str, Any]:
        """A stored article (or syndicated copy) with its copies; with `quote`, where the quote
        is in its text (`start`, `end`; null if it is not there)."""

        def run(index: Index) -> dict[str, Any]:
            with index.snapshot():
                article = index.stored_version(article_id)
                if article is None:
                    raise NotFound(f"no stored article has the id {article_id!r}",
                                   hint="ids come from an answer's citations or a search")
                copies = index.carriers([article.id]).get(article.id, ())
            shown: dict[str, Any] = {
                "id": article.id, "title": article.title, "source": article.source,
                "published": article.published, "url": article.url,
                "authors": list(article.authors), "text": article.text,
                "copies": [c.to_json() for c in copies]}
            if quote is not None:
                start = article.text.find(quote) if quote else -1
                shown["start"] = start if start >= 0 else None
                shown["end"] = start + len(quote) if start >= 0 else None
            return shown

        return self.reads.call(run)

    def index_info(self) -> dict[str, Any]:
        """What `newsqa index info --json` shows, with the index's name, its outlets and the
        first and last dates published (for a page's filters)."""

        def run(index: Index) -> dict[str, Any]:
            with index.snapshot():
                info = index.info()
            first, last = info["dates"]
            return {**info, "name": index.path.name, "sources": _outlets(info),
                    "first_published": first, "last_published": last}

        return self.reads.call(run)


def _require_articles(index: Index) -> None:
    from qa.app.context import AppContext

    try:
        AppContext.require_articles(index)
    except NewsqaError as exc:
        raise IndexUnavailable(exc.message, hint=exc.hint) from None


def _outlets(info: dict[str, Any]) -> list[str]:
    names = set(info["outlets"]) | set(info["copy_outlets"])
    return sorted(names - {"(unknown)"}, key=str.lower)


def _check_source(index: Index, source: str | None) -> None:
    """An outlet filter that matches no outlet is a mistake to say (the CLI would answer
    with a refusal, as for any question the filtered archive cannot answer)."""
    if source is None:
        return
    outlets = _outlets(index.info())
    if not any(source.lower() in name.lower() for name in outlets):
        raise NewsqaError(f"--source {source!r} matches no outlet in the index",
                          hint="the outlets: " + ", ".join(outlets))


class _Serialised:
    """The embedder, one call at a time: the lanes share it, and a tokenizer may not be
    used from two threads at once."""

    def __init__(self, embedder: Any) -> None:
        self._embedder = embedder
        self._lock = threading.Lock()
        self.name: str = embedder.name
        self.dim: int = embedder.dim

    def embed(self, texts: Sequence[str]) -> Any:
        with self._lock:
            return self._embedder.embed(texts)


class _Watched:
    """The generator, telling the client when generating starts and ends, and stopping when
    the client has gone (checked at each piece: a retry or a long draft stops too)."""

    def __init__(self, generator: Any, emit: Callable[[Event], None],
                 cancelled: threading.Event, question: str) -> None:
        self._generator = generator
        self._emit = emit
        self._cancelled = cancelled
        self._question = question
        self._told: set[str] = set()
        if hasattr(generator, "score_options"):
            self.score_options = self._scored

    @property
    def name(self) -> str:
        return str(self._generator.name)

    def _stage(self, stage: str) -> None:
        if stage not in self._told:
            self._told.add(stage)
            self._emit(Event("status", {"stage": stage, "question": self._question}))

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]) -> Iterator[str]:
        self._stage("generating")
        for piece in self._generator.complete(prompt, max_tokens=max_tokens, stop=stop):
            if self._cancelled.is_set():
                raise Cancelled
            yield piece
        self._stage("verifying")

    def _scored(self, prompt: str, options: Sequence[str]) -> list[float]:
        if self._cancelled.is_set():
            raise Cancelled
        return list(self._generator.score_options(prompt, options))

