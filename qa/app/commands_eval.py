"""`newsqa eval`: answer a file of questions, and score the run where they carry gold fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TextColumn

from qa.app.options import (
    IndexDir,
    IndexName,
    LlmOpt,
    ModelOpt,
    ModelsDir,
    StoreOpt,
    console,
    context,
    date_option,
    errors,
    flag,
    user_errors,
)
from qa.core.interrupts import stop_if_interrupted


def evaluate(
    ctx: typer.Context,
    questions: Annotated[Path, typer.Argument(help="Question file: .txt (one a line) or .jsonl.")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default runs/<file name>).")
                   ] = None,
    limit: Annotated[int | None, typer.Option(
        help="Only the first N questions (answers saved in --out for others are kept).")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="How many articles to retrieve.")] = 10,
    since: Annotated[str | None, typer.Option(help="Only articles published on or after.")
                     ] = None,
    until: Annotated[str | None, typer.Option(help="Only articles published on or before.")
                     ] = None,
    source: Annotated[str | None, typer.Option(help="Only this outlet.")] = None,
    restart: Annotated[bool, flag("--restart/--no-restart",
                                  help="Discard answers already in --out.")] = False,
    model: ModelOpt = None,
    llm: LlmOpt = None,
    store_uri: StoreOpt = None,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
    models_dir: ModelsDir = Path("models"),
) -> None:
    """Answer a file of questions; with gold fields, score retrieval, answers and citations."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from qa.app.render import render_report
    from qa.core.records import Filters
    from qa.core.settings import check_k, eval_run
    from qa.eval.questions import has_gold, load_questions
    from qa.eval.report import write_report
    from qa.eval.run import run_eval, run_folder
    from qa.eval.score import score_run
    from qa.eval.trec import write_trec

    with user_errors(ctx):
        check_k(k)
        app = context(index=index, index_dir=index_dir, models_dir=models_dir, model=model,
                      llm=llm, store=store_uri, k=k, generator=True)
        folder = app.folder  # a bad --index is said before the questions are read
        items = load_questions(questions)[:limit]
        out = out or Path("runs") / questions.name.split(".")[0]
        filters = Filters(since=date_option(since, "--since"),
                          until=date_option(until, "--until"), source=source)
        generator, model_name = app.generator()
        embedder = app.embedder()
        with (run_folder(out),
              app.open_index(embedder=embedder, require_articles=True) as store):
            run = eval_run(app.settings, questions=questions, index=folder,
                           model=model_name, filters=filters, vector_store=(
                               store.vector_store.uri if store.vector_store else "faiss"))
            progress = Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=errors)
            with progress:
                task = progress.add_task("eval", total=len(items))

                def tick(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)
                    stop_if_interrupted()

                records = run_eval(items, out, index=store, embedder=embedder,
                                   generator=generator, settings=run.described,
                                   settings_fingerprint=run.fingerprint, filters=filters,
                                   params=app.settings.answering, restart=restart,
                                   on_question=tick)
            write_trec(out, items, records, store)
            console.print(f"answers: {out / 'answers.jsonl'}", markup=False)
            if has_gold(items):
                saved = json.loads((out / "run.json").read_text(encoding="utf-8"))
                report = score_run(items, records, store, wall_s=saved.get("wall_s"), k=k)
                report["settings_fingerprint"] = run.fingerprint
                write_report(out, report, f"newsqa eval: {questions.name} ({len(items)} questions,"
                             f" {model_name})")
                render_report(console, report)
                console.print(f"report: {out / 'report.md'}, {out / 'report.png'}", markup=False)
