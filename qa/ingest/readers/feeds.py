"""RSS and Atom feeds: one article per entry, parsed with feedparser from local bytes only."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from qa.core.records import Article
from qa.ingest.readers.common import (
    MB,
    Rejected,
    content_id,
    parse_date,
    read_whole,
    split_authors,
)

FEED_SUFFIXES = (".rss", ".atom", ".rss.gz", ".atom.gz")
MAX_FEED_BYTES = 50 * MB

_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p",
    "pre", "section", "table", "tr", "ul",
}
_HIDDEN_TAGS = {"script", "style", "noscript", "template"}
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """An HTML fragment (a feed entry's body) as plain text: one paragraph per block element
    (or blank-line-separated run of text), paragraphs separated by a blank line."""
    collector = _TextCollector()
    collector.feed(fragment)
    collector.close()
    blocks = _PARAGRAPH_BREAK.split("".join(collector.parts))
    return "\n\n".join(p for p in (" ".join(b.split()) for b in blocks) if p)


def _as_text(detail: Any, value: str) -> str:
    if (detail or {}).get("type") == "text/plain":
        blocks = _PARAGRAPH_BREAK.split(value)
        return "\n\n".join(p for p in (" ".join(b.split()) for b in blocks) if p)
    return html_to_text(value)


def _entry_text(entry: Any) -> str:
    """The full content when the feed carries it, else the summary."""
    for content in entry.get("content") or []:
        text = _as_text(content, content.get("value") or "")
        if text:
            return text
    return _as_text(entry.get("summary_detail"), entry.get("summary") or "")


def _entry_date(entry: Any) -> str | None:
    """The date as the outlet wrote it (its own time zone), published before updated."""
    for key in ("published", "updated"):
        # dict.get: feedparser's own get("updated") falls back to "published" with a
        # DeprecationWarning, which is an error wherever warnings are.
        raw = dict.get(entry, key)
        if not raw:
            continue
        try:  # RSS's RFC 822 dates first: a written-date reading would drop their time
            return parse_date(parsedate_to_datetime(raw).strftime("%Y-%m-%dT%H:%M:%S"))
        except (TypeError, ValueError, IndexError):
            pass
        date = parse_date(raw)
        if date:
            return date
        parsed = dict.get(entry, f"{key}_parsed")  # feedparser's reading of others, in UTC
        if parsed:
            return parse_date("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(*parsed[:6]))
    return None


def _entry_authors(entry: Any) -> tuple[str, ...]:
    names = [a.get("name") for a in entry.get("authors") or [] if a.get("name")]
    return tuple(dict.fromkeys(names)) if names else split_authors(entry.get("author"))


def article_from_entry(entry: Any, feed_title: str | None) -> Article:
    """One feed entry as an Article; raises ValueError when it has no text."""
    text = _entry_text(entry)
    title = _as_text(entry.get("title_detail"), entry.get("title") or "").replace("\n\n", " ")
    if not text:
        label = f" ({title[:60]!r})" if title else ""
        raise ValueError(f"no text{label}: the entry has neither content nor a summary")
    url = entry.get("link") or None
    source = (entry.get("source") or {}).get("title") or feed_title
    extra = {"guid": entry["id"]} if entry.get("id") else {}
    return Article(
        id=content_id(url, text),
        text=text,
        url=url,
        title=title,
        published=_entry_date(entry),
        source=source.strip() if source else None,
        authors=_entry_authors(entry),
        extra=extra,
    )


def read_feed(path: Path) -> Iterator[Article | Rejected]:
    """One article per entry; an entry that cannot be read is rejected under its number."""
    import feedparser

    data = read_whole(path, MAX_FEED_BYTES)
    if isinstance(data, Rejected):
        yield data
        return
    # A stream, never a string: feedparser fetches a string that looks like a URL or a path.
    try:
        parsed = feedparser.parse(io.BytesIO(data))
    except Exception as exc:  # its fallback parser fails on some character references (&#xD800;)
        yield Rejected(str(path), None, f"the feed could not be parsed ({exc.__class__.__name__}"
                       "); check that it is an RSS or Atom file")
        return
    entries = parsed.get("entries") or []
    if not entries:
        if not parsed.get("version"):
            problem = parsed.get("bozo_exception")
            detail = f" ({problem})" if problem else ""
            yield Rejected(str(path), None, f"not an RSS or Atom feed{detail}; check the file")
        return
    feed_title = (parsed.get("feed") or {}).get("title") or None
    for number, entry in enumerate(entries, start=1):
        try:
            yield article_from_entry(entry, feed_title)
        except ValueError as exc:
            yield Rejected(str(path), number, f"entry {number}: {exc}")
