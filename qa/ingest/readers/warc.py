"""Web archives (WARC, plain or gzipped): every successful HTML response is an article."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from qa.core.records import Article
from qa.ingest.readers.common import MB, Rejected, excerpt, parse_date
from qa.ingest.readers.html import MAX_HTML_BYTES, extract_article

WARC_SUFFIXES = (".warc", ".warc.gz")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
# A WARC's header lines and a page's HTTP headers are short; a "line" longer than this is not
# a WARC (20 MB of zeros made warcio join its buffers over and over: 88 s and 1.7 GB).
MAX_LINE_BYTES = 1 * MB
# Records are separated by two blank lines; a long run of them is not a WARC either (a gzipped
# billion of them read for 20 minutes).
MAX_BLANK_LINES = 10_000


class _NotAWarc(ValueError):
    """A line or a run of blank lines over the limits above."""


@lru_cache(maxsize=1)
def _bounded_records() -> Any:
    """warcio's ArchiveIterator, reading lines in linear time up to MAX_LINE_BYTES and at most
    MAX_BLANK_LINES blank ones in a row, and never writing what it skips to stderr (raw bytes
    of the file, any length)."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.bufferedreaders import BUFF_SIZE, DecompressingBufferedReader

    class BoundedReader(DecompressingBufferedReader):  # type: ignore[misc]
        blanks = 0

        def readline(self, length: int | None = None) -> bytes:
            cap = MAX_LINE_BYTES + 1 if length is None else min(length, MAX_LINE_BYTES + 1)
            parts: list[bytes] = []
            size = 0
            self._fillbuff()
            while size < cap and not self.empty():
                part: bytes = self.buff.readline(cap - size)
                parts.append(part)
                size += len(part)
                if part.endswith(b"\n"):
                    break
                self._fillbuff()
            line = b"".join(parts)
            if size > MAX_LINE_BYTES:
                raise _NotAWarc(f"a line of over {MAX_LINE_BYTES // MB} MB without a line break "
                                f"(starting {excerpt(line)}); WARC header lines are short: is "
                                "this a WARC file?")
            self.blanks = self.blanks + 1 if line and not line.strip() else 0
            if self.blanks > MAX_BLANK_LINES:
                raise _NotAWarc(f"over {MAX_BLANK_LINES:,} blank lines in a row; is this a "
                                "WARC file?")
            return line

    class Records(ArchiveIterator):  # type: ignore[misc]
        INC_RECORD = ""  # warcio's warning quotes the stray line, whatever its length

        def __init__(self, handle: BinaryIO) -> None:
            super().__init__(handle)
            self.reader: Any = BoundedReader(self.fh, block_size=BUFF_SIZE)

    return Records


def _html_payload(record: Any) -> bytes | None:
    """The body of a 200 HTML response (at most one byte over MAX_HTML_BYTES), else None."""
    http = record.http_headers
    if record.rec_type != "response" or http is None or http.get_statuscode() != "200":
        return None
    content_type = (http.get_header("Content-Type") or "").lower()
    if not any(kind in content_type for kind in _HTML_TYPES):
        return None
    payload: bytes = record.content_stream().read(MAX_HTML_BYTES + 1)
    return payload


def _decoded(payload: bytes, content_type: str) -> bytes | str:
    """The page as text when the HTTP header names a charset; else trafilatura guesses."""
    match = _CHARSET.search(content_type)
    if match:
        try:
            return payload.decode(match.group(1), errors="replace")
        except (LookupError, UnicodeError):  # not a text encoding Python knows, or one
            pass  # (punycode) whose decoder fails in spite of errors="replace"
    return payload


def _page_article(record: Any, payload: bytes, path: Path, number: int) -> Article | Rejected:
    target = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<> ") or None
    if len(payload) > MAX_HTML_BYTES:
        return Rejected(str(path), number, f"record {number} ({target}): the page is over "
                        f"{MAX_HTML_BYTES // MB} MB; left out")
    captured = record.rec_headers.get_header("WARC-Date") or ""
    page = _decoded(payload, record.http_headers.get_header("Content-Type") or "")
    try:
        article = extract_article(page, url=target,
                                  fallback_date=(parse_date(captured) or "")[:10] or None)
    except ValueError as exc:
        return Rejected(str(path), number, f"record {number} ({target}): {exc}")
    extra = {k: v for k, v in (("warc_target_uri", target), ("warc_date", captured)) if v}
    return replace(article, extra=extra)


def _complete(record: Any) -> bool:
    """A cut leaves a record without a type or a Content-Length, or short of its length."""
    declared = (record.rec_headers.get_header("Content-Length") or "").strip()
    return (record.rec_type is not None and declared.isdigit()
            and getattr(record.raw_stream, "limit", 0) <= 0)


def _broken(path: Path, number: int, problem: Exception | None) -> Rejected:
    detail = str(problem).strip()[:200].splitlines()[0] if problem and str(problem).strip() else ""
    if "non-chunked gzip" in detail:
        return Rejected(str(path), number, "the WARC is gzipped as one stream, not one record at "
                        "a time; fix it with `warcio recompress FILE NEW_FILE` and ingest that")
    why = f" ({excerpt(detail, 120)})" if detail else ""
    return Rejected(str(path), number, f"the WARC is cut short or corrupt at record {number}"
                    f"{why}; the records before it were read; re-download or repair the file")


def read_warc(path: Path) -> Iterator[Article | Rejected]:
    """Articles from the HTML responses, read a record at a time; requests, metadata, other
    content types and non-200 responses are passed over. A cut or corrupt file yields what
    came before the damage and one Rejected naming the record."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        yield Rejected(str(path), None, f"cannot read the file ({exc})")
        return
    with handle:
        records = _bounded_records()(handle)
        number, end, member = 0, 0, None
        while True:
            number += 1
            try:
                record = next(records, None)
                if record is None:
                    break
                payload = _html_payload(record)
                records.read_to_end()
                complete = _complete(record)
                member = records.reader.decompressor  # this record's gzip member, if any
            except _NotAWarc as exc:
                yield Rejected(str(path), number, f"record {number}: {exc}")
                return
            except Exception as exc:  # warcio raises many kinds on a cut or corrupt file
                yield _broken(path, number, exc)
                return
            if not complete:
                yield _broken(path, number, None)
                return
            end = records.offset
            if payload is not None:
                yield _page_article(record, payload, path, number)
        # warcio stops quietly where a record's headers or a gzip member's trailer are cut
        # off: look past the last whole record, and at whether its member ended.
        handle.seek(end)
        if handle.read(64).strip() or not getattr(member, "eof", True):
            yield _broken(path, number, None)
