"""Plain text and Markdown: optional YAML front matter, or an article as people lay it out (a
headline, a date line, a byline, the body) or as a scraper saves it (a `date` first line,
headline, byline, body and `Author:` line).

Where the date comes from, first found first: a date line near the top (`March 3, 2025`,
`2025-03-03`, `Monday, 3 March 2025 6:25 PM`, `Date: ...`, `Published: ...`) or the byline's
date; the file name (`outlet-name-2025-03-03.txt`); the body's dateline (`RIVERTON, Dec. 5 -`),
whose year, when it gives none, is the one in the file's name or its folder's name, else the
latest year that puts that day on or before the file's modification time. That guess is noted in
the article's metadata (`date_inferred`) and in the ingest summary; a text with none of these stays
undated, and the ingest summary says so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from qa.core.records import Article
from qa.core.terminal import readable
from qa.ingest.readers.common import (
    DATE_KEYS,
    MB,
    MONTH,
    Rejected,
    article_from_record,
    content_id,
    iso_date,
    month_number,
    parse_date,
    read_whole,
)

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".txt.gz", ".md.gz", ".markdown.gz")
MAX_TEXT_BYTES = 16 * MB  # one article; a bigger text file is not one
MAX_FRONT_MATTER_CHARS = 64 * 1024

_DATE_PREFIX = re.compile(r"^\s*date[:\s]+(\d{4}-\d{2}-\d{2})\b", re.IGNORECASE)
# A line that is only a date: an optional label, weekday and time around one, in Markdown
# emphasis or not ("*Published: Monday, March 3, 2025 at 6:25 p.m. EST*").
_DATE_LINE = re.compile(
    r"^[*_]*(?:(?:date|dated|published|posted)(?:\s+on)?\s*[:\-–—]?\s*)?"
    r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday)?\.?,?\s+)?"
    rf"(?P<date>\d{{4}}([-/.])\d{{1,2}}\2\d{{1,2}}|{MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH},?\s+\d{{4}})"
    r"(?:(?:,?\s+(?:at\s+)?|T)\d{1,2}(?:[:.]\d{2}){1,2}\s*(?:[ap]\.?m\.?)?"
    r"(?:\s*(?:[A-Z]{2,5}|Z|[+-]\d{2}:?\d{2}))?)?[*_]*$",
    re.IGNORECASE)
# A news dateline opening the body: "RIVERTON, Dec. 5 -", "PORT ALDER, Maine, March 3 (Wire) —".
_DATELINE = re.compile(
    r"^\s*[A-Z][A-Z'’.\- ]{1,40}(?:,\s*[A-Z][A-Za-z.]{1,20}){0,2},\s+"
    rf"(?P<month>(?i:{MONTH}))\s+(?P<day>\d{{1,2}})(?:,\s*(?P<year>\d{{4}}))?"
    r"\s*(?:\([^)\n]{1,40}\)\s*)?(?:--?|–|—)\s")
_YEAR = re.compile(r"(?<![A-Za-z0-9])((?:19|20)\d{2})(?![A-Za-z0-9])")
HEAD_LINES = 6  # how far down the top of an article a date line is looked for
# Words a byline's names may hold in lower case ("By Ann Lee and the Wire staff" has "staff").
_NAME_LINKS = frozenset({"and", "&", "of", "the", "de", "da", "del", "van", "von", "der", "la",
                         "le", "staff", "for"})
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


def _names(text: str) -> bool:
    """Whether a line's text after "by" is names ("Ann Lee and Bo Chen"), not the body's
    opening words ("the end of the year, ...")."""
    words = text.replace(",", " ").split()
    return 0 < len(words) <= 10 and words[0][0].isupper() and \
        all(w[0].isupper() or w.lower() in _NAME_LINKS for w in words)


def _date_line(line: str) -> str | None:
    match = _DATE_LINE.match(line.strip())
    return parse_date(match["date"]) if match else None


def dateline_year(month: int, day: int, path: Path, modified: datetime | None
                  ) -> tuple[int, str] | None:
    """The year of a dateline that gives none, and where it came from: a year in the file's
    name or its folder's name, else the latest year that puts the day on or before the file's
    modification time (a file saved soon after the story ran)."""
    for part, where in ((path.name, "file name"), (path.parent.name, "folder name")):
        found = _YEAR.findall(part)
        if found and iso_date(int(found[-1]), month, day):
            return int(found[-1]), f"the {where}"
    if modified is None:
        return None
    saved = modified.date()
    for year in range(saved.year, saved.year - 8, -1):
        if iso_date(year, month, day) and date(year, month, day) <= saved:
            return year, "the file's modification time"
    return None


def _from_dateline(body: str, path: Path, modified: datetime | None) -> tuple[str, str] | None:
    """The date of the body's opening dateline, and how its year was found."""
    match = _DATELINE.match(body)
    if not match:
        return None
    month, day = month_number(match["month"]), int(match["day"])
    if match["year"]:
        found = iso_date(int(match["year"]), month, day)
        return (found, "dateline") if found else None
    year = dateline_year(month, day, path, modified)
    if year is None:
        return None
    found = iso_date(year[0], month, day)
    return (found, f"dateline, the year from {year[1]}") if found else None


def parse_text_article(raw: str, path: Path, modified: datetime | None = None) -> Article:
    """A hand-written or scraped article: optional front matter, or a headline with a date
    line and a byline near it (a scraper's `date` first line before it), the body, and an
    `Author:` last line. `modified` (the file's modification time) dates a dateline that
    gives no year."""
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
    published: str | None = None
    authors: list[str] = []
    title = ""
    i = 0
    if lines and (match := _DATE_PREFIX.match(lines[0])):
        # The rest of a `date` line is the scraper's page furniture, not the article.
        published = parse_date(match.group(1))
        i = 1
    # The head: the headline, and date lines and a byline before or after it.
    seen = 0
    while i < len(lines) and seen < HEAD_LINES:
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        seen += 1
        if (found := _date_line(line)) is not None:
            published = published or found
        elif not title:
            title = line.lstrip("#").strip()
        elif not authors and (match := _BYLINE.match(line)) and _names(match.group(1)):
            authors = [a.strip() for a in re.split(r"\s*(?:,|\band\b)\s*", match.group(1))
                       if a.strip()]
            if match.group(2):
                published = published or parse_date(match.group(2))
        else:
            break
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
    extra: dict[str, str] = {}
    published = published or name_date
    if published is None and (dated := _from_dateline(text, path, modified)):
        published, how = dated
        if how != "dateline":
            extra["date_inferred"] = how
    return Article(
        id=content_id(None, text),
        text=text,
        title=title,
        published=published,
        source=name_outlet,
        authors=tuple(dict.fromkeys(authors)),
        extra=extra,
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
        modified = datetime.fromtimestamp(path.stat().st_mtime)
    except (OSError, ValueError, OverflowError):
        modified = None
    try:
        yield parse_text_article(raw.lstrip("\ufeff"), path, modified)
    except ValueError as exc:
        yield Rejected(str(path), 1, str(exc))
