import gzip
import json
from pathlib import Path

from qa.core.records import Article
from qa.ingest.readers import (
    Rejected,
    Skipped,
    content_id,
    expand_paths,
    parse_date,
    parse_text_article,
    read_jsonl,
    read_path,
)

SCRAPED = Path(__file__).parent / "fixtures" / "text" / "harbor-ledger-2024-12-09.txt"


def test_parse_date_forms() -> None:
    assert parse_date("2024-12-09") == "2024-12-09"
    assert parse_date("2024-12-09T18:25:00Z") == "2024-12-09T18:25:00"
    assert parse_date("December 9, 2024 6:25 PM") == "2024-12-09"
    assert parse_date("Dec. 9 2024") == "2024-12-09"
    assert parse_date("9 December 2024") == parse_date("December 9th, 2024") == "2024-12-09"
    assert parse_date("2024/12/09") == parse_date("2024-12-9") == "2024-12-09"
    assert parse_date("Mayor 9, 2024") is None  # a month's name is whole
    assert parse_date("2024-02-30") is None
    assert parse_date("soon") is None


def test_jsonl_aliases_metadata_and_rejections(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    lines = [
        json.dumps({"body": "Body text here.", "date": "2024-01-02", "source": "Wire",
                    "authors": "Ann Lee and Bo Chen", "section": "local"}),
        "{not json",
        json.dumps(["a list"]),
        json.dumps({"title": "no text"}),
        json.dumps({"text": "   "}),
        json.dumps({"text": "Dated badly.", "published": "next tuesday"}),
        "",
        json.dumps({"content": "Third alias.", "url": "https://x.example/1", "id": "given"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(read_jsonl(path))
    articles = [i for i in items if isinstance(i, Article)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [a.text for a in articles] == ["Body text here.", "Third alias."]
    first = articles[0]
    assert (first.published, first.source, first.authors) == ("2024-01-02", "Wire",
                                                               ("Ann Lee", "Bo Chen"))
    assert first.extra == {"section": "local"}
    assert first.id == content_id(None, "Body text here.")
    assert articles[1].id == "given"
    assert [r.line for r in rejected] == [2, 3, 4, 5, 6]
    assert "not valid JSON" in rejected[0].reason
    assert "no text" in rejected[2].reason
    assert "empty text" in rejected[3].reason
    assert "not a date" in rejected[4].reason
    assert rejected[0].where() == f"{path}:2"


def test_gzipped_jsonl_and_undecodable_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"text": "Zipped."}) + "\n")
    assert [a.text for a in read_path(path) if isinstance(a, Article)] == ["Zipped."]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(json.dumps({"text": "fine"}).encode() + b"\n\xff\xfe\n")
    items = list(read_path(bad))
    assert isinstance(items[0], Article)
    assert isinstance(items[1], Rejected) and "UTF-8" in items[1].reason and items[1].line == 2


def test_a_question_file_is_skipped_not_rejected(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps({"question": "Why?", "answers": []}) + "\n", encoding="utf-8")
    assert [type(i) for i in read_path(path)] == [Skipped]


def test_a_scraped_article() -> None:
    """A page saved as the seed article (`../shared/data/seed/`) is: a `date` line with the
    site's banner, headline, byline, photo caption, body, a second story, `Author:` line."""
    raw = SCRAPED.read_text(encoding="utf-8")
    article = parse_text_article(raw, SCRAPED)
    assert article.title == ("Alder Bay ferry company asks Port Wendell to shelter its boats, "
                             "the Ledger learns")
    assert article.published == "2024-12-09"
    assert article.source == "Harbor Ledger"
    assert article.authors == ("Mira Okafor",)
    assert article.text.startswith("Photo for illustrative purposes.")
    assert "chip in this winter" not in article.text  # the date line's banner
    assert "Author:" not in article.text
    assert "breakwater" in article.text  # the appended second story is kept
    assert article.text in raw


def test_front_matter_markdown(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text("---\ntitle: Ferry adds sailings\ndate: 2024-12-18\nsource: Dispatch\n"
                    "authors: [Ann Lee]\n---\nThe ferry adds three sailings.\n", encoding="utf-8")
    (article,) = list(read_path(path))
    assert isinstance(article, Article)
    assert (article.title, article.published, article.source, article.authors) == (
        "Ferry adds sailings", "2024-12-18", "Dispatch", ("Ann Lee",))
    assert article.text == "The ferry adds three sailings."


def test_plain_text_without_metadata_and_bad_yaml(tmp_path: Path) -> None:
    plain = tmp_path / "story.txt"
    plain.write_text("Bridge reopens\n\nThe bridge reopened on Monday.\n", encoding="utf-8")
    (article,) = list(read_path(plain))
    assert isinstance(article, Article)
    assert (article.title, article.text, article.published) == (
        "Bridge reopens", "The bridge reopened on Monday.", None)
    broken = tmp_path / "broken.md"
    broken.write_text("---\ntitle: [unclosed\n---\nBody.\n", encoding="utf-8")
    (rejected,) = list(read_path(broken))
    assert isinstance(rejected, Rejected) and "YAML" in rejected.reason


def test_expand_paths_walks_folders_and_names_unknown_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("x", encoding="utf-8")
    (tmp_path / "a.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.txt").write_text("x", encoding="utf-8")
    found = list(expand_paths([tmp_path, tmp_path / "image.png", tmp_path / "missing.txt"]))
    # In a folder an unknown file is skipped (and reported); named directly it is rejected.
    assert found[0] == tmp_path / "a.jsonl" and found[2] == tmp_path / "sub" / "b.txt"
    assert isinstance(found[1], Skipped) and found[1].path.endswith("image.png")
    assert isinstance(found[3], Rejected) and "unknown kind" in found[3].reason
    assert isinstance(found[4], Rejected) and "no such file" in found[4].reason
    assert len(found) == 5


def test_the_bundled_sample_archive() -> None:
    from qa.app.cli import SAMPLE

    articles = [a for a in read_path(Path(str(SAMPLE))) if isinstance(a, Article)]
    assert len(articles) == 25  # one is a syndicated copy: the index holds 24
    assert len({a.source for a in articles}) == 5
    assert all(a.published and a.url and a.title for a in articles)
    # The refusal demo ("What did China's foreign ministry say ...?") relies on this.
    assert not any("china" in (a.title + a.text).lower() for a in articles)
    assert any("Tartus" in a.text and "Khmeimim" in a.text for a in articles)
