"""News-native file formats: HTML pages, RSS/Atom feeds, WARC archives, sniffing, field
mapping for JSONL exports, and the caps that keep memory bounded. Fixtures are invented news."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from qa.core.records import Article
from qa.ingest.readers import (
    Rejected,
    Skipped,
    content_id,
    expand_paths,
    html_to_text,
    parse_field_mapping,
    read_path,
    reader_for,
)

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
PAGE = FIXTURES / "courier-footbridge.html"
RSS = FIXTURES / "harbor-ledger.rss"
ATOM = FIXTURES / "valley-courier.atom"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers never fetch anything: any attempt to connect fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a reader tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def split(items: list[Any]) -> tuple[list[Article], list[Rejected]]:
    return ([i for i in items if isinstance(i, Article)],
            [i for i in items if isinstance(i, Rejected)])


# --- HTML ------------------------------------------------------------------------------------


def test_html_page_keeps_the_article_and_drops_the_boilerplate() -> None:
    (article,) = list(read_path(PAGE))
    assert isinstance(article, Article)
    assert article.title == "Millbrook council approves footbridge over the Tarrow"
    assert (article.published, article.source, article.authors) == (
        "2024-11-28", "Valley Courier", ("Hanna Obrecht",))
    assert article.url == "https://valleycourier.example/2024/11/28/millbrook-footbridge"
    assert article.id == content_id(article.url, article.text)
    paragraphs = article.text.split("\n\n")
    assert len(paragraphs) == 4
    assert paragraphs[0].startswith("Millbrook's town council voted seven to two")
    assert paragraphs[-1].endswith("flooding on the eastern bank.")
    for boilerplate in ("cookies", "Subscribe", "Weather", "Most read", "Quarry Lane",
                        "Copyright", "Privacy policy", "Contact us"):
        assert boilerplate not in article.text


def test_html_without_article_text_is_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty.html"
    empty.write_text("<html><head><title>x</title></head><body></body></html>", encoding="utf-8")
    (rejected,) = list(read_path(empty))
    assert isinstance(rejected, Rejected) and "no article text" in rejected.reason


def test_a_gzip_bomb_is_rejected_not_unpacked(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.html.gz"
    zeros = bytes(1 << 20)
    with gzip.open(bomb, "wb") as handle:
        for _ in range(200):  # 200 MB unpacked, about 200 KB on disk
            handle.write(zeros)
    (rejected,) = list(read_path(bomb))
    assert isinstance(rejected, Rejected)
    assert "over 20 MB unpacked" in rejected.reason and rejected.line is None


# --- feeds -----------------------------------------------------------------------------------


def test_rss_entries_use_full_content_and_reject_empty_entries() -> None:
    articles, rejected = split(list(read_path(RSS)))
    ferry, roof = articles
    assert ferry.text == (
        "The ferry between Port Calloway and Gull Island will add three sailings a day from "
        "December 16, the harbor board said on Monday.\n\nThe board said the extra crossings "
        "follow a rise in winter passengers since the island's clinic reopened in October.")
    assert "trackPageView" not in ferry.text  # scripts in the content are dropped
    assert (ferry.title, ferry.published, ferry.source, ferry.authors) == (
        "Port Calloway ferry adds winter sailings", "2024-12-02T07:30:00", "Harbor Ledger",
        ("Ines Varga",))
    assert ferry.url == "https://harborledger.example/2024/12/02/ferry-winter-sailings"
    assert ferry.extra == {"guid": "hl-2024-1202-ferry"}
    # A summary carrying escaped HTML becomes paragraphs; the entry's own <source> names it.
    assert roof.text == ("Repairs to the roof of Saltmarsh Primary School finished a week "
                         "ahead of schedule.\n\nPupils return to the upper classrooms on Monday.")
    assert (roof.source, roof.published) == ("Saltmarsh Gazette", "2024-12-05T16:00:00")
    (empty,) = rejected
    assert empty.line == 3 and empty.reason.startswith("entry 3: no text")
    assert "Tide tables" in empty.reason


def test_atom_entries_dates_and_authors() -> None:
    articles, rejected = split(list(read_path(ATOM)))
    library, levels = articles
    assert library.text.startswith("Eastfield library will stay open until eight")
    assert "open later on weekdays" not in library.text  # the content wins over the summary
    assert library.published == "2024-12-10T08:00:00"  # published before updated
    assert library.authors == ("Hanna Obrecht", "Tomas Reyne")
    assert library.source == "Valley Courier"  # the feed's title
    assert library.url == "https://valleycourier.example/2024/12/10/library-hours"
    assert levels.text.startswith("Water levels on the River Tarrow fell overnight")
    assert levels.published == "2024-12-11T07:45:00"  # only `updated`
    assert [(r.line, r.reason.split(":")[0]) for r in rejected] == [(3, "entry 3")]


def test_a_file_that_is_not_a_feed_and_an_oversized_feed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.rss"
    broken.write_text("this is not xml at all", encoding="utf-8")
    (rejected,) = list(read_path(broken))
    assert isinstance(rejected, Rejected) and "not an RSS or Atom feed" in rejected.reason
    monkeypatch.setattr("qa.ingest.readers.feeds.MAX_FEED_BYTES", 1024)
    (too_big,) = list(read_path(RSS))
    assert isinstance(too_big, Rejected) and "over" in too_big.reason


def test_html_to_text_keeps_paragraphs() -> None:
    fragment = ("<div><p>One &amp; two\n  words</p><p>Three<br>Four</p>"
                "<style>p {color: red}</style><ul><li>Five</li></ul></div>")
    assert html_to_text(fragment) == "One & two words\n\nThree\n\nFour\n\nFive"
    assert html_to_text("Plain first paragraph.\n\nPlain second.") == (
        "Plain first paragraph.\n\nPlain second.")


# --- WARC ------------------------------------------------------------------------------------

PAGE_WITHOUT_METADATA = """<html><head><title>Fennick harbour wall repaired</title></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Fennick harbour wall repaired</h1>
<p>Engineers finished repairs to the Fennick harbour wall on Friday, three weeks after a storm
tore a ten-metre gap in its seaward side.</p>
<p>The harbour master said fishing boats could again moor along the outer quay from Monday.</p>
</article><footer>Fennick Weekly, all rights reserved</footer></body></html>"""


def write_warc(path: Path, *, gzip_records: bool, pages: int = 2) -> None:
    """HTML responses (the first with a canonical link), then a JSON response, a request and
    a 404 page."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    def response(uri: str, body: bytes, content_type: str, status: str = "200 OK") -> Any:
        headers = StatusAndHeaders(status, [("Content-Type", content_type)],
                                   protocol="HTTP/1.1")
        return writer.create_warc_record(
            uri, "response", payload=io.BytesIO(body), length=len(body), http_headers=headers,
            warc_headers_dict={"WARC-Date": "2024-12-13T10:20:30Z"})

    html = "text/html; charset=utf-8"
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=gzip_records)
        writer.write_record(response("https://warc.example/a", PAGE.read_bytes(), html))
        writer.write_record(response("https://weekly.example/fennick-wall",
                                     PAGE_WITHOUT_METADATA.encode(), html))
        writer.write_record(response("https://weekly.example/api/tides.json",
                                     b'{"high": "06:12"}', "application/json"))
        get = b"GET /fennick-wall HTTP/1.1\r\nHost: weekly.example\r\n\r\n"
        request = writer.create_warc_record("https://weekly.example/fennick-wall", "request",
                                            payload=io.BytesIO(get), length=len(get))
        writer.write_record(request)
        writer.write_record(response("https://weekly.example/gone",
                                     PAGE_WITHOUT_METADATA.encode(), html, "404 Not Found"))
        for n in range(pages - 2):
            writer.write_record(response(f"https://weekly.example/extra-{n}",
                                         PAGE_WITHOUT_METADATA.encode(), html))


@pytest.mark.parametrize("gzip_records", [True, False])
def test_warc_html_responses_become_articles(tmp_path: Path, gzip_records: bool) -> None:
    path = tmp_path / ("crawl.warc.gz" if gzip_records else "crawl.warc")
    write_warc(path, gzip_records=gzip_records)
    items = list(read_path(path))
    assert all(isinstance(i, Article) for i in items)
    courier, weekly = items
    assert isinstance(courier, Article) and isinstance(weekly, Article)
    # The page's canonical URL wins over the captured one, and its own date over the capture's.
    assert courier.url == "https://valleycourier.example/2024/11/28/millbrook-footbridge"
    assert courier.published == "2024-11-28"
    assert courier.extra["warc_target_uri"] == "https://warc.example/a"
    assert weekly.url == "https://weekly.example/fennick-wall"
    assert weekly.published == "2024-12-13"  # from WARC-Date: the page carries none
    assert weekly.title == "Fennick harbour wall repaired"
    assert weekly.text.startswith("Engineers finished repairs to the Fennick harbour wall")
    assert "all rights reserved" not in weekly.text


def test_a_truncated_warc_gz_keeps_what_came_before(tmp_path: Path) -> None:
    whole = tmp_path / "whole.warc.gz"
    write_warc(whole, gzip_records=True, pages=3)
    data = whole.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) - 300])  # inside the last record (record 6)
    articles, rejected = split(list(read_path(cut)))
    assert [a.url for a in articles] == [
        "https://valleycourier.example/2024/11/28/millbrook-footbridge",
        "https://weekly.example/fennick-wall"]
    (broken,) = rejected
    assert broken.path == str(cut) and broken.line == 6
    assert "cut short or corrupt at record 6" in broken.reason


def test_a_warc_cut_inside_a_record_header(tmp_path: Path) -> None:
    whole = tmp_path / "whole.warc"
    write_warc(whole, gzip_records=False, pages=3)
    data = whole.read_bytes()
    last = data.rindex(b"WARC/1.")
    cut = tmp_path / "cut.warc"
    cut.write_bytes(data[: last + 40])  # the last record's WARC headers stop half-way
    articles, rejected = split(list(read_path(cut)))
    assert len(articles) == 2
    assert [(r.line, "cut short" in r.reason) for r in rejected] == [(6, True)]


def test_a_warc_gzipped_as_one_stream_names_the_fix(tmp_path: Path) -> None:
    plain = tmp_path / "plain.warc"
    write_warc(plain, gzip_records=False)
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(plain.read_bytes()))
    items = list(read_path(whole))
    assert isinstance(items[-1], Rejected) and "warcio recompress" in items[-1].reason


# --- sniffing --------------------------------------------------------------------------------


def test_files_are_told_apart_by_their_first_bytes(tmp_path: Path) -> None:
    page = tmp_path / "saved-page"
    shutil.copy(PAGE, page)
    feed = tmp_path / "ledger.gz"
    feed.write_bytes(gzip.compress(RSS.read_bytes()))
    archive = tmp_path / "crawl.dat"
    write_warc(archive, gzip_records=True)
    one_line_json = tmp_path / "export.json"
    one_line_json.write_text(json.dumps({"text": "A single article."}) + "\n", encoding="utf-8")
    pretty_json = tmp_path / "settings.json"
    pretty_json.write_text(json.dumps({"text": "x"}, indent=2), encoding="utf-8")
    sitemap = tmp_path / "sitemap.xml"
    sitemap.write_text('<?xml version="1.0"?>\n<urlset><url><loc>x</loc></url></urlset>',
                       encoding="utf-8")
    atom_xml = tmp_path / "courier.xml"
    shutil.copy(ATOM, atom_xml)
    kinds = {p.name: reader_for(p) for p in (page, feed, archive, one_line_json, pretty_json,
                                             sitemap, atom_xml)}
    assert kinds == {"saved-page": "html", "ledger.gz": "feed", "crawl.dat": "warc",
                     "export.json": "jsonl", "settings.json": None, "sitemap.xml": None,
                     "courier.xml": "feed"}
    (article,) = list(read_path(page))
    assert isinstance(article, Article) and article.source == "Valley Courier"
    articles, rejected = split(list(read_path(feed)))
    assert [a.source for a in articles] == ["Harbor Ledger", "Saltmarsh Gazette"]
    assert len(rejected) == 1
    (rejected_sitemap,) = list(read_path(sitemap))
    assert isinstance(rejected_sitemap, Rejected) and "unknown kind" in rejected_sitemap.reason
    assert "WARC" in rejected_sitemap.reason and "RSS/Atom" in rejected_sitemap.reason


def test_folders_yield_sniffed_files_and_skip_hidden_folders(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    shutil.copy(PAGE, tmp_path / "pages" / "footbridge")
    (tmp_path / ".cache").mkdir()
    shutil.copy(PAGE, tmp_path / ".cache" / "copy.html")
    (tmp_path / "notes.bin").write_bytes(b"\x00\x01\x02")
    shutil.copy(RSS, tmp_path / "ledger.rss")
    found = list(expand_paths([tmp_path]))
    assert found[0] == tmp_path / "ledger.rss" and found[2] == tmp_path / "pages" / "footbridge"
    assert isinstance(found[1], Skipped) and found[1].path == str(tmp_path / "notes.bin")
    assert "unknown kind" in found[1].reason and len(found) == 3


# --- JSONL field mapping ---------------------------------------------------------------------


def test_parse_field_mapping() -> None:
    assert parse_field_mapping(["text=article_body", "published = pub_date", "source=site"]) == {
        "text": "article_body", "published": "pub_date", "source": "site"}
    for bad, message in [("text", "FIELD=COLUMN"), ("=body", "FIELD=COLUMN"),
                         ("colour=hue", "not an article field"),
                         ("text=a", None)]:
        items = [bad] if message else ["text=a", bad]
        with pytest.raises(ValueError, match=message or "already taken"):
            parse_field_mapping(items)


def test_jsonl_columns_are_renamed_by_the_mapping(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    rows = [
        {"article_body": "The Fennick lifeboat was called out twice.", "pub_date": "2024-12-01",
         "site": "Fennick Weekly", "headline": "Lifeboat busy", "text": "teaser", "desk": "coast"},
        {"headline": "No body here", "pub_date": "2024-12-02"},
        {"article_body": "Dated badly.", "pub_date": "last week"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    fields = parse_field_mapping(["text=article_body", "published=pub_date", "source=site",
                                  "title=headline"])
    articles, rejected = split(list(read_path(path, fields)))
    (article,) = articles
    assert (article.text, article.published, article.source, article.title) == (
        "The Fennick lifeboat was called out twice.", "2024-12-01", "Fennick Weekly",
        "Lifeboat busy")
    assert article.extra == {"text": "teaser", "desk": "coast"}  # unmapped columns are kept
    assert [r.line for r in rejected] == [2, 3]
    assert "`article_body`" in rejected[0].reason
    assert "`pub_date` is not a date" in rejected[1].reason
    # Without the mapping the same file reads by the usual names.
    plain, _ = split(list(read_path(path)))
    assert [a.text for a in plain] == ["teaser"]


def test_an_overlong_jsonl_line_costs_one_line(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qa.ingest.readers.jsonl.MAX_LINE_BYTES", 64)
    path = tmp_path / "a.jsonl.gz"
    lines = [json.dumps({"text": "x" * 200}), json.dumps({"text": "Short."})]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    articles, rejected = split(list(read_path(path)))
    assert [a.text for a in articles] == ["Short."]
    assert [r.line for r in rejected] == [1] and "line over" in rejected[0].reason
