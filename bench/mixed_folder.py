"""Write a folder that holds every kind of input newsqa reads, for trying `newsqa ingest` on:
JSONL (plain and gzipped, with an exact duplicate, a syndicated copy and a malformed line), text
with front matter (gzipped), an HTML page with boilerplate, an RSS and an Atom feed, a WARC
crawl, and three files that should be turned away (not UTF-8, empty, not an archive at all).
Every article is invented for this demo.

    python bench/mixed_folder.py /tmp/mixed && newsqa ingest /tmp/mixed --index demo
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "formats"

FERRY = (
    "The Riverton ferry will add a late sailing on Fridays and Saturdays from June, the transit "
    "authority said on Tuesday. The new departure leaves Alder Bay at 11:40 pm and reaches "
    "Riverton twenty-five minutes later. Officials said late-night ridership had grown by a "
    "third since the spring, mostly among restaurant and hospital workers heading home. The "
    "extra sailings will cost about $310,000 a year, paid from the authority's operating "
    "reserve, and will be reviewed after six months. A shuttle bus will meet the boat at the "
    "Riverton landing until the last passenger has left."
)
GRANT = (
    "Pinecrest County has awarded $2.1 million in grants to forty small farms to build cold "
    "storage, the county's agriculture office announced on Monday. Each farm receives up to "
    "$60,000 and must pay 25 percent of the cost itself. The office said spoiled produce cost "
    "local growers an estimated $4 million last season. Applications for a second round open in "
    "September."
)


def _jsonl(records: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _warc(path: Path) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    page = ("<html><head><title>Pinecrest grants cold storage money</title>"
            "<meta property='og:site_name' content='Meridian Post'>"
            "<meta property='article:published_time' content='2024-05-07'></head><body>"
            "<nav>Home | Local | Sport</nav><article><h1>Pinecrest grants cold storage money"
            f"</h1><p>{GRANT}</p></article><footer>Subscribe today</footer></body></html>")
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, status, body in (
                ("https://meridianpost.example/2024/05/07/cold-storage", "200 OK", page),
                ("https://meridianpost.example/missing", "404 Not Found", "<html>gone</html>")):
            headers = StatusAndHeaders(status, [("Content-Type", "text/html; charset=utf-8")],
                                       protocol="HTTP/1.1")
            data = body.encode("utf-8")
            # With its length given, warcio reads the payload in place instead of copying it
            # to a temporary file that it never closes.
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(data),
                                               length=len(data), http_headers=headers)
            writer.write_record(record)


def build(out: Path) -> None:
    for sub in ("exports", "pages", "feeds", "crawl", "notes", "misc"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    ferry = {"url": "https://northgatewire.example/2024/05/06/late-ferry", "source":
             "Northgate Wire", "published": "2024-05-06", "title": "Riverton ferry adds late "
             "weekend sailing", "text": FERRY, "authors": ["Ada Quill"]}
    copy = {**ferry, "url": "https://lakesidecourier.example/2024/05/07/ferry-late-sailing",
            "source": "Lakeside Courier", "published": "2024-05-07",
            "title": "Late ferry coming on weekends",
            "text": FERRY.replace("on Tuesday", "on Tuesday afternoon") + " (Northgate Wire)"}
    (out / "exports" / "wire.jsonl").write_text(
        _jsonl([ferry, ferry]) + "{not json at all\n", encoding="utf-8")
    with gzip.open(out / "exports" / "partner.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(_jsonl([copy]))
    with gzip.open(out / "notes" / "valley-courier-2024-05-08.txt.gz", "wt",
                   encoding="utf-8") as handle:
        handle.write("---\ntitle: Valley Courier reprints the grant story\nauthors: [Ivo Marsh]"
                     "\n---\n\n" + GRANT.replace("on Monday", "on Monday morning") + "\n")
    shutil.copy(FIXTURES / "courier-footbridge.html", out / "pages" / "footbridge.html")
    shutil.copy(FIXTURES / "harbor-ledger.rss", out / "feeds" / "harbor-ledger.rss")
    shutil.copy(FIXTURES / "valley-courier.atom", out / "feeds" / "valley-courier.atom")
    _warc(out / "crawl" / "meridian.warc.gz")
    (out / "notes" / "latin1.txt").write_bytes("Caf\xe9 reopens on the quay.".encode("latin-1"))
    (out / "notes" / "empty.md").write_text("\n\n", encoding="utf-8")
    (out / "misc" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
