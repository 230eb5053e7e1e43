"""What every reader shares: the records a reader yields besides Articles, content ids, dates,
the JSON-object-to-Article mapping, and bounded reading of plain or gzipped files."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from qa.core.records import Article
from qa.core.records import content_hash as content_hash  # ids and hashes are core records
from qa.core.terminal import readable, shown

GZIP_MAGIC = b"\x1f\x8b"
MB = 1024 * 1024

# Python refuses to convert an integer of more digits (a guard against slow conversions); JSON
# allows any, so a line that holds one is rejected with this.
NUMBER_TOO_LONG = (f"a number of more than {sys.get_int_max_str_digits():,} digits, which no "
                   "article or question field holds")

TEXT_KEYS = ("text", "body", "content")
DATE_KEYS = ("published", "date")
KNOWN_KEYS = {"id", "url", "title", "source", "authors", *TEXT_KEYS, *DATE_KEYS}


# A rejection's reason is one line of a report: a reader that quotes the input it refuses (a
# library's error message with the line it choked on) must not print megabytes of it.
MAX_REASON_CHARS = 400


def excerpt(value: bytes | str, limit: int = 24) -> str:
    """The start of a refused input as a short escaped quote (`'\\x00\\x00'... (+9 bytes)`),
    never its raw bytes: control characters and bytes that are not UTF-8 are escaped."""
    if isinstance(value, bytes):
        head = value[:limit].decode("utf-8", errors="backslashreplace")
    else:
        head = value[:limit]
    rest = len(value) - limit
    more = f"... (+{rest:,} {'bytes' if isinstance(value, bytes) else 'characters'})" \
        if rest > 0 else ""
    return f"'{shown(head, one_line=True)}'{more}"


def path_text(path: Path | str) -> str:
    """A path as text to store and show (see `readable`); open the file by its `Path`."""
    return readable(str(path))


@dataclass(frozen=True)
class Rejected:
    """A record or file that could not be read, and why.

    `line` is the line of a text format, or the entry/record number of a feed or WARC."""

    path: str
    line: int | None
    reason: str

    def __post_init__(self) -> None:  # a file name need not be UTF-8; what is shown must be
        object.__setattr__(self, "path", readable(self.path))
        reason, more = self.reason[:MAX_REASON_CHARS], len(self.reason) - MAX_REASON_CHARS
        if more > 0:
            reason += f"... (+{more:,} characters)"
        object.__setattr__(self, "reason", readable(reason))

    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class Skipped:
    """A file that is not an archive (a question file in the same folder, say): left alone."""

    path: str
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", readable(self.path))
        object.__setattr__(self, "reason", readable(self.reason))


def content_id(url: str | None, text: str) -> str:
    """Ids come from content: a hash of the URL, else of the whitespace-normalised text."""
    key = ("url:" + url.strip()) if url and url.strip() else "text:" + " ".join(text.split())
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


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
# A month's name or its abbreviation, whole ("Mayor 3" is not a date).
MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
         r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?")
_ORDINAL = r"(?:st|nd|rd|th)?"
# 2024-12-09 (or 2024/12/09, 2024.12.09), with an optional time.
_ISO = re.compile(r"^\s*(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d)"
                  r"(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?")
_WRITTEN = re.compile(  # December 9, 2024; Dec. 9th 2024
    rf"\b(?P<month>{MONTH})\s+(?P<day>\d{{1,2}}){_ORDINAL},?\s+(?P<year>\d{{4}})\b",
    re.IGNORECASE)
_WRITTEN_DMY = re.compile(  # 9 December 2024
    rf"\b(?P<day>\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?(?P<month>{MONTH}),?\s+(?P<year>\d{{4}})\b",
    re.IGNORECASE)


def month_number(name: str) -> int:
    """1 for "Jan", "jan." or "January"."""
    return _MONTHS[name.lower().rstrip(".")]


def iso_date(year: int, month: int, day: int) -> str | None:
    """The day as YYYY-MM-DD, or None when there is no such day."""
    try:
        datetime(year, month, day)
    except ValueError:
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def parse_date(value: str) -> str | None:
    """An ISO date or datetime (or 2024/12/09), or a written date ("December 9, 2024",
    "9 December 2024"), as ISO; else None."""
    value = value.strip()
    match = _ISO.match(value)
    if match:
        year, month, day = int(match.group(1)), int(match.group(3)), int(match.group(4))
        date = iso_date(year, month, day)
        if date and match.group(5):
            return f"{date}T{match.group(5)}:{match.group(6)}:" + (match.group(7) or "00")
        return date
    match = _WRITTEN.search(value) or _WRITTEN_DMY.search(value)
    if match:
        return iso_date(int(match["year"]), month_number(match["month"]), int(match["day"]))
    return None


# --- records ---------------------------------------------------------------------------------


def split_authors(value: Any) -> tuple[str, ...]:
    """A list of names, or one string of names separated by commas, semicolons or "and"."""
    if value is None:
        return ()
    if isinstance(value, str):
        parts = re.split(r"\s*(?:,|;|\band\b)\s*", value)
        return tuple(p.strip() for p in parts if p.strip())
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return (str(value),)


def article_from_record(record: dict[str, Any], fields: Mapping[str, str] | None = None) -> Article:
    """Build an Article from one JSON object; raises ValueError with a reason a user can act on.

    `fields` maps an Article field to the column that holds it in this export
    (`{"text": "article_body"}`); a mapped field is read from that column only.
    """
    fields = fields or {}
    text_keys = (fields["text"],) if "text" in fields else TEXT_KEYS
    date_keys = (fields["published"],) if "published" in fields else DATE_KEYS
    text = next((record[k] for k in text_keys if isinstance(record.get(k), str)), None)
    if text is None:
        if "text" in fields:
            raise ValueError(f"no text: the column `{fields['text']}` (given for `text`) is "
                             "missing or not a string")
        raise ValueError("no text: give the article body as `text` (or `body`, `content`)")
    if not text.strip():
        raise ValueError("empty text: the article has no body to index")
    try:
        json.dumps(record, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("invalid Unicode (a lone surrogate escape such as \\ud800); "
                         "fix the export's encoding") from None
    for name in ("id", "url", "title", "source"):
        value = record.get(fields.get(name, name))
        if value is not None and not isinstance(value, str | int):
            raise ValueError(f"`{fields.get(name, name)}` must be a string")
    published = None
    for key in date_keys:
        raw = record.get(key)
        if raw not in (None, ""):
            published = parse_date(str(raw))
            if published is None:
                raise ValueError(f"`{key}` is not a date: {str(raw)[:40]!r} (use YYYY-MM-DD)")
            break

    def column(name: str) -> Any:
        return record.get(fields.get(name, name))

    url = str(column("url")) if column("url") else None
    used = {fields.get(k, k) for k in ("id", "url", "title", "source", "authors")}
    used.update(text_keys, date_keys)  # with no mapping, exactly KNOWN_KEYS
    return Article(
        id=str(column("id") or content_id(url, text)),
        text=text,
        url=str(url) if url else None,
        title=str(column("title") or "").strip(),
        published=published,
        source=str(column("source")).strip() if column("source") else None,
        authors=split_authors(column("authors")),
        extra={k: v for k, v in record.items() if k not in used},
    )


# Control characters other than tab and newline: an escape sequence in a headline or a quote
# would reach the reader's terminal (clearing it, retitling it, faking a link), and SQLite's
# text functions stop at NUL, so offsets into a text holding one look out of range.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Whole terminal escape sequences (CSI, OSC, and two-character ones), so none leaves its tail.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_a-z])")
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")


def _one_line(value: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", _ESCAPES.sub("", value)).strip()


def storable(article: Article, path: Path) -> Article | Rejected:
    """The article as it can be stored and shown: control characters taken out of its text
    (line breaks made newlines) and its one-line fields; or its rejection, when no text is left
    or a field holds invalid Unicode (a lone surrogate, which SQLite refuses)."""
    text = _CONTROLS.sub("", _LINE_BREAKS.sub("\n", _ESCAPES.sub("", article.text)))
    if not text.strip():
        return Rejected(str(path), None, f"article {article.title[:60]!r} has no text once its "
                        "control characters are taken out")
    cleaned = replace(
        article, text=text, title=_one_line(article.title),
        url=_one_line(article.url) or None if article.url else None,
        source=_one_line(article.source) or None if article.source else None,
        authors=tuple(a for a in (_one_line(a) for a in article.authors) if a))
    try:
        for value in (cleaned.id, cleaned.text, cleaned.title, cleaned.url, cleaned.source,
                      cleaned.published, *cleaned.authors):
            if value:
                value.encode("utf-8")
        json.dumps(cleaned.extra, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return Rejected(str(path), None, f"article {article.title[:60]!r} holds invalid Unicode "
                        "(a lone surrogate); fix the file's encoding")
    return cleaned


# --- files -----------------------------------------------------------------------------------


class TooLarge(ValueError):
    """A file (or what a gzip file unpacks to) is over the size a reader takes whole."""


def is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def open_binary(path: Path) -> BinaryIO:
    """The file's bytes, unpacked as they are read when it is gzipped (told by its first
    bytes, not its name)."""
    if is_gzip(path):
        return cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def read_capped(path: Path, limit: int) -> bytes:
    """The whole (unpacked) file, refusing anything over `limit` bytes: a gzip bomb stops at
    the limit instead of filling memory. Raises TooLarge, OSError, EOFError or
    zlib.error."""
    with open_binary(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        packed = " unpacked" if is_gzip(path) else ""
        raise TooLarge(f"the file is over {limit // MB} MB{packed}; split it or leave it out")
    return data


def read_whole(path: Path, limit: int) -> bytes | Rejected:
    """`read_capped`, with a file that is too big or unreadable turned into its rejection."""
    try:
        return read_capped(path, limit)
    except TooLarge as exc:
        return Rejected(str(path), None, str(exc))
    except (OSError, EOFError, zlib.error) as exc:
        return Rejected(str(path), None, f"cannot read the file ({exc})")


def head_bytes(path: Path, size: int = 8192) -> bytes:
    """The first `size` bytes of the (unpacked) file, for telling its kind."""
    try:
        with open_binary(path) as handle:
            return handle.read(size)
    except (OSError, EOFError, zlib.error):
        return b""
