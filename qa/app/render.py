"""How answers and reports look in a terminal; one renderer for every command."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qa.core.records import Answer, Article, Citation, Hit
from qa.core.terminal import shown
from qa.ingest.pipeline import IngestReport


def _meta(source: str | None, date: str | None, title: str) -> str:
    parts = [f"[bold]{escape(source)}[/]" if source else "[dim](outlet unknown)[/]",
             escape(date) if date else "[dim](undated)[/]"]
    if title:
        parts.append(escape(title))
    return " · ".join(parts)


def render_citation(console: Console, citation: Citation) -> None:
    console.print(f"[cyan][{citation.key}][/] "
                  + _meta(citation.source, citation.published, citation.title))
    if citation.url:
        console.print(f"    [blue]{escape(citation.url)}[/]")
    console.print(f"    [italic]“{escape(' '.join(citation.quote.split()))}”[/]")
    if citation.carried_by:
        console.print("    [dim]also carried by " + "; ".join(
            escape(" ".join(filter(None, [k.source or "(outlet unknown)", k.published and
                                          k.published[:10]])))
            for k in citation.carried_by) + "[/]")


def render_closest(console: Console, hits: tuple[Hit, ...], limit: int = 3) -> None:
    shown: list[str] = []
    for hit in hits:
        if hit.article.id in shown:
            continue
        shown.append(hit.article.id)
        article = hit.article
        console.print(" - " + _meta(article.source, article.date, article.title))
        if article.url:
            console.print(f"   [blue]{escape(article.url)}[/]")
        if len(shown) == limit:
            break


def render_answer(console: Console, answer: Answer) -> None:
    style = "bold" if answer.answerable else "bold yellow"
    console.print(f"[{style}]{escape(answer.answer)}[/]")
    for note in answer.notes:
        console.print(escape(note))
    console.print()
    if answer.citations:
        console.print("[bold]Sources[/]")
        for citation in answer.citations:
            render_citation(console, citation)
    elif answer.retrieved:
        console.print("[bold]Closest sources[/] [dim](none of them supports an answer)[/]")
        render_closest(console, answer.retrieved)
    else:
        console.print("[dim]No article in the index matches the question and filters.[/]")
    t = answer.timings
    console.print(
        f"[dim]{escape(answer.model)} · retrieve {t['retrieve_s']:.2f}s · "
        f"generate {t['generate_s']:.2f}s · total {t['total_s']:.2f}s[/]"
    )


def streaming(console: Console, answering: Callable[[Callable[[str], None] | None], Answer], *,
              stream: bool = True) -> Answer:
    """What `answering` returns, its draft shown while it is generated (dim: not yet verified)
    on a terminal; the caller then renders the verified answer. `answering` is a library call
    that passes each piece of the draft to the function it is given (see `qa.answer.pipeline.ask`'s
    `on_text`)."""
    from rich.live import Live
    from rich.text import Text

    if not (stream and console.is_terminal):
        return answering(None)
    draft = Text(style="dim")
    with Live(draft, console=console, transient=True, refresh_per_second=20) as live:
        def show(piece: str) -> None:
            draft.append(shown(piece))
            live.update(draft)

        return answering(show)


def render_article(console: Console, article: Article) -> None:
    """A whole stored article, for reading."""
    console.print(_meta(article.source, article.date, article.title))
    if article.authors:
        console.print(f"[dim]by {escape(', '.join(article.authors))}[/]")
    if article.url:
        console.print(f"[blue]{escape(article.url)}[/]")
    console.print()
    for paragraph in article.text.split("\n"):
        if paragraph.strip():
            console.print(escape(paragraph.strip()), highlight=False)
            console.print()


def render_report(console: Console, report: dict[str, Any]) -> None:
    """The eval metrics as a table (the definitions are in report.md)."""
    from qa.eval.report import metric_rows

    table = Table(title="eval report", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("questions", justify="right")
    for label, value, n, _ in metric_rows(report):
        table.add_row(label, "n/a" if value is None else f"{value:.3f}", n)
    latency = report["latency"]
    for label, key in (("Latency p50 (s)", "p50_s"), ("Latency p90 (s)", "p90_s"),
                       ("Wall time (s)", "wall_s")):
        value = latency.get(key)
        table.add_row(label, "n/a" if value is None else f"{value:.2f}", str(latency["n"]))
    console.print(table)


def render_ingest(console: Console, report: IngestReport, index_path: str | None) -> None:
    """The ingest summary; `index_path` None when nothing was stored and no index was made."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("files read", str(report.files))
    if report.files_unchanged:
        table.add_row("files unchanged", f"{report.files_unchanged} (read before; --rescan "
                                         "reads them again)")
    table.add_row("added", f"{report.added} articles ({report.chunks} chunks)")
    if report.updated:
        table.add_row("updated", str(report.updated))
    table.add_row("unchanged", str(report.unchanged))
    if report.copies:
        table.add_row("copies", f"{report.copies} (syndicated copies, folded into one article)")
    if report.older:
        table.add_row("older", f"{report.older} (older versions of stored articles: left out)")
    if report.undated:
        table.add_row("undated", f"{len(report.undated)} (no date found: left out whenever a "
                                 "date filter is set)")
    table.add_row("skipped", str(len(report.skipped)))
    table.add_row("rejected", str(len(report.rejected)))
    console.print(table)
    for line in _capped([f"[dim]skipped {escape(shown(s.path, one_line=True))}: "
                         f"{escape(s.reason)}[/]" for s in report.skipped], "skipped"):
        console.print(line)
    for line in _capped([f"[red]rejected[/] {escape(shown(r.where(), one_line=True))}: "
                         f"{escape(r.reason)}" for r in report.rejected], "rejected"):
        console.print(line)
    for line in _capped([f"[yellow]undated[/] {escape(path)}"
                         + (f" ({n} articles)" if n > 1 else "")
                         for path, n in Counter(report.undated).items()], "undated files"):
        console.print(line)
    if report.undated:
        console.print("[dim]  give a text file a date line near its top (March 3, 2025 or "
                      "Date: 2025-03-03), a JSONL record a `published` field[/]")
    for line in _capped([f"[dim]dated {escape(path)} {day} from its {escape(how)}[/]"
                         for path, day, how in report.inferred], "dates inferred"):
        console.print(line)
    if index_path is None:
        console.print("[dim]nothing was stored, so no index was made[/]")
    else:
        console.print(f"[dim]index: {escape(index_path)}[/]")


def _capped(lines: list[str], what: str, limit: int = 20) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"[dim]… and {len(lines) - limit} more {what}[/]"]
