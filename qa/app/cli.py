"""The `newsqa` command line: parse, call one library function, print."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperCommand, TyperGroup

from qa.core.errors import NewsqaError, from_environment
from qa.core.interrupts import keep_lost, stop_if_interrupted
from qa.core.terminal import SafeConsole, shown


# Flags read as flags: typer 0.29 writes a type after every option in --help, flags included
# (`--debug <bool>`, `--help <bool>`), as if they took a value; an empty metavar leaves it out
# (0.28 and earlier show none), for our flags through `flag` and for --help through these.
def _as_flag(option: Any) -> Any:
    if option is not None:
        option.metavar = ""
    return option


class _Command(TyperCommand):
    def get_help_option(self, ctx: Any) -> Any:
        return _as_flag(super().get_help_option(ctx))


class _Group(TyperGroup):
    def get_help_option(self, ctx: Any) -> Any:
        return _as_flag(super().get_help_option(ctx))


def flag(*names: str, help: str) -> Any:
    """A bool option, shown in --help as a flag (see `_as_flag`)."""
    return typer.Option(*names, help=help, metavar="")


app = typer.Typer(
    name="newsqa",
    cls=_Group,
    add_completion=False,
    rich_markup_mode="rich",
    help="Answer questions about a local news archive, with citations a reader can check.",
)
index_app = typer.Typer(cls=_Group, no_args_is_help=True, help="What an index holds.")
app.add_typer(index_app, name="index")

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


@dataclass(frozen=True)
class Settings:
    debug: bool = False


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context,
          debug: Annotated[bool, flag("--debug", help="Show tracebacks.")] = False) -> None:
    """Bare `newsqa` opens the REPL on a terminal, and prints this help elsewhere."""
    ctx.obj = Settings(debug=debug)
    # Output read by a program or pasted from a pipe keeps its lines whole: a URL or a path
    # wrapped at 80 columns is no longer one.
    console.soft_wrap = not console.is_terminal
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            ctx.invoke(repl, ctx)
        else:
            console.print(ctx.get_help())


@contextlib.contextmanager
def _user_errors(ctx: typer.Context) -> Iterator[None]:
    """Library errors become one clean message and exit code 1; a traceback only with --debug."""
    debug = isinstance(ctx.obj, Settings) and ctx.obj.debug
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
        if (known := from_environment(exc)) is not None and not _caused_by_interrupt(exc):
            if debug:
                raise
            errors.print(f"[red]error:[/] {escape(known.message)}", highlight=False,
                         soft_wrap=True)
            errors.print(f"[dim]hint: {escape(known.hint or '')}[/]", highlight=False,
                         soft_wrap=True)
            raise typer.Exit(1) from None
        if not _caused_by_interrupt(exc):
            raise
        # Ctrl-C inside a lazy import surfaces as the ImportError it caused.
        errors.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None


def _caused_by_interrupt(exc: BaseException) -> bool:
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _default_embedder() -> Any:
    from qa.core.config import cache_dir
    from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder
    from qa.models.onnx import OnnxEmbedder

    def exporting() -> None:
        errors.print("[dim]preparing the embedder for ONNX Runtime: once, about 10 s[/]")

    return OnnxEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM, cache_dir(),
                        on_export=exporting)


def _fit(embedder: Any, store: Any) -> Any:
    """Embed at the precision of the index's own vectors (questions too), so they never mix."""
    if hasattr(embedder, "precision"):
        embedder.precision = store.precision
    return store


def _generator(path: Path) -> Any:
    from qa.models.generators import LlamaGenerator

    return LlamaGenerator(path)


def _spec(embedder: Any, precision: str = "fp32") -> Any:
    from qa.store.index import EmbedderSpec

    return EmbedderSpec(embedder.name, embedder.dim, precision)


def _attach_store(store: Any, flag: str | None) -> None:
    """Search the vector store the user chose, else the one the index used last."""
    from qa.core.config import FAISS, setting, vector_store

    chosen = setting("store", flag, "--store")
    uri = chosen.value if chosen else store.manifest.get("vector_store", FAISS)
    store.attach(vector_store(str(uri), store.path.name))


def _require_articles(store: Any) -> None:
    """A question to an empty index is a mistake to say, not a refusal to give."""
    if not store.counts()["articles"]:
        raise NewsqaError(f"the index at {store.path.absolute()} is empty: it holds no articles",
                          hint=f"add some with `newsqa ingest PATH --index {store.path.name}`")


def _date(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    from qa.ingest.readers import parse_date

    parsed = parse_date(value)
    if parsed is None:
        raise NewsqaError(f"{flag} {value!r} is not a date", hint=f"write it as {flag} 2024-12-09")
    return parsed[:10]


SAMPLE = files("qa") / "sample" / "archive.jsonl"


@app.command(cls=_Command)
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Files or folders: JSONL, text/Markdown, HTML, RSS/Atom, WARC (any of them gzipped).",
        show_default=False)] = None,
    sample: Annotated[bool, flag("--sample", help="Ingest the bundled sample archive.")
                      ] = False,
    field: Annotated[list[str] | None, typer.Option("--field", help=(
        "FIELD=COLUMN: read an article field from another JSONL column, e.g. "
        "text=article_body (repeatable)."))] = None,
    rescan: Annotated[bool, flag("--rescan", help=(
        "Read every file again, even those unchanged since an earlier run read them."))
                      ] = False,
    follow_links: Annotated[bool, flag("--follow-links", help=(
        "In a folder, read links to files and folders outside it too (else they are skipped "
        "and reported)."))] = False,
    ray: Annotated[str | None, typer.Option("--ray", metavar="ADDRESS", help=(
        "Parse and embed on Ray: `local` starts Ray on this machine for the run; `auto` or "
        "ray://HOST:10001 joins a cluster (files must be at the same path on every node)."))
                   ] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help=(
        "With --ray: how many embedder actors (default: one per CPU)."))] = None,
    precision: Annotated[str | None, typer.Option("--precision", metavar="int8|fp32", help=(
        "How a new index's vectors are computed: int8 (default; about 5x faster, retrieves as "
        "well on the dev split) or fp32 (torch's vectors). An index keeps its own."))] = None,
    store_uri: StoreOpt = None,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
) -> None:
    """Add articles to an index (incremental: unchanged files and articles are skipped)."""
    from rich.progress import SpinnerColumn

    from qa.app.render import render_ingest
    from qa.ingest.pipeline import ingest as run_ingest
    from qa.ingest.readers import parse_field_mapping
    from qa.store.index import Index, index_folder

    with _user_errors(ctx):
        try:
            fields = parse_field_mapping(field or [])
        except ValueError as exc:
            raise NewsqaError(str(exc), hint="see `newsqa ingest --help`") from None
        targets = list(paths or [])
        if sample:
            targets.append(Path(str(SAMPLE)))
        if not targets:
            raise NewsqaError("nothing to ingest", hint="give files or folders, or --sample")
        if workers is not None and ray is None:
            raise NewsqaError("--workers is for --ray", hint="add --ray local, or drop --workers")
        if precision not in (None, "int8", "fp32"):
            raise NewsqaError(f"--precision {precision!r} is not int8 or fp32",
                              hint="use --precision int8 (the default) or --precision fp32")
        embedder = _default_embedder()
        folder = index_folder(index_dir, index)
        new_index = not Index.exists(folder)
        made = [p for p in (folder, *folder.parents) if not p.exists()]
        with Index.open(folder, _spec(embedder, precision or "int8"), create=True,
                        write=True) as store:
            if precision is not None and precision != store.precision:
                raise NewsqaError(f"the index at {store.path} holds {store.precision} vectors",
                                  hint="drop --precision, or ingest into a new --index")
            _fit(embedder, store)
            _attach_store(store, store_uri)
            progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.completed} articles"), TimeElapsedColumn(),
                                console=errors, transient=True)
            with progress:
                task = progress.add_task("ingesting", total=None)

                def tick(origin: str, _chunks: int) -> None:
                    progress.update(task, advance=1,
                                    description=escape(shown(Path(origin).name, one_line=True)))
                    stop_if_interrupted()

                if ray is None:
                    report = run_ingest(targets, store, embedder, fields=fields,
                                        rescan=rescan, follow_links=follow_links,
                                        on_article=tick)
                else:
                    from qa.ingest.distributed import ray_ingest

                    report = ray_ingest(targets, store, embedder,
                                        address=None if ray == "local" else ray,
                                        workers=workers, fields=fields, rescan=rescan,
                                        follow_links=follow_links, on_article=tick)
            if new_index and not store.counts()["articles"]:
                # Nothing stored: leave no empty index behind (a mistyped path would make one
                # that refuses every question), nor the folders made for it.
                store.discard()
                for folder in made:
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                render_ingest(console, report, None)
            else:
                render_ingest(console, report, str(store.path.absolute()))
        if report.rejected:
            raise typer.Exit(2)


@app.command(cls=_Command)
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
    as_json: Annotated[bool, flag("--json", help="Print one JSON object.")] = False,
    llm: LlmOpt = None,
    store_uri: StoreOpt = None,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
    models_dir: ModelsDir = Path("models"),
) -> None:
    """Answer a question from the archive, with verified citations."""
    from qa.answer.pipeline import AskParams, check_question
    from qa.answer.pipeline import ask as run_ask
    from qa.app.render import ask_streaming, render_answer
    from qa.core.records import Filters
    from qa.search.retrieve import RetrieveParams
    from qa.store.index import Index, index_folder

    with _user_errors(ctx):
        params = AskParams(retrieve=replace(RetrieveParams(), k=k))
        question = check_question(question, params)
        filters = Filters(since=_date(since, "--since"), until=_date(until, "--until"),
                          source=source).ending(_date(as_of, "--as-of"))
        generator, _ = _answerer(model, llm, models_dir)
        embedder = _default_embedder()
        with Index.open(index_folder(index_dir, index), _spec(embedder)) as store:
            _require_articles(store)
            _fit(embedder, store)
            _attach_store(store, store_uri)
            if as_json:
                answer = run_ask(question, index=store, embedder=embedder, generator=generator,
                                 filters=filters, params=params)
                sys.stdout.write(json.dumps(answer.to_json(), ensure_ascii=False) + "\n")
                return
            answer = ask_streaming(console, question, store, embedder, generator, filters,
                                   params)
            render_answer(console, answer)


@app.command(cls=_Command)
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
    from qa.app.repl import Session, history_path
    from qa.app.repl import run as run_repl
    from qa.store.index import Index, index_folder

    with _user_errors(ctx):
        generator, _ = _answerer(model, llm, models_dir)
        embedder = _default_embedder()
        with Index.open(index_folder(index_dir, index), _spec(embedder)) as store:
            _require_articles(store)
            _fit(embedder, store)
            _attach_store(store, store_uri)
            session = Session(index=store, embedder=embedder, generator=generator,
                              console=console, models_dir=models_dir,
                              load_generator=_generator)
            run_repl(session, history=history_path())


def _model_choice(model: Path | None, models_dir: Path) -> Any:
    from qa.core.config import cache_dir, setting
    from qa.models.catalog import resolve_generator

    chosen = setting("model", str(model) if model is not None else None, "--model")
    if chosen is not None:
        return resolve_generator(Path(chosen.value).expanduser(), chosen.why, models_dir)
    return resolve_generator(None, "", models_dir, cache_dir())


def _answerer(model: Path | None, llm: str | None, models_dir: Path) -> tuple[Any, str]:
    """The generator and its name: a server (--llm, NEWSQA_LLM, config) unless a GGUF file
    is named on the command line, else a GGUF run here (see `_model_choice`)."""
    from qa.core.config import llm_api_key, setting

    if model is not None and llm:
        raise NewsqaError("--model and --llm both name the model that answers",
                          hint="give --model (a GGUF run here) or --llm (a server), not both")
    server = setting("llm", llm, "--llm") if model is None else None
    if server is not None:
        from qa.models.http import HttpGenerator

        return HttpGenerator(server.value, api_key=llm_api_key()), server.value
    choice = _model_choice(model, models_dir)
    return _generator(choice.path), choice.path.name


@app.command("eval", cls=_Command)
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

    from qa.answer.pipeline import MAX_K, AskParams
    from qa.app.render import render_report
    from qa.core.records import Filters
    from qa.eval.questions import has_gold, load_questions
    from qa.eval.report import write_report
    from qa.eval.run import run_eval, run_folder
    from qa.eval.score import score_run
    from qa.eval.trec import write_trec
    from qa.search.retrieve import RetrieveParams
    from qa.store.index import Index, index_folder

    with _user_errors(ctx):
        if not 1 <= k <= MAX_K:
            raise NewsqaError(f"--k must be between 1 and {MAX_K}", hint="try --k 10")
        folder = index_folder(index_dir, index)
        items = load_questions(questions)[:limit]
        out = out or Path("runs") / questions.name.split(".")[0]
        filters = Filters(since=_date(since, "--since"), until=_date(until, "--until"),
                          source=source)
        generator, model_name = _answerer(model, llm, models_dir)
        embedder = _default_embedder()
        settings: dict[str, Any] = {
            "questions": str(questions), "index": str(folder), "k": k,
            "model": model_name, "filters": [filters.since, filters.until, filters.source]}
        with run_folder(out), Index.open(folder, _spec(embedder)) as store:
            _require_articles(store)
            _fit(embedder, store)
            _attach_store(store, store_uri)
            settings["vector_store"] = store.vector_store.uri if store.vector_store else "faiss"
            progress = Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=errors)
            with progress:
                task = progress.add_task("eval", total=len(items))

                def tick(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)
                    stop_if_interrupted()

                records = run_eval(items, out, index=store, embedder=embedder,
                                   generator=generator, settings=settings, filters=filters,
                                   params=AskParams(retrieve=replace(RetrieveParams(), k=k)),
                                   restart=restart, on_question=tick)
            write_trec(out, items, records, store)
            console.print(f"answers: {out / 'answers.jsonl'}", markup=False)
            if has_gold(items):
                run = json.loads((out / "run.json").read_text(encoding="utf-8"))
                report = score_run(items, records, store, wall_s=run.get("wall_s"), k=k)
                write_report(out, report, f"newsqa eval: {questions.name} ({len(items)} questions,"
                             f" {model_name})")
                render_report(console, report)
                console.print(f"report: {out / 'report.md'}, {out / 'report.png'}", markup=False)


@app.command(cls=_Command)
def models(
    ctx: typer.Context,
    model: ModelOpt = None,
    models_dir: ModelsDir = Path("models"),
) -> None:
    """List the models newsqa can use, and which one answers."""
    from qa.core.config import cache_dir
    from qa.models.catalog import (
        EMBEDDER_NAME,
        default_gguf,
        embedder_folder,
        smollm2_gguf,
        user_ggufs,
    )

    with _user_errors(ctx):
        choice = _model_choice(model, models_dir)
        console.print(f"[bold]embedder[/]  {EMBEDDER_NAME} on ONNX Runtime (int8 for new "
                      f"indexes, or fp32)  [dim]{escape(str(embedder_folder()))}[/]")
        console.print("[bold]generators[/]")
        candidates = user_ggufs(models_dir)
        candidates += [p for p in (default_gguf(cache_dir()), smollm2_gguf())
                       if p is not None and p not in candidates]
        if choice.path not in candidates:
            candidates.insert(0, choice.path)
        for path in candidates:
            mark = "[green]*[/]" if path == choice.path else " "
            size = f"{path.stat().st_size / 1e6:.0f} MB" if path.exists() else "missing"
            console.print(f" {mark} {escape(path.name)}  [dim]{size}  {escape(str(path))}[/]")
        console.print(f"[dim]* in use ({escape(choice.why)})[/]")


@index_app.command("info", cls=_Command)
def index_info(
    ctx: typer.Context,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
    as_json: Annotated[bool, flag("--json", help="Print one JSON object.")] = False,
    store_uri: StoreOpt = None,
) -> None:
    """Articles, chunks, outlets, dates, embedder and vector store of an index."""
    from qa.store.index import Index, index_folder

    with _user_errors(ctx), Index.open(index_folder(index_dir, index), None) as store:
        _attach_store(store, store_uri)
        info = store.info()
        if as_json:
            sys.stdout.write(json.dumps(info) + "\n")
            return
        console.print(f"[bold]{escape(str(info['path']))}[/]")
        if not info["articles"]:
            console.print(f"empty: no articles yet (`newsqa ingest PATH --index {index}` adds "
                          "some)")
            return
        first, last = info["dates"]
        dates = f"dates {first} to {last}" if first else "no dates"
        if info["undated"]:
            dates += f", {info['undated']} undated"
        console.print(f"articles {info['articles']}, chunks {info['chunks']}, "
                      f"syndicated copies {info['copies']}, {dates}")
        console.print(f"embedder {info['embedder']['name']} (dim {info['embedder']['dim']}, "
                      f"{info['embedder'].get('precision', 'fp32')}), "
                      f"chunks of at most {info['chunking']['max_words']} words", markup=False)
        console.print("outlets: " + ", ".join(f"{escape(k)} ({v})"
                                             for k, v in info["outlets"].items()))
        if info["copy_outlets"]:
            console.print("copies carried by: " + ", ".join(
                f"{escape(k)} ({v})" for k, v in info["copy_outlets"].items()))
        console.print(f"size on disk {info['size_bytes'] / 1e6:.1f} MB")
        vectors = info["vector_store"]
        if vectors["uri"] == "faiss":
            console.print(f"vectors: FAISS file {vectors['file']}", markup=False)
        elif "error" in vectors:
            console.print(f"vectors: {escape(str(vectors['uri']))} [red]unreachable[/]: "
                          f"{escape(str(vectors['error']))}")
        else:
            console.print(f"vectors: {vectors['engine']} {vectors['uri']}, collection "
                          f"{vectors['collection']} ({vectors['index_type']}), "
                          f"{vectors['chunks']} vectors at generation {vectors['generation']}",
                          markup=False)


@index_app.command("doctor", cls=_Command)
def index_doctor(
    ctx: typer.Context,
    repair: Annotated[bool, flag("--repair/--no-repair",
                                 help="Rebuild what can be rebuilt from the store.")] = False,
    store_uri: StoreOpt = None,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
) -> None:
    """Check that an index's manifest, store, full-text table and vectors agree."""
    from qa.store.doctor import check
    from qa.store.index import Index, index_folder

    with (_user_errors(ctx),
          Index.open(index_folder(index_dir, index), None, write=repair) as store):
        _attach_store(store, store_uri)
        result = check(store, repair=repair)
        console.print(f"[bold]{escape(str(store.path))}[/]: " + escape(", ".join(
            f"{k} {v}" for k, v in result.facts.items())))
        for problem in result.problems:
            console.print(f"[red]problem[/] {escape(problem)}")
        for fixed in result.repaired:
            console.print(f"[green]repaired[/] {escape(fixed)}")
        left = check(store).problems if repair and result.problems else result.problems
        if not left:
            console.print("[green]sound[/]: manifest, store, full-text table and vectors agree")
            return
        if repair:
            for problem in left:
                console.print(f"[red]still wrong[/] {escape(problem)}")
        else:
            console.print("[dim]`newsqa index doctor --repair` rebuilds what can be rebuilt[/]")
        raise typer.Exit(1)


@index_app.command("sync", cls=_Command)
def index_sync(
    ctx: typer.Context,
    store_uri: StoreOpt = None,
    full: Annotated[bool, flag("--full", help=(
        "Write every vector afresh, not only what changed since the last sync."))] = False,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
) -> None:
    """Bring the vector store (FAISS, or Milvus given by --store) up to date with the index;
    the index then uses that store until told otherwise."""
    import time

    from qa.store.index import Index, index_folder

    with (_user_errors(ctx),
          Index.open(index_folder(index_dir, index), None, write=True) as store):
        _attach_store(store, store_uri)
        started = time.perf_counter()
        store.commit_vectors(full=full)
        where = store.vector_store.uri if store.vector_store else f"FAISS {store.path}"
        console.print(f"{where}: {store.counts()['chunks']} chunks at generation "
                      f"{store.generation()} ({time.perf_counter() - started:.1f} s)", markup=False)


@app.command("rm", cls=_Command)
def remove(
    ctx: typer.Context,
    ids: Annotated[list[str] | None, typer.Option("--id", help="Article id (repeatable).")
                   ] = None,
    urls: Annotated[list[str] | None, typer.Option("--url", help="Article URL (repeatable).")
                    ] = None,
    sources: Annotated[list[str] | None, typer.Option("--source", help=(
        "Every article of this outlet (whole name, any case; repeatable)."))] = None,
    store_uri: StoreOpt = None,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
) -> None:
    """Remove articles from an index by id, URL or outlet."""
    from qa.store.index import Index, index_folder

    with _user_errors(ctx):
        if not (ids or urls or sources):
            raise NewsqaError("nothing to remove", hint="give --id, --url or --source")
        with Index.open(index_folder(index_dir, index), None, write=True) as store:
            _attach_store(store, store_uri)
            found = store.find(ids=ids or (), urls=urls or (), sources=sources or ())
            if not found:
                raise NewsqaError("no stored article has that id, URL or outlet",
                                  hint="`newsqa index info` lists the outlets")
            from qa.ingest.pipeline import remove_articles

            def embedder() -> Any:  # only when a removed article's copy takes its place
                model = _default_embedder()
                store.check_embedder(_spec(model))
                _fit(model, store)
                return model

            removed, replaced = remove_articles(store, embedder, found)
            console.print(f"removed {removed} article{'' if removed == 1 else 's'}"
                          + (f" ({replaced} replaced by a copy from another outlet)"
                             if replaced else "")
                          + f"; the index now holds {store.counts()['articles']}")


def main() -> None:
    keep_lost()
    app()
