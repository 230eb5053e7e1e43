"""The commands that write and inspect an index: `ingest`, `index info|doctor|sync`, `rm`."""

from __future__ import annotations

import json
import sys
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from qa.app.options import (
    IndexDir,
    IndexName,
    JsonFlag,
    StoreOpt,
    console,
    context,
    errors,
    flag,
    user_errors,
)
from qa.core.errors import NewsqaError
from qa.core.interrupts import stop_if_interrupted
from qa.core.terminal import shown

SAMPLE = files("qa") / "sample" / "archive.jsonl"


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
        "How a new index's vectors are computed: int8 (retrieves as well on the dev split) or "
        "fp32 (torch's vectors). Default: whichever this CPU embeds faster, measured once and "
        "cached. An index keeps its own."))] = None,
    store_uri: StoreOpt = None,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
) -> None:
    """Add articles to an index (incremental: unchanged files and articles are skipped)."""
    from rich.progress import SpinnerColumn

    from qa.app.render import render_ingest
    from qa.ingest.pipeline import ingest as run_ingest
    from qa.ingest.readers import parse_field_mapping
    from qa.store.index import Index

    with user_errors(ctx):
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
                              hint="use --precision int8 or --precision fp32, or leave it out")
        app = context(index=index, index_dir=index_dir, store=store_uri)
        embedder = app.embedder()
        with app.open_index(embedder=embedder, create=True, write=True,
                            precision=precision) as store:
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
        # Nothing stored in a new index: no index is left behind (see `open_index`).
        render_ingest(console, report,
                      str(app.folder.absolute()) if Index.exists(app.folder) else None)
        if report.rejected:
            raise typer.Exit(2)


def index_info(
    ctx: typer.Context,
    index: IndexName = "default",
    index_dir: IndexDir = Path("indexes"),
    as_json: JsonFlag = False,
    store_uri: StoreOpt = None,
) -> None:
    """Articles, chunks, outlets, dates, embedder and vector store of an index."""
    with user_errors(ctx), context(index=index, index_dir=index_dir,
                                   store=store_uri).open_index() as store:
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
        if info["embedder"].get("precision_why"):
            console.print(f"precision {info['embedder']['precision']}: "
                          f"{info['embedder']['precision_why']}", markup=False)
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

    with (user_errors(ctx), context(index=index, index_dir=index_dir,
                                    store=store_uri).open_index(write=repair) as store):
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


    with (user_errors(ctx), context(index=index, index_dir=index_dir,
                                    store=store_uri).open_index(write=True) as store):
        started = time.perf_counter()
        store.commit_vectors(full=full)
        where = store.vector_store.uri if store.vector_store else f"FAISS {store.path}"
        console.print(f"{where}: {store.counts()['chunks']} chunks at generation "
                      f"{store.generation()} ({time.perf_counter() - started:.1f} s)", markup=False)


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
    with user_errors(ctx):
        if not (ids or urls or sources):
            raise NewsqaError("nothing to remove", hint="give --id, --url or --source")
        app = context(index=index, index_dir=index_dir, store=store_uri)
        with app.open_index(write=True) as store:
            found = store.find(ids=ids or (), urls=urls or (), sources=sources or ())
            if not found:
                raise NewsqaError("no stored article has that id, URL or outlet",
                                  hint="`newsqa index info` lists the outlets")
            from qa.ingest.pipeline import remove_articles

            # The embedder is loaded only when a removed article's copy takes its place.
            removed, replaced = remove_articles(store, lambda: app.fitted_embedder(store), found)
            console.print(f"removed {removed} article{'' if removed == 1 else 's'}"
                          + (f" ({replaced} replaced by a copy from another outlet)"
                             if replaced else "")
                          + f"; the index now holds {store.counts()['articles']}")
