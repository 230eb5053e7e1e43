"""The `newsqa` command line: the Typer app, its root options, and the commands it holds.

Each command (qa/app/commands_*.py) parses its flags, resolves its settings into a context
(qa/app/context.py), calls one library function and prints; `options.user_errors` turns a
library error into one clean message and an exit code.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from qa.app import commands_ask, commands_eval, commands_index, commands_serve
from qa.app.commands_index import SAMPLE as SAMPLE  # the bundled archive (`ingest --sample`)
from qa.app.options import Command, Group, RootOptions, console, flag
from qa.core.interrupts import keep_lost

app = typer.Typer(
    name="newsqa",
    cls=Group,
    add_completion=False,
    rich_markup_mode="rich",
    help="Answer questions about a local news archive, with citations a reader can check.",
)
index_app = typer.Typer(cls=Group, no_args_is_help=True, help="What an index holds.")
app.add_typer(index_app, name="index")


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context,
          debug: Annotated[bool, flag("--debug", help="Show tracebacks.")] = False) -> None:
    """Bare `newsqa` opens the REPL on a terminal, and prints this help elsewhere."""
    ctx.obj = RootOptions(debug=debug)
    # Output read by a program or pasted from a pipe keeps its lines whole: a URL or a path
    # wrapped at 80 columns is no longer one.
    console.soft_wrap = not console.is_terminal
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            ctx.invoke(commands_ask.repl, ctx)
        else:
            console.print(ctx.get_help())


# Registered in the order they were written before the commands moved to their modules.
app.command(cls=Command)(commands_index.ingest)
app.command(cls=Command)(commands_ask.ask)
app.command(cls=Command)(commands_ask.repl)
app.command("eval", cls=Command)(commands_eval.evaluate)
app.command(cls=Command)(commands_ask.models)
index_app.command("info", cls=Command)(commands_index.index_info)
index_app.command("doctor", cls=Command)(commands_index.index_doctor)
index_app.command("sync", cls=Command)(commands_index.index_sync)
app.command("rm", cls=Command)(commands_index.remove)
app.command(cls=Command)(commands_serve.serve)
app.command(cls=Command)(commands_serve.mcp)


def main() -> None:
    keep_lost()
    app()
