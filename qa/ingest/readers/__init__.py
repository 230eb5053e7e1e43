"""Read files into Articles: article JSONL, plain text / Markdown, HTML pages, RSS/Atom feeds
and WARC web archives, each plain or gzipped.

Readers stream where the format allows (a JSONL line, a WARC record at a time) and cap what
they must read whole. A bad record never stops a run: it is yielded as a `Rejected` naming the
file, the line or record, and what to do.
"""

from qa.ingest.readers.common import (
    NUMBER_TOO_LONG,
    Rejected,
    Skipped,
    article_from_record,
    content_hash,
    content_id,
    parse_date,
    path_text,
)
from qa.ingest.readers.dispatch import SUPPORTED, expand_paths, read_path, reader_for, sniff
from qa.ingest.readers.feeds import html_to_text, read_feed
from qa.ingest.readers.html import extract_article, read_html
from qa.ingest.readers.jsonl import JSONL_SUFFIXES, parse_field_mapping, read_jsonl
from qa.ingest.readers.text import TEXT_SUFFIXES, parse_text_article, read_text
from qa.ingest.readers.warc import read_warc

__all__ = [
    "NUMBER_TOO_LONG",
    "JSONL_SUFFIXES",
    "SUPPORTED",
    "TEXT_SUFFIXES",
    "Rejected",
    "Skipped",
    "article_from_record",
    "content_hash",
    "content_id",
    "expand_paths",
    "extract_article",
    "html_to_text",
    "parse_date",
    "parse_field_mapping",
    "path_text",
    "parse_text_article",
    "read_feed",
    "read_html",
    "read_jsonl",
    "read_path",
    "read_text",
    "read_warc",
    "reader_for",
    "sniff",
]
