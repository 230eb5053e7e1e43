"""The commands that serve the archive to other programs: `serve` (the HTTP API, the MCP tools
at /mcp, and the page) and `mcp` (the MCP tools on stdio)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qa.app.options import (
    IndexDir,
    IndexName,
    LlmOpt,
    ModelOpt,
    ModelsDir,
    StoreOpt,
    console,
    context,
    errors,
    user_errors,
)
from qa.core.errors import NewsqaError

API_KEY_ENV = "NEWSQA_API_KEY"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help=(
        "Address to listen on. Anything but loopback needs an API key in NEWSQA_API_KEY."))
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    cors: Annotated[str | None, typer.Option("--cors", metavar="ORIGIN", help=(
        "Let pages from this origin call the API from a browser (e.g. "
        "https://newsroom.example); off by default."))] = None,
    model: ModelOpt = None,
    llm: LlmOpt = None,
    store_uri: StoreOpt = None,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
    models_dir: ModelsDir = Path("models"),
) -> None:
    """Serve the HTTP API (/api, documented at /docs) and the MCP tools (/mcp)."""
    import uvicorn

    from qa.app.server.api import create_app
    from qa.app.server.guard import bound_hosts
    from qa.app.server.service import Service

    with user_errors(ctx):
        api_key = os.environ.get(API_KEY_ENV) or None
        if host not in LOOPBACK_HOSTS and api_key is None:
            raise NewsqaError(f"--host {host} would expose the archive beyond this machine "
                              "without a key", hint=f"set {API_KEY_ENV} to a long random "
                              "secret (clients send `Authorization: Bearer KEY`), or serve on "
                              "127.0.0.1")
        app = context(index=index, index_dir=index_dir, models_dir=models_dir, model=model,
                      llm=llm, store=store_uri, generator=True)
        service = Service(app)
        try:
            errors.print("[dim]loading the models…[/]")
            problem = service.warm_up()
            if problem is not None:
                errors.print(f"[yellow]warning:[/] {escape(problem.message)}")
                if problem.hint:
                    errors.print(f"[dim]hint: {escape(problem.hint)}[/]")
            listening = _listen(host, port)
            port = listening.getsockname()[1]  # the one chosen, for --port 0
            api = create_app(service, api_key=api_key, allowed_hosts=bound_hosts(host, port),
                             cors_origin=cors)
            server = uvicorn.Server(uvicorn.Config(api, log_level="warning",
                                                   timeout_graceful_shutdown=5))
            # On every address, the machine's name is one a client can use.
            shown = socket.gethostname() if host in ("0.0.0.0", "::") else \
                f"[{host}]" if ":" in host else host
            console.print(f"newsqa serving {escape(service.name)} at "
                          f"[bold]http://{escape(shown)}:{port}/[/] (API docs at /docs, MCP "
                          f"at /mcp{', key required' if api_key else ''}); Ctrl-C stops it",
                          highlight=False, soft_wrap=True)
            sys.stdout.flush()  # a program that started the server waits for this line
            server.run(sockets=[listening])
        finally:
            service.close()


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` and listening, or the error that says why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise NewsqaError(f"cannot listen on {host}:{port} ({exc.strerror})",
                          hint="another program may be using that port: try --port 8001, or "
                               "--port 0 for any free one") from None
    return sock


def mcp(
    ctx: typer.Context,
    model: ModelOpt = None,
    llm: LlmOpt = None,
    store_uri: StoreOpt = None,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
    models_dir: ModelsDir = Path("models"),
) -> None:
    """Serve the MCP tools (ask, search, get_article) on stdio, for an agent to start."""
    from qa.app.server.mcp import tools_for
    from qa.app.server.service import Service

    with user_errors(ctx):
        app = context(index=index, index_dir=index_dir, models_dir=models_dir, model=model,
                      llm=llm, store=store_uri, generator=True)
        service = Service(app)
        try:
            problem = service.warm_up()
            if problem is not None:  # stdout is the protocol's: say it on stderr
                errors.print(f"[yellow]warning:[/] {escape(problem.message)}")
            tools_for(service).run("stdio")
        finally:
            service.close()
