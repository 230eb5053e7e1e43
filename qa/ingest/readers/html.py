"""Saved web pages: trafilatura finds the article (leaving out navigation, footers, cookie
banners and comments) and its title, date, author, outlet and canonical URL."""

from __future__ import annotations

from collections.abc import Iterator
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

HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz")
MAX_HTML_BYTES = 20 * MB
# trafilatura's time grows faster than the page's markup (one megabyte of <p> elements: 45 s
# and 175 MB; four: 100 s and 2.4 GB). A news page has a few thousand elements; this many take
# it about 9 s on two busy cores.
MAX_HTML_ELEMENTS = 40_000


class _Counted(Exception):
    pass


def _element_count(page: bytes | str, limit: int) -> int:
    """How many elements the page has, counting no further than `limit` + 1: lxml's
    tokenizer, fed in blocks, with nothing built (linear time, constant memory; the text of
    scripts and comments is not counted)."""
    from lxml import etree

    class Counter:
        count = 0

        def start(self, tag: Any, attrib: Any) -> None:
            self.count += 1
            if self.count > limit:
                raise _Counted

        def close(self) -> int:
            return self.count

    counter = Counter()
    parser = etree.HTMLParser(target=counter, recover=True, no_network=True)
    try:
        for at in range(0, len(page), 1 << 16):
            parser.feed(page[at:at + (1 << 16)])
        parser.close()
    except _Counted:
        pass
    except etree.LxmlError:  # trafilatura reports what it cannot parse
        pass
    return counter.count


def _paragraphs(text: str, title: str) -> str:
    """trafilatura's lines as blank-line-separated paragraphs, without a repeated headline."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if lines and title and lines[0].casefold() == " ".join(title.split()).casefold():
        lines = lines[1:]
    return "\n\n".join(lines)


def extract_article(page: bytes | str, *, url: str | None = None,
                    fallback_date: str | None = None) -> Article:
    """The article in one HTML page. `url` is used when the page names no canonical URL, and
    `fallback_date` (ISO) when it carries no date. Raises ValueError when there is no text."""
    import trafilatura
    from trafilatura.settings import set_date_params

    if _element_count(page, MAX_HTML_ELEMENTS) > MAX_HTML_ELEMENTS:
        raise ValueError(f"the page has over {MAX_HTML_ELEMENTS:,} HTML elements, more than "
                         "an article page; save the article's own page, or leave it out")
    try:
        doc = trafilatura.bare_extraction(
            page, url=url, with_metadata=True, include_comments=False,
            # No guessing from copyright lines or stray numbers: a wrong date is worse than none.
            date_extraction_params=set_date_params(extensive=False),
        )
    except Exception as exc:  # lxml and trafilatura raise many kinds on a malformed page
        raise ValueError(f"the page could not be parsed ({exc.__class__.__name__}); "
                         "check that it is an HTML file") from exc
    if doc is None or isinstance(doc, dict) or not (doc.text or "").strip():
        raise ValueError("no article text found in the page; is it an article page?")
    title = " ".join((doc.title or "").split())
    text = _paragraphs(doc.text or "", title)
    if not text:
        raise ValueError("the page has a headline but no article text")
    page_url = doc.url or url
    published = (parse_date(doc.date) if doc.date else None) or fallback_date
    return Article(
        id=content_id(page_url, text),
        text=text,
        url=page_url,
        title=title,
        published=published,
        source=(doc.sitename or "").strip() or None,
        authors=split_authors(doc.author),
    )


def read_html(path: Path) -> Iterator[Article | Rejected]:
    """One article from a saved page (plain or gzipped, at most MAX_HTML_BYTES unpacked)."""
    page = read_whole(path, MAX_HTML_BYTES)
    if isinstance(page, Rejected):
        yield page
        return
    try:
        yield extract_article(page)
    except ValueError as exc:
        yield Rejected(str(path), None, str(exc))
