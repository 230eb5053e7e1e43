"""Hostile files, generated: every reader (JSONL, text/Markdown, HTML, RSS/Atom, WARC, each plain
and gzipped, and files whose kind is told by their first bytes) is fed documents built by
hypothesis from each format's own pieces, then mutated (cut short, bytes flipped, inserted,
repeated). Whatever comes in, a reader yields Articles, Rejected and Skipped records only; a
NewsqaError is the one exception allowed to leave it. Every Article must then be storable:
text present, valid Unicode, metadata that JSON can hold, chunks that are exact slices.

The number of examples per test is `NEWSQA_FUZZ_EXAMPLES` (default 200: 1,400 files in about
15 seconds here); set it higher for a longer hunt.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import re
import socket
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.core.errors import NewsqaError
from qa.core.records import Article
from qa.ingest.chunking import ChunkParams, chunk_article
from qa.ingest.readers import Rejected, Skipped, content_hash, parse_date, read_path

with warnings.catch_warnings(), contextlib.suppress(ImportError):
    # Hypothesis reports a failing example with the help of libcst, whose import trips a
    # DeprecationWarning (an error under this project's pytest settings) and would turn the
    # report into an INTERNALERROR: import it here, quietly, once.
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401

EXAMPLES = int(os.environ.get("NEWSQA_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
SECRET = "NEWSQA-SECRET-MARKER"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a reader tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz")
    (path / "secret.txt").write_text(SECRET, encoding="utf-8")
    return path


def read_cleanly(path: Path) -> list[Article | Rejected | Skipped]:
    """Read `path` as ingest does; fail on anything but clean records or a NewsqaError."""
    try:
        items = list(read_path(path))
    except NewsqaError:
        return []
    for item in items:
        assert isinstance(item, Article | Rejected | Skipped), item
        if isinstance(item, Article):
            storable(item)
        else:
            assert isinstance(item.reason, str) and item.reason.strip()
            assert item.path == str(path)
    return items


def storable(article: Article) -> None:
    """What the store and the answer pipeline rely on about an Article."""
    assert isinstance(article.text, str) and article.text.strip()
    assert SECRET not in article.text + article.title  # no local file was pulled in
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", article.text)  # no escapes
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", article.title + (article.source or ""))
    for value in (article.id, article.text, article.title, article.url or "",
                  article.source or "", *article.authors):
        assert isinstance(value, str)
        value.encode("utf-8")  # no lone surrogates: SQLite takes valid Unicode only
    if article.published is not None:
        assert parse_date(article.published) == article.published
    json.dumps(article.extra, ensure_ascii=False, default=str).encode("utf-8")
    content_hash(article)
    chunks = chunk_article(article, ChunkParams(max_words=40))
    assert chunks and all(c.text == article.text[c.start:c.end] for c in chunks)


# --- pieces every format is made of ------------------------------------------------------------

NASTY = [
    "\x00", "\ufeff", "\u202e", "\u2028", "\r", "\r\n", "\t", "\x1b[31m", "😀", "𝕏", "ǅ", "ß",
    "\ud800", "\udfff", "[9]", "[1][2]", "&amp;", "&#0;", "&#xD800;", "&#x110000;", "&bogus;",
    "<", ">", "]]>", "<!--", "-->", "'", '"', "\\", "%s", "{}", "---", "...", "Dec. 9, 2024",
    "2024-02-30", "9999-99-99T99:99", "by Ann Lee Dec 9, 2024", "Author: Bo Chen", "http://",
    "file:///etc/passwd", "javascript:alert(1)", " " * 40, "\n\n", "word " * 30,
]
nasty = st.sampled_from(NASTY)
words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
texty = st.one_of(words, nasty, st.lists(st.one_of(words, nasty), max_size=6).map("".join))
plain = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1,
                max_size=60)


@st.composite
def mutated(draw: st.DrawFn, docs: st.SearchStrategy[bytes]) -> bytes:
    """A document, then up to three of: cut short, a byte flipped, bytes inserted, a slice
    repeated."""
    data = draw(docs)
    for op in draw(st.lists(st.sampled_from(["cut", "flip", "insert", "repeat"]), max_size=3)):
        at = draw(st.integers(0, len(data)))
        if op == "cut":
            data = data[:at]
        elif op == "flip" and at < len(data):
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
        elif op == "insert":
            data = data[:at] + draw(st.binary(max_size=16)) + data[at:]
        elif op == "repeat":
            end = draw(st.integers(at, len(data)))
            data = data[:end] + data[at:end] * draw(st.integers(1, 5)) + data[end:]
    return data


def sometimes_mutated(docs: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(docs, mutated(docs))


# --- JSONL -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texty,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids,
                                                              max_size=3),
    max_leaves=10)
FIELDS = ["id", "url", "title", "text", "body", "content", "published", "date", "source",
          "authors", "question", "section"]
records = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), json_values, max_size=6),
    st.fixed_dictionaries({"text": texty},
                          optional={k: json_values | texty for k in FIELDS if k != "text"}))


@st.composite
def jsonl_line(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["record", "value", "bytes", "deep", "empty"]))
    if kind == "record":
        return json.dumps(draw(records), ensure_ascii=draw(st.booleans())).encode(
            "utf-8", "surrogatepass")
    if kind == "value":
        return json.dumps(draw(json_values)).encode("utf-8", "surrogatepass")
    if kind == "deep":
        depth = draw(st.integers(500, 3000))
        return b'{"text": "Deep.", "x": ' + b"[" * depth + b"]" * depth + b"}"
    return draw(st.binary(max_size=40)) if kind == "bytes" else b""


jsonl_docs = st.lists(jsonl_line(), max_size=6).map(b"\n".join)


# --- text and Markdown ---------------------------------------------------------------------------

YAML_VALUES = ["[a, b]", "{x: 1}", "&a 1", "*a", "!!python/object/apply:os.system ['true']",
               "!!binary aGk=", "2024-13-45", "|", ">", "- x", "'unclosed", "~", "1e400",
               "[" * 50 + "]" * 50, ": :", "? x"]
yaml_value = st.one_of(plain.map(json.dumps), st.sampled_from(YAML_VALUES), st.integers())


@st.composite
def text_doc(draw: st.DrawFn) -> bytes:
    lines = []
    if draw(st.booleans()):
        keys = ["title", "date", "published", "source", "authors", "url", "id", "tags"]
        fields = draw(st.lists(st.tuples(st.sampled_from(keys), yaml_value), max_size=5))
        lines += ["---", *(f"{k}: {v}" for k, v in fields), "---"]
    lines += draw(st.lists(st.one_of(texty, st.sampled_from(
        ["date 2024-12-09 banner", "by Ann Lee and Bo Chen Dec 9, 2024 10:00", "Author: Bo",
         "# Heading", "", "The council voted on Tuesday."])), max_size=8))
    return "\n".join(lines).encode("utf-8", "surrogatepass")


# --- HTML --------------------------------------------------------------------------------------

TAGS = ["p", "div", "article", "main", "h1", "title", "meta", "script", "style", "a", "br", "table",
        "td", "ul", "li", "span", "b", "iframe", "svg", "template", "noscript", "time", "link",
        "header", "footer", "nav", "figure", "pre", "form"]
ATTRS = ["class", "id", "href", "content", "property", "name", "charset", "rel", "datetime",
         "itemprop", "http-equiv", "lang"]
ATTR_VALUES = ["og:title", "article:published_time", "canonical", "author", "2024-12-09",
               "utf-8", "utf-7", "x-bogus", "content-type", "text/html; charset=shift_jis",
               "https://a.example/x", "description"]


def element(kids: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    attr = st.tuples(st.sampled_from(ATTRS), st.sampled_from(ATTR_VALUES) | texty)
    return st.builds(
        lambda tag, attrs, body, close: (
            f"<{tag}" + "".join(f' {k}="{v}"' for k, v in attrs) + ">" + "".join(body)
            + (f"</{tag}>" if close else "")),
        st.sampled_from(TAGS), st.lists(attr, max_size=2), st.lists(kids, max_size=4),
        st.booleans())


html_fragments = st.recursive(texty | st.just("The council voted 5-2 on Tuesday to build "
                                              "a footbridge over the river."), element,
                              max_leaves=25)


@st.composite
def html_doc(draw: st.DrawFn) -> bytes:
    prefix = draw(st.sampled_from(["", "<!DOCTYPE html>", "\ufeff", "<?xml version='1.0'?>",
                                   "<!-- x -->"]))
    head = draw(st.lists(element(texty), max_size=3))
    body = draw(st.lists(html_fragments, max_size=5))
    page = f"{prefix}<html><head>{''.join(head)}</head><body>{''.join(body)}</body></html>"
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252", "shift_jis"]))
    return page.encode(encoding, "replace")


# --- RSS and Atom ------------------------------------------------------------------------------

def escaped(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


xml_text = st.one_of(texty.map(escaped), texty, texty.map(lambda v: f"<![CDATA[{v}]]>"),
                     html_fragments.map(escaped))
DATES = ["Mon, 09 Dec 2024 18:25:00 +0000", "2024-12-09T18:25:00Z", "yesterday", "",
         "Mon, 32 Dec 2024 99:99:99 +9999", "2024-02-30"]
DOCTYPES = [
    "",
    '<!DOCTYPE rss [<!ENTITY e "entity text">]>',
    '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
    '<!DOCTYPE rss SYSTEM "http://dtd.example/rss.dtd">',
    '<!DOCTYPE rss [<!ENTITY x SYSTEM "{secret}">]>',
]
ENTITIES = ["", "&e;", "&d;", "&x;"]


@st.composite
def feed_doc(draw: st.DrawFn, secret: str) -> bytes:
    atom = draw(st.booleans())
    entries = []
    for _ in range(draw(st.integers(0, 3))):
        title, body, date = draw(xml_text), draw(xml_text), draw(st.sampled_from(DATES))
        entity = draw(st.sampled_from(ENTITIES))
        if atom:
            kind = draw(st.sampled_from(["html", "text", "xhtml", "bogus"]))
            entries.append(f"<entry><title>{title}</title><link href=\"https://a.example/"
                           f"{draw(st.integers(0, 9))}\"/><updated>{date}</updated>"
                           f"<content type=\"{kind}\">{body}{entity}</content>"
                           f"<author><name>{draw(xml_text)}</name></author></entry>")
        else:
            entries.append(f"<item><title>{title}</title><link>https://a.example/"
                           f"{draw(st.integers(0, 9))}</link><pubDate>{date}</pubDate>"
                           f"<description>{body}{entity}</description>"
                           f"<author>{draw(xml_text)}</author></item>")
    doctype = draw(st.sampled_from(DOCTYPES)).replace("{secret}", secret)
    encoding = draw(st.sampled_from(["utf-8", "iso-8859-1", "utf-16", "bogus-8"]))
    head = f'<?xml version="1.0" encoding="{encoding}"?>\n{doctype}\n'
    if atom:
        doc = (f'{head}<feed xmlns="http://www.w3.org/2005/Atom"><title>{draw(xml_text)}'
               f"</title>{''.join(entries)}</feed>")
    else:
        doc = (f'{head}<rss version="2.0"><channel><title>{draw(xml_text)}</title>'
               f"{''.join(entries)}</channel></rss>")
    return doc.encode("utf-8" if encoding == "bogus-8" else encoding, "replace")


# --- WARC --------------------------------------------------------------------------------------

CONTENT_TYPES = ["text/html", "text/html; charset=utf-8", "text/html; charset=utf-7",
                 "text/html; charset=punycode", "text/html; charset=x-no-such", "text/html; "
                 "charset=utf-16", "application/xhtml+xml", "application/json", "image/png", ""]
STATUSES = ["200 OK", "404 Not Found", "301 Moved", "200", "abc", "999 Odd"]


@st.composite
def warc_doc(draw: st.DrawFn) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=draw(st.booleans()))
    for n in range(draw(st.integers(1, 3))):
        body = draw(st.one_of(html_doc(), st.binary(max_size=200)))
        kind = draw(st.sampled_from(["response", "response", "request", "resource",
                                     "metadata"]))
        if kind == "request":  # warcio parses a request's HTTP head when it writes one
            body = b"GET /" + str(n).encode() + b" HTTP/1.1\r\nHost: warc.example\r\n\r\n"
        http = None
        if kind == "response":
            http = StatusAndHeaders(draw(st.sampled_from(STATUSES)),
                                    [("Content-Type", draw(st.sampled_from(CONTENT_TYPES)))],
                                    protocol="HTTP/1.1")
        record = writer.create_warc_record(
            f"https://warc.example/{n}", kind, payload=io.BytesIO(body), length=len(body),
            http_headers=http, warc_headers_dict={  # fixed, so that a draw replays exactly
                "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{n:012d}>",
                "WARC-Date": draw(st.sampled_from(["2024-12-13T10:20:30Z", "not a date"]))})
        writer.write_record(record)
    return out.getvalue()


# --- the tests -----------------------------------------------------------------------------------

def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@FUZZ
@given(data=sometimes_mutated(jsonl_docs), name=st.sampled_from(["a.jsonl", "a.ndjson"]))
def test_fuzz_jsonl(folder: Path, data: bytes, name: str) -> None:
    read_cleanly(_write(folder, name, data))


@FUZZ
@given(data=sometimes_mutated(text_doc()), name=st.sampled_from(
    ["story.txt", "note.md", "harbor-ledger-2024-12-09.txt"]))
def test_fuzz_text(folder: Path, data: bytes, name: str) -> None:
    read_cleanly(_write(folder, name, data))


@FUZZ
@given(data=sometimes_mutated(html_doc()))
def test_fuzz_html(folder: Path, data: bytes) -> None:
    read_cleanly(_write(folder, "page.html", data))


@FUZZ
@given(data=st.data(), name=st.sampled_from(["feed.rss", "feed.atom", "feed.xml"]))
def test_fuzz_feeds(folder: Path, data: st.DataObject, name: str) -> None:
    doc = data.draw(sometimes_mutated(feed_doc(str(folder / "secret.txt"))))
    read_cleanly(_write(folder, name, doc))


@FUZZ
@given(data=sometimes_mutated(warc_doc()))
def test_fuzz_warc(folder: Path, data: bytes) -> None:
    read_cleanly(_write(folder, "crawl.warc", data))


GZIPPED: dict[str, Callable[[Path], st.SearchStrategy[bytes]]] = {
    "a.jsonl.gz": lambda _: jsonl_docs, "a.txt.gz": lambda _: text_doc(),
    "page.html.gz": lambda _: html_doc(), "feed.rss.gz": lambda f: feed_doc(str(f)),
    "crawl.warc.gz": lambda _: warc_doc(), "unnamed.gz": lambda _: jsonl_docs,
}


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(GZIPPED)))
def test_fuzz_gzipped(folder: Path, data: st.DataObject, name: str) -> None:
    """Any format gzipped (the whole file), then the gzip stream itself cut or damaged."""
    inner = data.draw(GZIPPED[name](folder / "secret.txt"))
    packed = gzip.compress(inner, compresslevel=data.draw(st.integers(1, 9)))
    read_cleanly(_write(folder, name, data.draw(sometimes_mutated(st.just(packed)))))


SNIFFED = st.one_of(jsonl_docs, html_doc(), warc_doc(), st.binary(max_size=200),
                    st.builds(gzip.compress, html_doc()))


@FUZZ
@given(data=st.data())
def test_fuzz_files_told_apart_by_their_first_bytes(folder: Path, data: st.DataObject) -> None:
    doc = data.draw(sometimes_mutated(st.one_of(SNIFFED, feed_doc(str(folder / "secret.txt")))))
    read_cleanly(_write(folder, "no-extension", doc))

