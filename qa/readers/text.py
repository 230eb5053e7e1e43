"""Plain text and Markdown: optional YAML front matter, or a scraped page's date line,
headline, byline, body and `Author:` line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from qa.readers.common import (
    DATE_KEYS,
    MB,
    Rejected,
    article_from_record,
    content_id,
    parse_date,
    read_whole,
)
from qa.records import Article
from qa.terminal import readable

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".txt.gz", ".md.gz", ".markdown.gz")
MAX_TEXT_BYTES = 16 * MB  # one article; a bigger text file is not one
MAX_FRONT_MATTER_CHARS = 64 * 1024

_DATE_PREFIX = re.compile(r"^\s*date[:\s]+(\d{4}-\d{2}-\d{2})\b", re.IGNORECASE)
_BYLINE = re.compile(r"^\s*by\s+(.+?)(?:\s+((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
                     r"[a-z]*\.?\s+\d{1,2},?\s+\d{4}).*)?$", re.IGNORECASE)
_AUTHOR_LINE = re.compile(r"authors?:\s*(.+)", re.IGNORECASE)  # on a stripped line
_SLUG_DATE = re.compile(r"^(.+?)[-_](\d{4}-\d{2}-\d{2})$")


@lru_cache(maxsize=1)
def _front_matter_loader() -> Any:
    """PyYAML's safe loader, refusing aliases: an alias repeats what its anchor names, so a
    few nested ones unfold a few hundred bytes into billions of values when the metadata is
    copied or stored. Front matter has no need of them."""
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise ValueError("front matter uses YAML aliases (*name); write the values out")
            return super().compose_node(parent, index)

    return NoAliases


def _front_matter(raw: str) -> tuple[dict[str, Any], int]:
    """YAML front matter between `---` lines, and where the body starts."""
    if not raw.startswith("---"):
        return {}, 0
    end = raw.find("\n---", 3)
    if end < 0:
        return {}, 0
    import yaml

    if end > MAX_FRONT_MATTER_CHARS:
        raise ValueError(f"front matter over {MAX_FRONT_MATTER_CHARS // 1024} KB; an article's "
                         "metadata is a few lines")
    try:
        loader = _front_matter_loader()(raw[3:end])
        try:
            meta = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ValueError(f"front matter is not valid YAML ({exc.__class__.__name__})") from exc
    except RecursionError:
        raise ValueError("front matter nests too deeply to be an article's metadata") from None
    body_start = raw.find("\n", end + 4)
    body = len(raw) if body_start < 0 else body_start + 1
    return (meta if isinstance(meta, dict) else {}), body


def _outlet_from_name(path: Path) -> tuple[str | None, str | None]:
    """`kyiv-independent-2024-12-09.txt` -> ("Kyiv Independent", "2024-12-09")."""
    stem = readable(path.name)
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
        if not any(record.get(k) for k in DATE_KEYS) and name_date:
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
    if body_lines and (match := _AUTHOR_LINE.fullmatch(body_lines[-1].strip())):
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
    data = read_whole(path, MAX_TEXT_BYTES)
    if isinstance(data, Rejected):
        yield data
        return
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        yield Rejected(str(path), line, "not UTF-8 text; re-encode the file as UTF-8")
        return
    try:
        yield parse_text_article(raw.lstrip("\ufeff"), path)
    except ValueError as exc:
        yield Rejected(str(path), 1, str(exc))
