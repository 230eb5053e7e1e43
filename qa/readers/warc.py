"""Web archives (WARC, plain or gzipped): every successful HTML response is an article."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from qa.readers.common import MB, Rejected, parse_date
from qa.readers.html import MAX_HTML_BYTES, extract_article
from qa.records import Article

WARC_SUFFIXES = (".warc", ".warc.gz")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


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
    detail = str(problem).strip().splitlines()[0] if problem and str(problem).strip() else ""
    if "non-chunked gzip" in detail:
        return Rejected(str(path), number, "the WARC is gzipped as one stream, not one record at "
                        "a time; fix it with `warcio recompress FILE NEW_FILE` and ingest that")
    why = f" ({detail})" if detail else ""
    return Rejected(str(path), number, f"the WARC is cut short or corrupt at record {number}"
                    f"{why}; the records before it were read; re-download or repair the file")


def read_warc(path: Path) -> Iterator[Article | Rejected]:
    """Articles from the HTML responses, read a record at a time; requests, metadata, other
    content types and non-200 responses are passed over. A cut or corrupt file yields what
    came before the damage and one Rejected naming the record."""
    from warcio.archiveiterator import ArchiveIterator

    try:
        handle = path.open("rb")
    except OSError as exc:
        yield Rejected(str(path), None, f"cannot read the file ({exc})")
        return
    with handle:
        records = ArchiveIterator(handle)
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
