"""Read files into Articles: article JSONL (plain or gzipped) and plain text / Markdown.

Readers stream: a JSONL file is read a line at a time. A bad record never stops a run: it is
yielded as a `Rejected` naming the file, the line and what to do.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from qa.records import Article

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")
TEXT_SUFFIXES = (".txt", ".md", ".markdown")

_TEXT_KEYS = ("text", "body", "content")
_DATE_KEYS = ("published", "date")
_KNOWN_KEYS = {"id", "url", "title", "source", "authors", *_TEXT_KEYS, *_DATE_KEYS}


@dataclass(frozen=True)
class Rejected:
    """A record or file that could not be read, and why."""

    path: str
    line: int | None
    reason: str

    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class Skipped:
    """A file that is not an archive (a question file in the same folder, say): left alone."""

    path: str
    reason: str


def content_id(url: str | None, text: str) -> str:
    """Ids come from content: a hash of the URL, else of the whitespace-normalised text."""
    key = ("url:" + url.strip()) if url and url.strip() else "text:" + " ".join(text.split())
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def content_hash(article: Article) -> str:
    payload = json.dumps(
        [article.url, article.title, article.text, article.published, article.source,
         list(article.authors)],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --- dates -----------------------------------------------------------------------------------

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
         ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
         ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")]
    )
    for m in names
}
_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?")
_WRITTEN = re.compile(
    r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+(\d{1,2}),?\s+(\d{4})",
    re.IGNORECASE,
)


def parse_date(value: str) -> str | None:
    """An ISO date or datetime, or a written date ("December 9, 2024"), as ISO; else None."""
    value = value.strip()
    match = _ISO.match(value)
    if match:
        year, month, day = (int(g) for g in match.groups()[:3])
        try:
            datetime(year, month, day)
        except ValueError:
            return None
        if match.group(4):
            return f"{year:04d}-{month:02d}-{day:02d}T{match.group(4)}:{match.group(5)}:" + (
                match.group(6) or "00"
            )
        return f"{year:04d}-{month:02d}-{day:02d}"
    match = _WRITTEN.search(value)
    if match:
        month = _MONTHS[match.group(1).lower().rstrip(".")]
        day, year = int(match.group(2)), int(match.group(3))
        try:
            datetime(year, month, day)
        except ValueError:
            return None
        return f"{year:04d}-{month:02d}-{day:02d}"
    return None


# --- JSONL -----------------------------------------------------------------------------------


def _authors(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts = re.split(r"\s*(?:,|;|\band\b)\s*", value)
        return tuple(p.strip() for p in parts if p.strip())
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return (str(value),)


def article_from_record(record: dict[str, Any]) -> Article:
    """Build an Article from one JSON object; raises ValueError with a reason a user can act on."""
    text = next((record[k] for k in _TEXT_KEYS if isinstance(record.get(k), str)), None)
    if text is None:
        raise ValueError("no text: give the article body as `text` (or `body`, `content`)")
    if not text.strip():
        raise ValueError("empty text: the article has no body to index")
    published = None
    for key in _DATE_KEYS:
        raw = record.get(key)
        if raw not in (None, ""):
            published = parse_date(str(raw))
            if published is None:
                raise ValueError(f"`{key}` is not a date: {str(raw)[:40]!r} (use YYYY-MM-DD)")
            break
    url = record.get("url") or None
    return Article(
        id=str(record.get("id") or content_id(url, text)),
        text=text,
        url=str(url) if url else None,
        title=str(record.get("title") or "").strip(),
        published=published,
        source=str(record["source"]).strip() if record.get("source") else None,
        authors=_authors(record.get("authors")),
        extra={k: v for k, v in record.items() if k not in _KNOWN_KEYS},
    )


def _open_binary(path: Path) -> BinaryIO:
    if path.name.endswith(".gz"):
        return cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def read_jsonl(path: Path) -> Iterator[Article | Rejected | Skipped]:
    """One article a line; each line is decoded on its own, so one bad line costs one article."""
    lineno = 0
    try:
        with _open_binary(path) as handle:
            for lineno, raw in enumerate(handle, start=1):  # noqa: B007 (lineno used below)
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield Rejected(str(path), lineno, "not UTF-8 text; re-encode it as UTF-8")
                    continue
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield Rejected(str(path), lineno, f"not valid JSON ({exc.msg}); fix the line")
                    continue
                if not isinstance(record, dict):
                    yield Rejected(str(path), lineno, "not a JSON object; one article a line")
                    continue
                if "question" in record and not any(k in record for k in _TEXT_KEYS):
                    yield Skipped(str(path), "a question file (use it with `newsqa eval`)")
                    return
                try:
                    yield article_from_record(record)
                except ValueError as exc:
                    yield Rejected(str(path), lineno, str(exc))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield Rejected(str(path), lineno or None, f"cannot read the file ({exc})")


# --- plain text / Markdown -------------------------------------------------------------------

_DATE_PREFIX = re.compile(r"^\s*date[:\s]+(\d{4}-\d{2}-\d{2})\b", re.IGNORECASE)
_BYLINE = re.compile(r"^\s*by\s+(.+?)(?:\s+((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
                     r"[a-z]*\.?\s+\d{1,2},?\s+\d{4}).*)?$", re.IGNORECASE)
_AUTHOR_LINE = re.compile(r"^\s*authors?:\s*(.+?)\s*$", re.IGNORECASE)
_SLUG_DATE = re.compile(r"^(.+?)[-_](\d{4}-\d{2}-\d{2})$")


def _front_matter(raw: str) -> tuple[dict[str, Any], int]:
    """YAML front matter between `---` lines, and where the body starts."""
    if not raw.startswith("---"):
        return {}, 0
    end = raw.find("\n---", 3)
    if end < 0:
        return {}, 0
    import yaml

    try:
        meta = yaml.safe_load(raw[3:end])
    except yaml.YAMLError as exc:
        raise ValueError(f"front matter is not valid YAML ({exc.__class__.__name__})") from exc
    body_start = raw.find("\n", end + 4)
    body = len(raw) if body_start < 0 else body_start + 1
    return (meta if isinstance(meta, dict) else {}), body


def _outlet_from_name(path: Path) -> tuple[str | None, str | None]:
    """`kyiv-independent-2024-12-09.txt` -> ("Kyiv Independent", "2024-12-09")."""
    stem = path.name
    for suffix in TEXT_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    match = _SLUG_DATE.match(stem)
    if not match:
        return None, None
    outlet = " ".join(w.capitalize() for w in re.split(r"[-_]+", match.group(1)) if w)
    return outlet or None, parse_date(match.group(2))


def parse_text_article(raw: str, path: Path) -> Article:
    """A scraped or hand-written article: optional front matter, or a `date` first line, a
    headline, a byline ("by NAME Month D, YYYY ..."), the body, and an `Author:` last line."""
    meta, body_start = _front_matter(raw)
    name_outlet, name_date = _outlet_from_name(path)
    if meta:
        record = dict(meta)
        record["text"] = raw[body_start:].strip("\n")
        record.setdefault("source", name_outlet)
        if not any(record.get(k) for k in _DATE_KEYS) and name_date:
            record["published"] = name_date
        if not record.get("title"):
            first = next((ln for ln in record["text"].splitlines() if ln.strip()), "")
            record["title"] = first.lstrip("# ").strip()
        return article_from_record(record)

    lines = raw.splitlines(keepends=True)
    published = name_date
    authors: list[str] = []
    i = 0
    if lines and (match := _DATE_PREFIX.match(lines[0])):
        # The rest of a `date` line is the scraper's page furniture, not the article.
        published = parse_date(match.group(1)) or published
        i = 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    title = lines[i].strip().lstrip("#").strip() if i < len(lines) else ""
    i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and (match := _BYLINE.match(lines[i])):
        authors = [a.strip() for a in re.split(r"\s*(?:,|\band\b)\s*", match.group(1)) if a.strip()]
        if match.group(2):
            published = published or parse_date(match.group(2))
        i += 1
    body_lines = lines[i:]
    while body_lines and not body_lines[-1].strip():
        body_lines.pop()
    if body_lines and (match := _AUTHOR_LINE.match(body_lines[-1])):
        authors = authors or [match.group(1)]
        body_lines.pop()
    text = "".join(body_lines).strip("\n")
    if not text.strip():
        raise ValueError("empty article: no body text after the headline")
    return Article(
        id=content_id(None, text),
        text=text,
        title=title,
        published=published,
        source=name_outlet,
        authors=tuple(dict.fromkeys(authors)),
    )


def read_text(path: Path) -> Iterator[Article | Rejected]:
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        yield Rejected(str(path), line, "not UTF-8 text; re-encode the file as UTF-8")
        return
    except OSError as exc:
        yield Rejected(str(path), None, f"cannot read the file ({exc})")
        return
    try:
        yield parse_text_article(raw.lstrip("\ufeff"), path)
    except ValueError as exc:
        yield Rejected(str(path), 1, str(exc))


# --- dispatch --------------------------------------------------------------------------------


def reader_for(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    return None


def expand_paths(paths: Iterable[Path]) -> Iterator[Path | Rejected]:
    """Files named directly, and the readable files under named folders (sorted, recursive)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.name.startswith(".") or reader_for(child) is None:
                    continue
                yield child
        elif path.is_file():
            if reader_for(path) is None:
                yield Rejected(
                    str(path), None,
                    "unknown kind of file; use .jsonl, .jsonl.gz, .txt or .md",
                )
            else:
                yield path
        else:
            yield Rejected(str(path), None, "no such file or folder")


def read_path(path: Path) -> Iterator[Article | Rejected | Skipped]:
    kind = reader_for(path)
    if kind == "jsonl":
        yield from read_jsonl(path)
    elif kind == "text":
        yield from read_text(path)
    else:
        yield Rejected(str(path), None, "unknown kind of file; use .jsonl, .jsonl.gz, .txt or .md")
