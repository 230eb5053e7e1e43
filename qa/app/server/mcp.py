"""newsqa as MCP tools (the `mcp` SDK, 2.x): `ask`, `search` and `get_article`, read-only, over
the same service as the HTTP API. `newsqa mcp` serves them on stdio; `newsqa serve` at `/mcp`
(streamable HTTP, behind the server's host and key checks).

`ask` returns the answer contract of `newsqa ask --json` as structured output; a problem with
the request is a tool error carrying the CLI's message and hint.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field

from qa.app.server.events import error_words
from qa.app.server.service import Query

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from starlette.applications import Starlette

    from qa.app.server.service import Service

T = TypeVar("T")

INSTRUCTIONS = (
    "Answers questions about a local news archive with verified citations. Every quote is an "
    "exact sentence of the cited article. Dates are YYYY-MM-DD; `as_of` answers as of a date "
    "(nothing published later is used); `source` keeps one outlet. An answer with "
    "answerable=false means the archive does not say: do not guess beyond it.")


class Carrier(BaseModel):
    article_id: str
    url: str | None
    title: str
    source: str | None
    published: str | None


class Citation(BaseModel):
    key: int
    article_id: str
    url: str | None
    title: str
    source: str | None
    published: str | None
    quote: str = Field(description="An exact substring of the cited article's text.")
    also_carried_by: list[Carrier] = Field(default_factory=list)


class Retrieved(BaseModel):
    article_id: str
    chunk_id: str
    score: float


class AnswerContract(BaseModel):
    """The answer of `newsqa ask --json` (DESIGN.md, the answer contract)."""

    question: str = Field(description="The question answered (a follow-up made whole).")
    answer: str
    answerable: bool = Field(description="False: the archive does not answer the question.")
    citations: list[Citation]
    retrieved: list[Retrieved]
    notes: list[str] = Field(default_factory=list, description=(
        "News notes: the newest report, outlets that disagree, a revised figure."))
    model: str
    timings: dict[str, float]


class Hit(BaseModel):
    article_id: str
    chunk_id: str
    title: str
    source: str | None
    published: str | None
    url: str | None
    text: str
    score: float


class SearchResult(BaseModel):
    query: str
    hits: list[Hit]


class Article(BaseModel):
    id: str
    title: str
    source: str | None
    published: str | None
    url: str | None
    authors: list[str]
    text: str
    copies: list[Carrier] = Field(description="The same story as other outlets carried it.")


def tools_for(service: Service) -> MCPServer:
    """The MCP server of `service`'s tools."""
    import anyio
    from mcp.server.mcpserver import MCPServer
    from mcp_types import ToolAnnotations

    server: MCPServer = MCPServer(name="newsqa", instructions=INSTRUCTIONS,
                                      log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    async def run(call: Callable[[], T]) -> T:
        from mcp.server.mcpserver.exceptions import ToolError

        try:
            return await anyio.to_thread.run_sync(call)
        except Exception as exc:
            message, hint = error_words(exc)
            raise ToolError(message + (f" (hint: {hint})" if hint else "")) from None

    @server.tool(annotations=read_only, structured_output=True)
    async def ask(question: str, since: str | None = None, until: str | None = None,
                  as_of: str | None = None, source: str | None = None,
                  k: int | None = None) -> AnswerContract:
        """Answer a question from the news archive, with verified citations (dates
        YYYY-MM-DD; `source`: any part of an outlet's name; `k`: articles, 1 to 100)."""
        answer = await run(lambda: service.ask(Query(question, since, until, as_of, source, k)))
        return AnswerContract.model_validate(answer.to_json())

    @server.tool(annotations=read_only, structured_output=True)
    async def search(query: str, since: str | None = None, until: str | None = None,
                     as_of: str | None = None, source: str | None = None,
                     k: int | None = None) -> SearchResult:
        """The archive's passages that bear on a query, best first (no answer written)."""
        found = await run(lambda: service.search(Query(query, since, until, as_of, source, k)))
        return SearchResult.model_validate(found)

    @server.tool(annotations=read_only, structured_output=True)
    async def get_article(id: str) -> Article:  # noqa: A002 (the tool's argument is `id`)
        """A stored article in full (id from a citation or a search hit), with the copies
        other outlets carried."""
        shown: dict[str, Any] = await run(lambda: service.article(id))
        return Article.model_validate(shown)

    return server


class HttpEndpoint:
    """The tools over streamable HTTP, as the ASGI app of the `/mcp` route: stateless, JSON
    responses. Each run of the server (`running`, in its lifespan) gets a fresh session
    manager, as the SDK requires. The server's own guard checks the host and key, so the SDK's
    DNS-rebinding check is left to it."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server
        self._app: Starlette | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        from mcp.server.transport_security import TransportSecuritySettings

        self._app = self.server.streamable_http_app(
            streamable_http_path="/mcp", stateless_http=True, json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        try:
            async with self.server.session_manager.run():
                yield
        finally:
            self._app = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            raise RuntimeError("the MCP endpoint is served only while the server runs")
        await self._app(scope, receive, send)
