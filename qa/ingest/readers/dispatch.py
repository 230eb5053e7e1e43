"""Which reader a file needs: by its name, else by its first bytes; and the walk over folders."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from qa.core.records import Article
from qa.ingest.readers.common import Rejected, Skipped, head_bytes, storable
from qa.ingest.readers.feeds import FEED_SUFFIXES, read_feed
from qa.ingest.readers.html import HTML_SUFFIXES, read_html
from qa.ingest.readers.jsonl import JSONL_SUFFIXES, read_jsonl
from qa.ingest.readers.text import TEXT_SUFFIXES, read_text
from qa.ingest.readers.warc import WARC_SUFFIXES, read_warc

SUPPORTED = ("article JSONL (.jsonl, .ndjson), text (.txt, .md), HTML (.html, .htm), RSS/Atom "
             "(.rss, .atom, .xml) or WARC (.warc), each plain or gzipped (.gz)")
UNKNOWN_KIND = f"unknown kind of file; use {SUPPORTED}"
MAX_REJECTED_PER_FILE = 1000

_BY_NAME = (
    (JSONL_SUFFIXES, "jsonl"),
    (TEXT_SUFFIXES, "text"),
    (HTML_SUFFIXES, "html"),
    (FEED_SUFFIXES, "feed"),
    (WARC_SUFFIXES, "warc"),
)
# What may stand before an XML or HTML document's first element.
_PROLOGUE = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!doctype[^>]*>)", re.DOTALL)
_FIRST_TAG = re.compile(rb"\s*<([a-z][\w:.-]*)")
_FEED_ROOTS = {b"rss", b"feed", b"rdf:rdf"}
_HTML_ROOTS = {b"html", b"head", b"body"}


def _markup_kind(lower: bytes) -> str | None:
    at = 0
    while match := _PROLOGUE.match(lower, at):
        if match.group(0).lstrip().startswith(b"<!doctype html"):
            return "html"
        at = match.end()
    tag = _FIRST_TAG.match(lower, at)
    if tag is None:
        # An XML declaration whose root lies past the bytes looked at: most likely a feed.
        return "feed" if lower.startswith(b"<?xml") else None
    if tag.group(1) in _FEED_ROOTS:
        return "feed"
    return "html" if tag.group(1) in _HTML_ROOTS else None


def _looks_like_jsonl(head: bytes) -> bool:
    """A first line that is a whole JSON object (or longer than the bytes looked at), so a
    pretty-printed JSON document is not taken for one article a line."""
    first, newline, _ = head.partition(b"\n")
    if not newline:
        return True
    try:
        return isinstance(json.loads(first), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    except (RecursionError, ValueError):  # nested past json's depth, or a number too long
        return True  # to convert: the reader rejects that line


def sniff(head: bytes) -> str | None:
    """The kind of a file from its first (unpacked) bytes, or None."""
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith((b"WARC/1.", b"WARC/0.")):
        return "warc"
    if head.startswith(b"{"):
        return "jsonl" if _looks_like_jsonl(head) else None
    if head.startswith(b"<"):
        return _markup_kind(head.lower())
    return None


def reader_for(path: Path) -> str | None:
    """"jsonl", "text", "html", "feed" or "warc"; a name that does not tell (no or another
    extension, `.xml`, `.gz`) is settled by the file's first bytes, unpacked if gzipped."""
    name = path.name.lower()
    for suffixes, kind in _BY_NAME:
        if name.endswith(suffixes):
            return kind
    return sniff(head_bytes(path))


def _special(mode: int) -> str | None:
    """What a file that is neither a regular file nor a folder is (reading a FIFO would wait
    forever, a device could be endless)."""
    for test, kind in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character "
                       "device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "not a regular file"


def _walk(root: Path, follow_links: bool) -> Iterator[Path | Skipped]:
    """The files under `root` in sorted order (as `sorted(root.rglob("*"))` would list them),
    leaving out hidden files and folders. A link is followed only to a file or folder inside
    `root`, unless `follow_links`; each real folder is walked once, so links cannot loop."""
    top = root.resolve()
    walked = {top}

    def visit(folder: Path) -> Iterator[Path | Skipped]:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            yield Skipped(str(folder), f"cannot list the folder ({exc.strerror or exc})")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    target = path.resolve(strict=True)
                    if not follow_links and not target.is_relative_to(top):
                        yield Skipped(str(path), f"a link to {target}, outside the folder "
                                      "(--follow-links reads it)")
                        continue
                mode = entry.stat().st_mode  # of the link's target
            except (OSError, RuntimeError):  # a broken link, a loop of links, gone since
                yield Skipped(str(path), "a broken link, or a file that cannot be read")
                continue
            if stat.S_ISDIR(mode):
                real = path.resolve()
                if real not in walked:
                    walked.add(real)
                    yield from visit(path)
            elif (kind := _special(mode)) is not None:
                yield Skipped(str(path), f"{kind}, not a file; only regular files are read")
            elif reader_for(path) is None:
                yield Skipped(str(path), UNKNOWN_KIND)
            else:
                yield path

    yield from visit(root)


def expand_paths(paths: Iterable[Path], follow_links: bool = False,
                 ) -> Iterator[Path | Rejected | Skipped]:
    """Files named directly, and the files under named folders (see `_walk`). A named file of
    an unknown kind, or one that is not a regular file, is rejected; one found in a folder is
    skipped (folders hold other things too), and both are reported. A link named directly is
    followed: it is what the user asked for."""
    for path in paths:
        try:
            mode: int | None = path.stat().st_mode
        except (OSError, RuntimeError):
            mode = None
        if mode is None:
            yield Rejected(str(path), None, "no such file or folder")
        elif stat.S_ISDIR(mode):
            yield from _walk(path, follow_links)
        elif (kind := _special(mode)) is not None:
            yield Rejected(str(path), None, f"{kind}, not a file; name a file or a folder")
        else:
            yield path if reader_for(path) is not None else Rejected(str(path), None, UNKNOWN_KIND)


def read_path(path: Path, fields: Mapping[str, str] | None = None,
              ) -> Iterator[Article | Rejected | Skipped]:
    """The articles in one file. `fields` renames the columns of a JSONL export (see
    `parse_field_mapping`); other formats carry their own field names and ignore it.

    At most MAX_REJECTED_PER_FILE rejections are yielded one by one, then one that counts the
    rest: a small gzip file can unpack to millions of bad lines, and a report that kept each
    would hold them all in memory."""
    kind = reader_for(path)
    if kind == "jsonl":
        items = read_jsonl(path, fields)
    elif kind == "text":
        items = read_text(path)
    elif kind == "html":
        items = read_html(path)
    elif kind == "feed":
        items = read_feed(path)
    elif kind == "warc":
        items = read_warc(path)
    else:
        yield Rejected(str(path), None, UNKNOWN_KIND)
        return
    rejected, first_unlisted = 0, None
    for item in items:
        if isinstance(item, Article):
            item = storable(item, path)
        if isinstance(item, Rejected):
            rejected += 1
            if rejected > MAX_REJECTED_PER_FILE:
                first_unlisted = first_unlisted or item
                continue
        yield item
    if first_unlisted is not None:
        more = rejected - MAX_REJECTED_PER_FILE
        yield Rejected(str(path), first_unlisted.line,
                       f"{more:,} more rejected records from here on, not listed one by one "
                       f"(the first: {first_unlisted.reason}); is this the file you meant?")
