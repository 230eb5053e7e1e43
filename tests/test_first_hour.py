"""A new user's first hour (issue 19): articles laid out as people write them keep their dates,
a mistyped path leaves no empty index behind, a missing index says where it was looked for,
piped output keeps its lines whole, flags read as flags, and the documents say what a newcomer
needs to know."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.app.cli import app
from qa.core.records import Article
from qa.ingest.readers import read_path
from tests.fake_cli import command, environment

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
BODY = "The Riverton ferry will run two extra sailings a day from Monday, the operator said.\n"


def _article(path: Path, text: str, modified: datetime | None = None) -> Article:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if modified is not None:
        os.utime(path, (modified.timestamp(), modified.timestamp()))
    (article,) = list(read_path(path))
    assert isinstance(article, Article), article
    return article


@pytest.mark.parametrize("head", [
    "Ferry adds sailings\nMarch 3, 2025\n\n",
    "Ferry adds sailings\n\n2025-03-03\n\n",
    "Date: 2025-03-03\nFerry adds sailings\n\n",
    "Ferry adds sailings\nDate: 3 March 2025\n\n",
    "Ferry adds sailings\nBy Ann Lee\nMonday, March 3, 2025 at 6:25 p.m. EST\n\n",
    "# Ferry adds sailings\n\n*Published: March 3rd, 2025*\n\n",
    "March 3, 2025\n\nFerry adds sailings\n\n",
])
def test_a_date_line_near_the_top_dates_the_article(tmp_path: Path, head: str) -> None:
    article = _article(tmp_path / "ferry.txt", head + BODY)
    assert (article.published, article.title, article.text) == (
        "2025-03-03", "Ferry adds sailings", BODY.strip())


def test_a_dateline_dates_the_article_and_a_missing_year_is_inferred(tmp_path: Path) -> None:
    dateline = "Ferry adds sailings\n\nRIVERTON, Dec. 5 - " + BODY
    # With a year, the dateline's own.
    dated = _article(tmp_path / "a.txt", dateline.replace("Dec. 5 -", "Dec. 5, 2023 (Wire) —"))
    assert dated.published == "2023-12-05" and "date_inferred" not in dated.extra
    # Without: the latest Dec. 5 on or before the file was saved ...
    saved = _article(tmp_path / "b.txt", dateline, modified=datetime(2025, 1, 10, 12))
    assert saved.published == "2024-12-05"
    assert saved.extra["date_inferred"] == "dateline, the year from the file's modification time"
    assert saved.text.startswith("RIVERTON, Dec. 5 - ")  # the dateline is the story's
    # ... unless the file's name or folder names a year.
    named = _article(tmp_path / "2019" / "ferry.txt", dateline, modified=datetime(2025, 1, 10))
    assert named.published == "2019-12-05"
    assert named.extra["date_inferred"] == "dateline, the year from the folder name"


def test_the_texts_own_date_comes_before_the_file_names(tmp_path: Path) -> None:
    named = tmp_path / "harbor-ledger-2024-12-01.txt"
    assert _article(named, "Ferry adds sailings\nMarch 3, 2025\n\n" + BODY).published == \
        "2025-03-03"
    assert _article(named, "Ferry adds sailings\n\n" + BODY).published == "2024-12-01"


def test_a_body_that_opens_with_by_is_not_a_byline(tmp_path: Path) -> None:
    article = _article(tmp_path / "a.txt", "Ferry adds sailings\n\nBy the end of March, "
                       "the ferry will run two extra sailings a day.\n")
    assert article.authors == () and article.text.startswith("By the end of March")


def _ingest_folder(folder: Path) -> None:
    folder.mkdir()
    (folder / "dated.txt").write_text("Ferry adds sailings\nMarch 3, 2025\n\n" + BODY,
                                      encoding="utf-8")
    (folder / "undated.txt").write_text("Library opens late\n\nThe Riverton library will "
                                        "open until 9 p.m. on Thursdays.\n", encoding="utf-8")
    (folder / "dateline.txt").write_text("Bridge repairs\n\nRIVERTON, Dec. 5 - The Mill "
                                         "Street bridge closes for repairs next week.\n",
                                         encoding="utf-8")
    os.utime(folder / "dateline.txt", (datetime(2025, 1, 10).timestamp(),) * 2)


def test_the_ingest_summary_and_index_info_count_the_undated(cli: Path) -> None:
    _ingest_folder(cli / "news")
    result = runner.invoke(app, ["ingest", "news"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^undated\s+1 \(no date found", result.output, re.M), result.output
    assert re.search(r"^undated \S*news/undated\.txt$", result.output, re.M)
    assert re.search(r"^dated \S*news/dateline\.txt 2024-12-05 from its dateline, the year from "
                     r"the file's modification time$", result.output, re.M)
    assert f"index: {cli / 'indexes' / 'default'}" in result.output  # where it is, in full
    info = runner.invoke(app, ["index", "info"]).output
    assert "dates 2024-12-05 to 2025-03-03, 1 undated" in info
    assert json.loads(runner.invoke(app, ["index", "info", "--json"]).stdout)["undated"] == 1


def test_a_mistyped_path_makes_no_index(cli: Path) -> None:
    result = runner.invoke(app, ["ingest", "nwes", "--index", "mine"])
    assert result.exit_code == 2
    assert "no such file" in result.output
    assert "nothing was stored, so no index was made" in result.output
    assert not (cli / "indexes").exists()
    # Nor does a folder holding nothing newsqa reads.
    (cli / "photos").mkdir()
    (cli / "photos" / "a.png").write_bytes(b"\x89PNG")
    assert runner.invoke(app, ["ingest", "photos", "--index", "mine"]).exit_code == 0
    assert not (cli / "indexes").exists()
    # An index that exists stays, even when a run adds nothing to it.
    _ingest_folder(cli / "news")
    assert runner.invoke(app, ["ingest", "news", "--index", "mine"]).exit_code == 0
    assert runner.invoke(app, ["ingest", "nwes", "--index", "mine"]).exit_code == 2
    assert (cli / "indexes" / "mine" / "manifest.json").is_file()


def test_an_empty_index_says_it_is_empty(cli: Path, archive: Path) -> None:
    assert runner.invoke(app, ["ingest", str(archive)]).exit_code == 0
    removed = runner.invoke(app, ["rm", "--source", "Harbor Ledger", "--source",
                                  "Evening Dispatch", "--source", "Lakeside Courier"])
    assert "the index now holds 0" in removed.output, removed.output
    info = runner.invoke(app, ["index", "info"])
    assert info.exit_code == 0 and "empty: no articles yet" in info.output
    assert "None" not in info.output
    asked = runner.invoke(app, ["ask", "Who won the marathon?"])
    assert asked.exit_code == 1 and "is empty: it holds no articles" in asked.stderr
    assert "newsqa ingest PATH --index default" in asked.stderr


def test_a_missing_index_says_where_it_looked_and_how_to_point_at_one(cli: Path) -> None:
    result = runner.invoke(app, ["ask", "Who runs the ferry?"])
    assert result.exit_code == 1
    assert f"no index at {cli / 'indexes' / 'default'}" in result.stderr
    assert "working folder" in result.stderr
    assert "--index-dir" in result.stderr and "NEWSQA_INDEX_DIR" in result.stderr
    _ingest_folder(cli / "news")
    runner.invoke(app, ["ingest", "news", "--index", "local"])
    result = runner.invoke(app, ["index", "info", "--index", "lokal"])
    assert result.exit_code == 1 and "holds local: pick one with --index" in result.stderr


def test_the_question_is_checked_before_the_index_is_opened(cli: Path) -> None:
    for question, error in (("   ", "the question is empty"), ("???", "has no words")):
        result = runner.invoke(app, ["ask", question])
        assert result.exit_code == 1 and error in result.stderr
        assert "no index" not in result.stderr


def test_piped_output_keeps_long_paths_whole(tmp_path: Path) -> None:
    deep = tmp_path / ("a-folder-with-a-rather-long-name-" * 3) / "missing-article.txt"
    env = {k: v for k, v in environment().items() if k != "COLUMNS"}
    result = subprocess.run(command("ingest", str(deep)), cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert f"rejected {deep}: no such file or folder" in result.stdout.splitlines()


def test_models_lists_paths_whole_when_piped(cli: Path) -> None:
    models = cli / ("models-of-a-newcomer-with-a-long-folder-name-" * 2)
    models.mkdir()
    (models / "mine.gguf").write_bytes(b"GGUF" + b"\0" * 16)
    result = runner.invoke(app, ["models", "--models-dir", str(models)])
    assert result.exit_code == 0, result.output
    assert any(line.endswith(str(models / "mine.gguf")) for line in result.output.splitlines())


@pytest.mark.parametrize("args", [[], ["ingest"], ["ask"], ["eval"], ["index", "info"],
                                  ["index", "doctor"], ["index", "sync"]])
def test_flags_read_as_flags_in_help(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0
    assert "<bool>" not in result.output
    assert "--help" in result.output


def test_loading_a_model_leaves_no_unclosed_file(tmp_path: Path) -> None:
    """llama_cpp opens /dev/null twice on import and never closes it; newsqa closes it at exit
    (a ResourceWarning otherwise, in every test run that loads a model)."""
    model = tmp_path / "broken.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\0" * 64)
    probe = ("from pathlib import Path\nfrom qa.core.errors import NewsqaError\n"
             "from qa.models.generators import LlamaGenerator\n"
             f"try:\n    LlamaGenerator(Path({str(model)!r})).load()\n"
             "except NewsqaError:\n    print('refused')\n")
    result = subprocess.run([sys.executable, "-W", "always::ResourceWarning", "-c", probe],
                            capture_output=True, text=True, env=environment(), timeout=300)
    assert result.stdout.strip() == "refused", result.stderr
    assert "ResourceWarning" not in result.stderr, result.stderr


def test_the_readmes_tell_a_newcomer_what_to_expect() -> None:
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    for fact in ("a C++ compiler and cmake", "Python 3.11", "about 20 minutes", "2 GB",
                 "quiet machine", "NEWSQA_INDEX_DIR"):
        assert fact in readme, fact
    models = " ".join((REPO / "models" / "README.md").read_text(encoding="utf-8").split())
    assert models.index("Gemma 3 270M") < models.index("SmolLM2")  # the default, then fallback
