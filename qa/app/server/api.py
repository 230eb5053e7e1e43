"""The HTTP API of `newsqa serve` (FastAPI): ask, stream, search, read an article, describe the
index; and the MCP tools at `/mcp`.

Every response is JSON or a stream of server-sent events; every error is JSON with the message
and hint the CLI prints (`{"error": ..., "hint": ...}`), never a traceback. The guard
(qa/app/server/guard.py) refuses a `Host` the server was not bound as, and with an API key,
any `/api` or `/mcp` request without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from qa.app.server.events import (
    Event,
    answer_events,
    answer_json,
    error_event,
    error_words,
    status_of,
)
from qa.app.server.guard import LOOPBACK, Guard
from qa.app.server.lanes import Cancelled
from qa.app.server.service import Query as Asked
from qa.app.server.service import whole_number
from qa.core.errors import NewsqaError

if TYPE_CHECKING:
    from qa.app.server.service import Service

log = logging.getLogger("newsqa.serve")

KEEP_ALIVE_S = 1.0  # a comment sent this often while a question waits: a gone client is seen


class AskBody(BaseModel):
    question: str = Field(description="The question.")
    since: str | None = Field(None, description="Only articles published on or after.")
    until: str | None = Field(None, description="Only articles published on or before.")
    as_of: str | None = Field(None, description="Answer as of this date.")
    source: str | None = Field(None, description="Only this outlet (any part of its name).")
    k: int | str | None = Field(None, description="How many articles to retrieve (1 to 100).")
    previous: list[str] = Field(default_factory=list, description=(
        "The conversation's earlier questions, oldest first: a follow-up is rewritten from "
        "them as the REPL rewrites it."))


Since = Annotated[str | None, Query(description="Only articles published on or after.")]
Until = Annotated[str | None, Query(description="Only articles published on or before.")]
AsOf = Annotated[str | None, Query(description="Answer as of this date.")]
Source = Annotated[str | None, Query(description="Only this outlet (any part of its name).")]
K = Annotated[str | None, Query(description="How many articles to retrieve (1 to 100).")]
Previous = Annotated[list[str] | None, Query(description=(
    "An earlier question of the conversation (repeat, oldest first)."))]


def create_app(service: Service, *, api_key: str | None = None,
               allowed_hosts: Sequence[str] = LOOPBACK, cors_origin: str | None = None,
               mcp: bool = True) -> FastAPI:
    """The server's app over `service`. `allowed_hosts`: the `Host` values it answers (a name
    alone allows any port); `api_key`: required of every `/api` and `/mcp` request;
    `cors_origin`: the one origin whose pages may call the API from a browser."""
    tools = None
    if mcp:
        from qa.app.server.mcp import HttpEndpoint, tools_for

        tools = HttpEndpoint(tools_for(service))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with tools.running() if tools is not None else contextlib.nullcontext():
            yield

    # /docs is FastAPI's Swagger UI, which loads its script from a CDN (FastAPI has no offline
    # copy; the one on PyPI, swagger-ui-bundle, is Swagger UI 4, which cannot read OpenAPI 3.1).
    # Offline, /openapi.json is the same description.
    app = FastAPI(title="newsqa", lifespan=lifespan, redoc_url=None,
                  description="Answers from a local news archive, with citations a reader "
                              "can check: the answer contract of `newsqa ask --json`.")
    _add_errors(app)
    _add_routes(app, service)
    if tools is not None:
        from starlette.routing import Route

        app.router.routes.append(Route("/mcp", tools, include_in_schema=False))
    from qa.app.server import page

    app.include_router(page.router)  # the page at / and its files at /static
    app.add_middleware(Guard, allowed_hosts=allowed_hosts, api_key=api_key)
    if cors_origin is not None:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=[cors_origin],
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    return app


def _add_routes(app: FastAPI, service: Service) -> None:
    @app.post("/api/ask", summary="Answer a question (the `newsqa ask --json` object)")
    async def ask(body: AskBody, request: Request) -> JSONResponse:
        query = Asked(body.question, body.since, body.until, body.as_of, body.source,
                      whole_number(body.k), tuple(body.previous))
        cancelled = threading.Event()
        answered = asyncio.wrap_future(service.submit(query, lambda _: None, cancelled))
        answered.add_done_callback(lambda f: f.cancelled() or f.exception())  # read, not lost
        while not (await asyncio.wait({answered}, timeout=KEEP_ALIVE_S))[0]:
            if await request.is_disconnected():  # gone while waiting: free its turn
                cancelled.set()
                raise Cancelled
        return JSONResponse(answer_json(answered.result().answer))

    @app.get("/api/ask", summary="Answer a question, streamed as server-sent events",
             response_class=StreamingResponse)
    async def ask_stream(q: str, since: Since = None, until: Until = None, as_of: AsOf = None,
                         source: Source = None, k: K = None, previous: Previous = None
                         ) -> StreamingResponse:
        def query() -> Asked:  # read in the stream: a bad `k` is an `error` event too
            return Asked(q, since, until, as_of, source, whole_number(k), tuple(previous or ()))

        return StreamingResponse(_events(service, query), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no",
                                          "Cache-Control": "no-cache"})

    @app.get("/api/search", summary="The passages retrieval finds (no generation)")
    async def search(q: str, since: Since = None, until: Until = None, as_of: AsOf = None,
                     source: Source = None, k: K = None) -> dict[str, Any]:
        return await run_in_threadpool(
            service.search, Asked(q, since, until, as_of, source, whole_number(k)))

    @app.get("/api/articles/{article_id}", summary="A stored article and its copies")
    async def article(article_id: str, quote: Annotated[str | None, Query(description=(
            "A quote: its `start` and `end` in the text are added."))] = None
                      ) -> dict[str, Any]:
        return await run_in_threadpool(service.article, article_id, quote)

    @app.get("/api/index", summary="What the index holds: `newsqa index info`, outlets, dates")
    async def index() -> dict[str, Any]:
        return await run_in_threadpool(service.index_info)


async def _events(service: Service, query: Callable[[], Asked]) -> AsyncIterator[str]:
    """The answer's events as server-sent events, generated in the answer lane and handed
    to this loop as they come; a client gone (this generator closed) stops the generation."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Event | None] = asyncio.Queue()
    cancelled = threading.Event()

    def emit(event: Event | None) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, event)
        except RuntimeError:  # the loop has closed: nobody is listening
            cancelled.set()

    try:
        future = service.submit(query(), emit, cancelled)
    except Exception as exc:
        yield _sse(error_event(_logged(exc)))
        return
    future.add_done_callback(lambda _: emit(None))
    try:
        while True:
            try:
                event = await asyncio.wait_for(events.get(), KEEP_ALIVE_S)
            except TimeoutError:
                yield ": waiting\n\n"
                continue
            if event is None:
                break
            yield _sse(event)
        failure = future.exception()
        if failure is not None:
            yield _sse(error_event(_logged(failure)))
            return
        for event in answer_events(future.result()):
            yield _sse(event)
        yield _sse(Event("done", {}))
    finally:
        cancelled.set()


def _sse(event: Event) -> str:
    return f"event: {event.name}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"


def _logged(exc: BaseException) -> BaseException:
    if not isinstance(exc, NewsqaError | Cancelled):
        log.error("request failed", exc_info=exc)
    return exc


def error_response(exc: BaseException) -> JSONResponse:
    message, hint = error_words(_logged(exc))
    return JSONResponse({"error": message, "hint": hint}, status_code=status_of(exc))


def _add_errors(app: FastAPI) -> None:
    async def known(_: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = exc.errors()
        first = problems[0] if problems else {}
        loc = first.get("loc", ())
        where = str(loc[1]) if len(loc) > 1 else "the request"  # the field, as the client named it
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}",
                             "hint": "see the API at /docs"}, status_code=400)

    app.add_exception_handler(NewsqaError, known)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, known)
