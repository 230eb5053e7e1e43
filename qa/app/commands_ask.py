"""The commands that answer: `ask`, `repl`, and `models` (which model answers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qa.app.options import (
    IndexDir,
    IndexName,
    JsonFlag,
    LlmOpt,
    ModelOpt,
    ModelsDir,
    StoreOpt,
    console,
    context,
    date_option,
    user_errors,
)


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    since: Annotated[str | None, typer.Option(help="Only articles published on or after.")
                     ] = None,
    until: Annotated[str | None, typer.Option(help="Only articles published on or before.")
                     ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help=(
        "Answer as of this date: nothing published later is used."))] = None,
    source: Annotated[str | None, typer.Option(help="Only this outlet (case-insensitive part "
                                               "of its name).")] = None,
    k: Annotated[int, typer.Option("--k", help="How many articles to retrieve.")] = 5,
    model: ModelOpt = None,
    as_json: JsonFlag = False,
    llm: LlmOpt = None,
    store_uri: StoreOpt = None,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
    models_dir: ModelsDir = Path("models"),
) -> None:
    """Answer a question from the archive, with verified citations."""
    from qa.answer.pipeline import ask as run_ask
    from qa.answer.pipeline import check_question
    from qa.app.render import render_answer, streaming
    from qa.core.records import Filters

    with user_errors(ctx):
        question = check_question(question, k)
        filters = Filters(since=date_option(since, "--since"),
                          until=date_option(until, "--until"),
                          source=source).ending(date_option(as_of, "--as-of"))
        app = context(index=index, index_dir=index_dir, models_dir=models_dir, model=model,
                      llm=llm, store=store_uri, k=k, generator=True)
        generator, _ = app.generator()
        embedder = app.embedder()
        with app.open_index(embedder=embedder, require_articles=True) as store:
            answer = streaming(console, lambda on_text: run_ask(
                question, index=store, embedder=embedder, generator=generator, filters=filters,
                params=app.settings.answering, on_text=on_text), stream=not as_json)
            if as_json:
                sys.stdout.write(json.dumps(answer.to_json(), ensure_ascii=False) + "\n")
            else:
                render_answer(console, answer)


def repl(
    ctx: typer.Context,
    model: ModelOpt = None,
    llm: LlmOpt = None,
    store_uri: StoreOpt = None,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
    models_dir: ModelsDir = Path("models"),
) -> None:
    """Ask, follow up, narrow by date and outlet, open the sources (/help inside)."""
    from qa.app.repl import Session
    from qa.app.repl import run as run_repl

    with user_errors(ctx):
        app = context(index=index, index_dir=index_dir, models_dir=models_dir, model=model,
                      llm=llm, store=store_uri, generator=True)
        generator, _ = app.generator()
        embedder = app.embedder()
        with app.open_index(embedder=embedder, require_articles=True) as store:
            session = Session.of(app, store, generator, console)
            run_repl(session, history=app.settings.history)


def models(
    ctx: typer.Context,
    model: ModelOpt = None,
    models_dir: ModelsDir = Path("models"),
) -> None:
    """List the models newsqa can use, and which one answers."""
    from qa.models.catalog import (
        EMBEDDER_NAME,
        default_gguf,
        embedder_folder,
        smollm2_gguf,
        user_ggufs,
    )

    with user_errors(ctx):
        app = context(models_dir=models_dir, model=model, gguf=True, vectors=False)
        choice = app.model_choice()
        measured = getattr(app.embedder(), "measured_precision", lambda: None)()
        new = (f"{measured.precision} for new indexes, {measured.why}" if measured else
               "int8 or fp32 for new indexes, whichever the first ingest measures faster here")
        console.print(f"[bold]embedder[/]  {EMBEDDER_NAME} on ONNX Runtime ({escape(new)})  "
                      f"[dim]{escape(str(embedder_folder()))}[/]")
        console.print("[bold]generators[/]")
        candidates = user_ggufs(models_dir)
        candidates += [p for p in (default_gguf(app.settings.models.cache_dir), smollm2_gguf())
                       if p is not None and p not in candidates]
        if choice.path not in candidates:
            candidates.insert(0, choice.path)
        for path in candidates:
            mark = "[green]*[/]" if path == choice.path else " "
            size = f"{path.stat().st_size / 1e6:.0f} MB" if path.exists() else "missing"
            console.print(f" {mark} {escape(path.name)}  [dim]{size}  {escape(str(path))}[/]")
        console.print(f"[dim]* in use ({escape(choice.why)})[/]")
