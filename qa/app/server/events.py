"""What a streamed answer is made of (the named events of `GET /api/ask`), and the status and
words of an error, for every front end of the server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qa.core.errors import NewsqaError
from qa.core.records import Answer

if TYPE_CHECKING:
    from qa.app.server.service import Answered
    from qa.store.index import Index

INTERNAL = "the server failed to answer (its log says why)"
CLIENT_GONE = 499  # as nginx logs a request its client closed


@dataclass(frozen=True)
class Event:
    """One server-sent event: `status`, `draft`, `answer`, `citation`, `note`, `done` or
    `error`, with its JSON data."""

    name: str
    data: dict[str, Any]


def answer_json(answer: Answer) -> dict[str, Any]:
    """The `newsqa ask --json` object, with `closest`: the retrieved articles, best first,
    each once, with what a reader needs to pick one (a refusal shows them)."""
    closest: dict[str, dict[str, Any]] = {}
    for hit in answer.retrieved:
        article = hit.article
        closest.setdefault(article.id, {
            "article_id": article.id, "title": article.title, "source": article.source,
            "published": article.published, "url": article.url})
    return {**answer.to_json(), "closest": list(closest.values())}


def answer_events(answered: Answered) -> Iterator[Event]:
    """The verified answer (without its citations), then each citation once, with where its
    quote is in the article's text, then each news note."""
    answer = answered.answer
    shown = answer_json(answer)
    del shown["citations"]
    if not answer.notes:
        del shown["notes"]
    yield Event("answer", shown)
    for citation, offsets in zip(answer.citations, answered.offsets, strict=True):
        start, end = offsets if offsets is not None else (None, None)
        yield Event("citation", {**citation.to_json(), "start": start, "end": end})
    for note in answer.notes:
        yield Event("note", {"text": note})


def quote_offsets(answer: Answer, index: Index) -> tuple[tuple[int, int] | None, ...]:
    """Where each citation's quote is in its article's text: the text read with the answer
    where it was (the evidence, the retrieved passages' articles), else the stored one."""
    texts = {e.article.id: e.article.text for e in answer.evidence}
    texts.update((h.article.id, h.article.text) for h in answer.retrieved
                 if h.article.id not in texts)
    found: list[tuple[int, int] | None] = []
    for citation in answer.citations:
        text = texts.get(citation.article_id)
        if text is None:
            article = index.article(citation.article_id)
            text = article.text if article is not None else ""
        start = text.find(citation.quote) if citation.quote else -1
        found.append((start, start + len(citation.quote)) if start >= 0 else None)
    return tuple(found)


def status_of(exc: BaseException) -> int:
    """The HTTP status of an error: what was asked for is missing (404), the index cannot
    answer (409), too many waiting (429), any other problem with the request (400), the client
    has gone (499, nobody reads it), a bug (500)."""
    from qa.app.server.lanes import Busy, Cancelled, IndexUnavailable
    from qa.app.server.service import NotFound

    if isinstance(exc, Cancelled):
        return CLIENT_GONE
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, IndexUnavailable):
        return 409
    if isinstance(exc, Busy):
        return 429
    return 400 if isinstance(exc, NewsqaError) else 500


def error_words(exc: BaseException) -> tuple[str, str | None]:
    """The message and hint a client is shown: the CLI's for a NewsqaError, nothing of the
    inside for a bug."""
    from qa.app.server.lanes import Cancelled

    if isinstance(exc, NewsqaError):
        return exc.message, exc.hint
    if isinstance(exc, Cancelled):
        return "the answer was stopped: its client had gone", None
    return INTERNAL, "try again; if it happens again, report it with the server's log"


def error_event(exc: BaseException) -> Event:
    message, hint = error_words(exc)
    return Event("error", {"message": message, "hint": hint, "status": status_of(exc)})
