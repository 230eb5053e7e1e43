"""Article JSONL (plain or gzipped): one JSON object a line, read a line at a time."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from qa.core.records import Article
from qa.ingest.readers.common import (
    MB,
    NUMBER_TOO_LONG,
    TEXT_KEYS,
    Rejected,
    Skipped,
    article_from_record,
    open_binary,
)

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
MAPPABLE_FIELDS = ("id", "url", "title", "text", "published", "source", "authors")
MAX_LINE_BYTES = 32 * MB  # one article; a longer "line" is a broken export, not an article
# No export leaves this many blank lines in a row; a gzipped billion of them (a few hundred KB)
# were read one by one for 20 minutes, with nothing to show for it.
MAX_BLANK_LINES = 10_000


def parse_field_mapping(items: Iterable[str]) -> dict[str, str]:
    """`["text=article_body", "published=pub_date"]` -> `{"text": "article_body", ...}`:
    which column of a JSONL export holds each Article field. Raises ValueError on a bad item."""
    mapping: dict[str, str] = {}
    for item in items:
        target, sep, column = (part.strip() for part in item.partition("="))
        if not sep or not target or not column:
            raise ValueError(f"bad --field {item!r}: write FIELD=COLUMN, e.g. text=article_body")
        if target not in MAPPABLE_FIELDS:
            raise ValueError(f"bad --field {item!r}: {target!r} is not an article field; use one "
                             f"of {', '.join(MAPPABLE_FIELDS)}")
        if target in mapping:
            raise ValueError(f"bad --field {item!r}: `{target}` is already taken from column "
                             f"`{mapping[target]}`; give each field once")
        mapping[target] = column
    return mapping


def _lines(handle: BinaryIO) -> Iterator[bytes | None]:
    """Lines of at most MAX_LINE_BYTES; None stands for a longer one (which is skipped)."""
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := handle.readline(MB)) and not rest.endswith(b"\n"):
                pass
            yield None
            continue
        yield line


def read_jsonl(path: Path, fields: Mapping[str, str] | None = None,
               ) -> Iterator[Article | Rejected | Skipped]:
    """One article a line; each line is decoded on its own, so one bad line costs one article.

    `fields` maps Article fields to this export's column names (see `parse_field_mapping`)."""
    text_keys = (fields["text"],) if fields and "text" in fields else TEXT_KEYS
    lineno, blank_from = 0, 0
    try:
        with open_binary(path) as handle:
            for lineno, raw in enumerate(_lines(handle), start=1):  # noqa: B007 (used below)
                if raw is None:
                    yield Rejected(str(path), lineno, f"line over {MAX_LINE_BYTES // MB} MB; "
                                   "one article a line, each line a JSON object")
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield Rejected(str(path), lineno, "not UTF-8 text; re-encode it as UTF-8")
                    continue
                if not line.strip():
                    blank_from = blank_from or lineno
                    if lineno - blank_from >= MAX_BLANK_LINES:
                        yield Rejected(str(path), blank_from, f"over {MAX_BLANK_LINES:,} blank "
                                       "lines in a row; the rest of the file is left out (is "
                                       "this the file you meant?)")
                        return
                    continue
                blank_from = 0
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield Rejected(str(path), lineno, f"not valid JSON ({exc.msg}); fix the line")
                    continue
                except RecursionError:  # json gives up on arrays or objects nested ~1,000 deep
                    yield Rejected(str(path), lineno, "JSON nested too deeply to be an article; "
                                   "fix the line")
                    continue
                except ValueError:  # the one other error of json.loads on a str
                    yield Rejected(str(path), lineno, f"{NUMBER_TOO_LONG}; fix the line")
                    continue
                if not isinstance(record, dict):
                    yield Rejected(str(path), lineno, "not a JSON object; one article a line")
                    continue
                if "question" in record and not any(k in record for k in text_keys):
                    yield Skipped(str(path), "a question file (use it with `newsqa eval`)")
                    return
                try:
                    yield article_from_record(record, fields)
                except ValueError as exc:
                    yield Rejected(str(path), lineno, str(exc))
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        yield Rejected(str(path), lineno or None, f"cannot read the file ({exc})")
