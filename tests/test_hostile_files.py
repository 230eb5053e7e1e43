"""Hostile files, by name: the cases the reliability issue lists (invalid UTF-8 in every format,
a 100 MB single line, gzip bombs, XML entity expansion and external entities in a feed, deeply
nested HTML, a WARC cut at any point) and the ones that broke a reader before this work (YAML
aliases, JSON and YAML nested past Python's recursion limit, a regular expression that went
quadratic, character references feedparser cannot encode, a charset Python cannot decode with,
millions of bad lines). Each file is read in a process of its own, which reports how long it
took and its peak memory: both stay bounded whatever the file's size.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qa.core.records import Article
from qa.ingest.readers import Rejected, read_path
from tests.fake_cli import REPO, environment

MB = 1024 * 1024
MAX_SECONDS = 30.0  # a file that takes longer has found a loop that grows with it
MAX_RSS_MB = 200  # the reading process, interpreter and trafilatura included (20-75 MB idle)
SECRET = "NEWSQA-SECRET-MARKER"

# Reads one file as ingest does, checks every record, and reports on one line of JSON.
_PROBE = r"""
import json, socket, sys, time
from pathlib import Path

def peak_mb():
    # VmHWM: this program's own peak (getrusage's ru_maxrss keeps the parent's across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

def refuse(*args, **kwargs):
    sys.stdout.write(json.dumps({"network": True}) + "\n")
    raise SystemExit(99)

socket.socket.connect = refuse
socket.create_connection = refuse
from qa.ingest.readers import read_path
from qa.core.records import Article
began = time.perf_counter()
counts, reasons, texts, error, last = {}, [], [], None, None
try:
    for item in read_path(Path(sys.argv[1])):
        kind = type(item).__name__
        counts[kind] = counts.get(kind, 0) + 1
        if isinstance(item, Article):
            assert item.text.strip()
            for value in (item.text, item.title, item.url or "", item.source or ""):
                value.encode("utf-8")
            texts.append(item.text[:2000])
        else:
            last = item.reason
            if len(reasons) < 3:
                reasons.append(item.reason)
except BaseException as exc:
    error = f"{type(exc).__name__}: {exc}"[:300]
print(json.dumps({"counts": counts, "reasons": reasons, "last": last, "texts": texts[:5],
                  "error": error,
                  "seconds": time.perf_counter() - began,
                  "rss_mb": peak_mb()}))
"""


def probe(path: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _PROBE, str(path)], cwd=REPO,
                          env=environment(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert "network" not in report, "a reader tried to use the network"
    assert report["error"] is None, report["error"]
    assert report["seconds"] < MAX_SECONDS and report["rss_mb"] < MAX_RSS_MB, report
    print(f"{path.name}: {report['counts']} in {report['seconds']:.2f} s, "
          f"peak {report['rss_mb']:.0f} MB")
    return report


def _gzip_bomb(unpacked: bytes, repeats: int) -> bytes:
    """A gzip file that unpacks to `unpacked` * `repeats`, as members laid end to end (a gzip
    reader takes them for one stream), so it is made in an instant."""
    return gzip.compress(unpacked, 9) * repeats


def _write_line(path: Path, head: bytes, filler: bytes, size: int, tail: bytes) -> Path:
    with path.open("wb") as handle:
        handle.write(head)
        block = filler * (MB // len(filler))
        for _ in range(size // MB):
            handle.write(block)
        handle.write(tail)
    return path


ARTICLE = b'{"text": "The council voted to build the footbridge on Tuesday."}\n'
PAGE = (b"<html><head><title>Footbridge vote</title><meta charset='utf-8'></head><body>"
        b"<article><p>The Alder Bay council voted 5-2 on Tuesday to build a footbridge over the "
        b"Mill River, at a cost of 4.2 million.</p><p>Work will begin in June, the council said, "
        b"and the bridge will link the ferry terminal to Dock Street.</p>"
        b"</article></body></html>")


def _rss(body: str, doctype: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n{doctype}\n<rss version="2.0"><channel>'
            f"<title>Gazette</title><item><title>Entry</title><link>https://g.example/1</link>"
            f"<description>{body}</description></item></channel></rss>").encode()


def _warc(*pages: tuple[bytes, str], gzip_records: bool = True) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gzip_records)
    for n, (body, content_type) in enumerate(pages):
        http = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            f"https://warc.example/{n}", "response", payload=io.BytesIO(body), length=len(body),
            http_headers=http, warc_headers_dict={"WARC-Date": "2024-12-13T10:20:30Z"}))
    return out.getvalue()


LAUGHS = ('<!DOCTYPE rss [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' if i > 1 else
                    '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                    for i in range(1, 10)) + "]>")
NESTED = b"<div>" * 100_000 + PAGE + b"</div>" * 100_000
YAML_BOMB = "\n".join(["---", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
                       *(f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]"
                         for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
                       "title: Aliases", "---", "The body of the article is here."])

def _short_refusal(report: dict[str, Any], limit: str) -> bool:
    """The rejection names the limit crossed and quotes at most a short escaped excerpt."""
    reason: str = report["reasons"][0]
    return limit in reason and len(reason) < 400 and reason.count("\\x00") <= 24 \
        and "\x00" not in reason


# name -> (file name, how to make it, a check of what was read)
Check = Callable[[dict[str, Any]], bool]
CASES: dict[str, tuple[str, Callable[[Path], None], Check]] = {
    "invalid UTF-8 in a JSONL line": (
        "a.jsonl", lambda p: p.write_bytes(ARTICLE + b'{"text": "caf\xe9 au lait"}\n' + ARTICLE),
        lambda r: r["counts"] == {"Article": 2, "Rejected": 1} and "UTF-8" in r["reasons"][0]),
    "invalid UTF-8 in a text file": (
        "story.txt", lambda p: p.write_bytes(b"Vote\n\nThe council met \xff\xfe on Tuesday.\n"),
        lambda r: r["counts"] == {"Rejected": 1} and "UTF-8" in r["reasons"][0]),
    "invalid UTF-8 in an HTML page": (
        "page.html", lambda p: p.write_bytes(PAGE.replace(b"Tuesday", b"Tues\xff\xfeday")),
        lambda r: r["counts"] == {"Article": 1}),
    "invalid UTF-8 in a feed": (
        "feed.rss", lambda p: p.write_bytes(_rss("The council met on \xff\xfe Tuesday.")
                                            .replace(b"\xc3\xbf\xc3\xbe", b"\xff\xfe")),
        lambda r: sum(r["counts"].values()) == 1),
    "invalid UTF-8 in a WARC page": (
        "crawl.warc.gz", lambda p: p.write_bytes(_warc((PAGE.replace(b"Tuesday", b"T\xff\xfe"),
                                                        "text/html; charset=utf-8"))),
        lambda r: r["counts"] == {"Article": 1}),
    "a 100 MB single line in JSONL": (
        "big.jsonl", lambda p: _write_line(p, b'{"text": "', b"word ", 100 * MB,
                                           b'"}\n' + ARTICLE),
        lambda r: r["counts"] == {"Rejected": 1, "Article": 1} and "over 32 MB" in
        r["reasons"][0]),
    "a 100 MB single line of text": (
        "big.txt", lambda p: _write_line(p, b"Title\n\n", b"word ", 100 * MB, b"\n"),
        lambda r: r["counts"] == {"Rejected": 1} and "over 16 MB" in r["reasons"][0]),
    "a 100 MB single line of HTML": (
        "big.html", lambda p: _write_line(p, PAGE[:200], b"<p>word</p>", 100 * MB, PAGE[200:]),
        lambda r: r["counts"] == {"Rejected": 1} and "over 20 MB" in r["reasons"][0]),
    "gzip bomb: JSONL, 1 GiB of zeros": (
        "bomb.jsonl.gz", lambda p: p.write_bytes(_gzip_bomb(bytes(MB), 1024)),
        lambda r: r["counts"] == {"Rejected": 1} and "over 32 MB" in r["reasons"][0]),
    "gzip bomb: text, 1 GiB": (
        "bomb.txt.gz", lambda p: p.write_bytes(_gzip_bomb(b"word " * (MB // 5), 1024)),
        lambda r: r["counts"] == {"Rejected": 1} and "unpacked" in r["reasons"][0]),
    "gzip bomb: HTML, 1 GiB": (
        "bomb.html.gz", lambda p: p.write_bytes(_gzip_bomb(bytes(MB), 1024)),
        lambda r: r["counts"] == {"Rejected": 1} and "unpacked" in r["reasons"][0]),
    "gzip bomb: feed, 1 GiB": (
        "bomb.rss.gz", lambda p: p.write_bytes(_gzip_bomb(bytes(MB), 1024)),
        lambda r: r["counts"] == {"Rejected": 1} and "unpacked" in r["reasons"][0]),
    "gzip bomb: a million bad JSONL lines from 3 KB": (
        "lines.jsonl.gz", lambda p: p.write_bytes(_gzip_bomb(b"{}\n" * 100_000, 10)),
        lambda r: r["counts"] == {"Rejected": 1001} and "999,000 more" in r["last"]),
    "billion laughs in a feed": (
        "laughs.rss", lambda p: p.write_bytes(_rss("&lol9;", LAUGHS)),
        lambda r: all(t.count("lol") < 100 for t in r["texts"])),
    "an external entity naming a local file": (
        "xxe.rss", lambda p: p.write_bytes(_rss("Before &xxe; after.", f'<!DOCTYPE rss [<!ENTITY '
                                                f'xxe SYSTEM "file://{p.parent}/secret.txt">]>')),
        lambda r: SECRET not in json.dumps(r)),
    "an external DTD on the network": (
        "dtd.rss", lambda p: p.write_bytes(_rss("Some news.", '<!DOCTYPE rss SYSTEM '
                                                '"http://dtd.example/rss.dtd">')),
        lambda r: sum(r["counts"].values()) == 1),
    "HTML nested 100,000 deep": (
        "nested.html", lambda p: p.write_bytes(NESTED), lambda r: sum(r["counts"].values()) == 1),
    "HTML nested 100,000 deep in a feed entry": (
        "nested.rss", lambda p: p.write_bytes(_rss(NESTED.decode().replace("&", "&amp;")
                                                   .replace("<", "&lt;"))),
        lambda r: sum(r["counts"].values()) == 1),
    "HTML nested 100,000 deep in a WARC record": (
        "nested.warc", lambda p: p.write_bytes(_warc((NESTED, "text/html"), gzip_records=False)),
        lambda r: sum(r["counts"].values()) == 1),
    "YAML aliases in front matter (a billion laughs)": (
        "aliases.md", lambda p: p.write_text(YAML_BOMB, encoding="utf-8"),
        lambda r: r["counts"] == {"Rejected": 1} and "aliases" in r["reasons"][0]),
    "YAML nested 20,000 deep in front matter": (
        "deep.md", lambda p: p.write_text("---\ntitle: " + "[" * 20_000 + "]" * 20_000
                                          + "\n---\nBody text.\n", encoding="utf-8"),
        lambda r: r["counts"] == {"Rejected": 1} and "nests too deeply" in r["reasons"][0]),
    "JSON nested 100,000 deep on one line": (
        "deep.jsonl", lambda p: p.write_bytes(b'{"text": "x", "y": ' + b"[" * 100_000
                                              + b"]" * 100_000 + b"}\n" + ARTICLE),
        lambda r: r["counts"] == {"Rejected": 1, "Article": 1}),
    "an Author: line with a megabyte of spaces": (
        "author.txt", lambda p: p.write_text("Title\n\nThe council met on Tuesday.\nAuthor: a"
                                             + " " * MB + "b\n", encoding="utf-8"),
        lambda r: r["counts"] == {"Article": 1}),
    "character references to surrogates in a feed": (
        "refs.rss", lambda p: p.write_bytes(_rss("Body &#xD800; text &#x110000;")),
        lambda r: sum(r["counts"].values()) == 1),
    "a page whose charset is punycode": (
        "puny.warc", lambda p: p.write_bytes(_warc((PAGE + b"\x80", "text/html; charset=punycode"),
                                                   gzip_records=False)),
        lambda r: r["counts"] == {"Article": 1}),
    "a WARC of 20 MB of zeros, no line break": (
        "zeros.warc", lambda p: p.write_bytes(bytes(20 * MB)),
        lambda r: r["counts"] == {"Rejected": 1} and _short_refusal(r, "over 1 MB without")),
    "a gzipped WARC of 20 MB of zeros (20 KB)": (
        "zeros.warc.gz", lambda p: p.write_bytes(gzip.compress(bytes(20 * MB), 9)),
        lambda r: r["counts"] == {"Rejected": 1} and _short_refusal(r, "over 1 MB without")),
    "a gzipped JSONL of a billion blank lines": (
        "blank.jsonl.gz", lambda p: p.write_bytes(_gzip_bomb(b"\n" * MB, 1024)),
        lambda r: r["counts"] == {"Rejected": 1} and _short_refusal(r, "over 10,000 blank")),
    "a gzipped WARC of a billion blank lines": (
        "blank.warc.gz", lambda p: p.write_bytes(_gzip_bomb(b"\r\n" * (MB // 2), 1024)),
        lambda r: r["counts"] == {"Rejected": 1} and _short_refusal(r, "record 1")),
    "a page of 1 MB of <p> elements": (
        "markup.html", lambda p: p.write_bytes(PAGE[:200] + b"<p>word</p>" * (MB // 11)
                                               + PAGE[200:]),
        lambda r: r["counts"] == {"Rejected": 1} and _short_refusal(r, "over 40,000 HTML")),
    "a WARC record of 1 MB of <div> elements": (
        "markup.warc.gz", lambda p: p.write_bytes(_warc((b"<div>x</div>" * (MB // 12) + PAGE,
                                                         "text/html"), (PAGE, "text/html"))),
        lambda r: r["counts"] == {"Rejected": 1, "Article": 1}
        and _short_refusal(r, "over 40,000 HTML")),
    "control characters and NUL in an article": (
        "controls.jsonl", lambda p: p.write_text(json.dumps(
            {"title": "Vote \x1b[2J\x1b]0;owned\x07", "text": "The council\x00 met\x1bc on "
             "Tuesday.\r\nIt voted."}) + "\n", encoding="utf-8"),
        lambda r: r["texts"] == ["The council met on Tuesday.\nIt voted."]),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile")
    (path / "secret.txt").write_text(SECRET, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_file_is_read_cleanly_in_bounded_time_and_memory(folder: Path,
                                                                   name: str) -> None:
    file_name, make, expected = CASES[name]
    path = folder / file_name
    make(path)
    try:
        report = probe(path)
    finally:
        path.unlink()  # the 100 MB ones
    assert expected(report), report


def _pages(n: int) -> list[tuple[bytes, str]]:
    return [(PAGE.replace(b"Mill River", b"Mill River " + str(i).encode()), "text/html")
            for i in range(n)]


def _record_ends(data: bytes) -> list[int]:
    """Where each record of a WARC ends: where the next one starts, or the end of the file."""
    from warcio.archiveiterator import ArchiveIterator

    records, starts = ArchiveIterator(io.BytesIO(data)), []
    for _ in records:
        starts.append(records.get_record_offset())
        records.read_to_end()
    return [*starts[1:], len(data)]


@pytest.mark.parametrize("gzip_records", [True, False], ids=["warc.gz", "warc"])
def test_a_warc_cut_at_any_point_keeps_what_came_before(tmp_path: Path,
                                                        gzip_records: bool) -> None:
    """A four-page WARC cut at every 7th byte, and at each record's end and the byte either
    side: each cut yields the pages of the records it left whole, in order, and reports the
    cut, naming the record it fell in, unless it fell between two records."""
    whole = _warc(*_pages(4), gzip_records=gzip_records)
    ends = _record_ends(whole)
    path = tmp_path / ("cut.warc.gz" if gzip_records else "cut.warc")
    path.write_bytes(whole)
    full = [a.text for a in read_path(path) if isinstance(a, Article)]
    assert len(full) == 4 == len(ends)
    cuts = sorted({*range(1, len(whole), 7), *(e + d for e in ends for d in (-1, 0, 1))}
                  - {len(whole) + 1})
    for at in cuts:
        path.write_bytes(whole[:at])
        items = list(read_path(path))
        texts = [i.text for i in items if isinstance(i, Article)]
        rejected = [i for i in items if isinstance(i, Rejected)]
        assert texts == full[: len(texts)] and len(items) == len(texts) + len(rejected), at
        whole_records = sum(e <= at for e in ends)
        assert whole_records <= len(texts) <= whole_records + 1, at
        if len(texts) > whole_records:  # cut in the record's closing bytes: its page is whole
            assert ends[whole_records] - at <= 16, at
        elif at not in ends:
            assert rejected, at  # the cut is reported
        assert len(rejected) <= 1 and (at not in ends or not rejected), at
        for report in rejected:
            assert report.line == len(texts) + 1 and "cut short or corrupt" in report.reason, at
    print(f"{'warc.gz' if gzip_records else 'warc'}: {len(cuts)} cuts of {len(whole):,} bytes")


def test_an_article_with_one_long_paragraph_is_chunked_in_bounded_time() -> None:
    """A 40,000-character paragraph (an export that lost its line breaks), well inside every
    reader's limits: chunking it should take a fraction of a second, as 40 short paragraphs
    do."""
    import time

    from qa.ingest.chunking import ChunkParams, chunk_article

    sentence = "The council met on Tuesday and voted on the new footbridge plan. "
    one_line = Article(id="long", text=sentence * 615)
    paragraphs = Article(id="short", text="\n".join([sentence * 15] * 41))
    timings = []
    for article in (paragraphs, one_line):
        began = time.perf_counter()
        chunk_article(article, ChunkParams())
        timings.append(time.perf_counter() - began)
    assert timings[1] < max(0.5, 5 * timings[0]), timings
