"""What every command shares: the options they take, the consoles they print to, how a library
error becomes one clean message and an exit code, and the context they run with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from qa.core.errors import NewsqaError, from_environment
from qa.core.interrupts import caused_by_interrupt, stop_if_interrupted
from qa.core.terminal import SafeConsole

if TYPE_CHECKING:
    from qa.app.context import AppContext


# Flags read as flags: typer 0.29 writes a type after every option in --help, flags included
# (`--debug <bool>`, `--help <bool>`), as if they took a value; an empty metavar leaves it out
# (0.28 and earlier show none), for our flags through `flag` and for --help through these.
def _as_flag(option: Any) -> Any:
    if option is not None:
        option.metavar = ""
    return option


class Command(TyperCommand):
    def get_help_option(self, ctx: Any) -> Any:
        return _as_flag(super().get_help_option(ctx))


class Group(TyperGroup):
    def get_help_option(self, ctx: Any) -> Any:
        return _as_flag(super().get_help_option(ctx))


def flag(*names: str, help: str) -> Any:
    """A bool option, shown in --help as a flag (see `_as_flag`)."""
    return typer.Option(*names, help=help, metavar="")


# Every string printed goes through qa.core.terminal.shown: nothing read from a file, a name or an
# index can drive the terminal.
console = SafeConsole()
errors = SafeConsole(stderr=True)

IndexName = Annotated[str, typer.Option("--index", help="Index name, a folder in the index dir.")]
IndexDir = Annotated[
    Path,
    typer.Option("--index-dir", envvar="NEWSQA_INDEX_DIR", help=(
        "Folder that holds the indexes; a relative one is relative to the working folder.")),
]
ModelsDir = Annotated[
    Path,
    typer.Option("--models-dir", envvar="NEWSQA_MODELS_DIR", help="Folder of your GGUF models."),
]
ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="A GGUF file to answer with (else NEWSQA_MODEL, models/, "
                 "the bundled Gemma 3 270M)."),
]
LlmOpt = Annotated[
    str | None,
    typer.Option("--llm", help="An OpenAI-compatible server to answer with instead of a GGUF run "
                 "here, e.g. http://127.0.0.1:8080/v1 (else NEWSQA_LLM or the config file)."),
]
StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Where the vectors are searched: faiss (the index's own file) "
                 "or a Milvus URI, milvus:///path/milvus.db (Milvus Lite) or milvus://host:19530 "
                 "(else NEWSQA_STORE, the config file, or what the index used last)."),
]
JsonFlag = Annotated[bool, flag("--json", help="Print one JSON object.")]


@dataclass(frozen=True)
class RootOptions:
    """The options given before the command (`newsqa --debug ...`)."""

    debug: bool = False


@contextlib.contextmanager
def user_errors(ctx: typer.Context) -> Iterator[None]:
    """Library errors become one clean message and exit code 1; a traceback only with --debug."""
    debug = isinstance(ctx.obj, RootOptions) and ctx.obj.debug
    try:
        yield
        stop_if_interrupted()
    except NewsqaError as exc:
        if debug:
            raise
        errors.print(f"[red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            errors.print(f"[dim]hint: {escape(exc.hint)}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        errors.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None
    except Exception as exc:
        if (known := from_environment(exc)) is not None and not caused_by_interrupt(exc):
            if debug:
                raise
            errors.print(f"[red]error:[/] {escape(known.message)}", highlight=False,
                         soft_wrap=True)
            errors.print(f"[dim]hint: {escape(known.hint or '')}[/]", highlight=False,
                         soft_wrap=True)
            raise typer.Exit(1) from None
        if not caused_by_interrupt(exc):
            raise
        # Ctrl-C inside a lazy import surfaces as the ImportError it caused.
        errors.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None


def context(*, index: str = "default", index_dir: Path = Path("indexes"),
            models_dir: Path = Path("models"), model: Path | None = None,
            llm: str | None = None, store: str | None = None,
            k: int | None = None, generator: bool = False, gguf: bool = False,
            vectors: bool = True) -> AppContext:
    """The context of a command, from its flags (resolved with the environment and the config
    file, qa/core/settings.py) and the installed models."""
    from qa.app.context import AppContext
    from qa.core.settings import resolve

    settings = resolve(index=index, index_dir=index_dir, models_dir=models_dir, model=model,
                       llm=llm, store=store, k=k, generator=generator, gguf=gguf,
                       vectors=vectors)
    return AppContext(settings, on_export=_exporting)


def _exporting() -> None:
    errors.print("[dim]preparing the embedder for ONNX Runtime: once, about 10 s[/]")


def date_option(value: str | None, flag: str) -> str | None:
    """A date flag's value as YYYY-MM-DD, or the error that shows how to write one."""
    if value is None:
        return None
    from qa.ingest.readers import parse_date

    parsed = parse_date(value)
    if parsed is None:
        raise NewsqaError(f"{flag} {value!r} is not a date", hint=f"write it as {flag} 2024-12-09")
    return parsed[:10]
