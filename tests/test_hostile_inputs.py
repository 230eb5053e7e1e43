"""Hostile inputs (issue 20): file names that are not UTF-8, absurd JSON numbers, index names
that are paths, links and special files in an ingested folder, terminal escapes in what is
printed. Each runs the real `newsqa` (with the fake models, tests/fake_cli.py) in a process of
its own, where output is encoded as a terminal's would be, and checks that the command says
what went wrong, naming the file, without a traceback, and that nothing stored is lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.app.cli import app
from qa.app.context import use_models
from tests.fake_cli import DELAY, command, environment, start
from tests.fakes import FakeEmbedder, FakeGenerator, FakeModels

STORY = {"url": "https://harbor.example/1", "title": "Footbridge approved",
         "text": "The Alder Bay council voted to build a footbridge. It will cost $4.2 million."}
RACE = {"url": "https://dispatch.example/2", "title": "Marathon",
        "text": "Orlin Maddox won the Riverton Marathon on Sunday. Thousands ran."}


def newsqa(cwd: Path, *args: str | bytes, timeout: float = 300,
           ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command(*map(os.fsdecode, args)), cwd=cwd, env=environment(),
                            capture_output=True, text=True, errors="backslashreplace",
                            timeout=timeout)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def jsonl(path: Path | bytes, *records: dict[str, object]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in records))


def stored(cwd: Path, index: str = "default") -> int:
    info = newsqa(cwd, "index", "info", "--json", "--index", index)
    assert info.returncode == 0, info.stderr
    return int(json.loads(info.stdout)["articles"])


def test_a_file_name_that_is_not_utf8_is_ingested_and_shown_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    jsonl(os.fsencode(folder) + b"/story\xff.jsonl", STORY)
    jsonl(folder / "race.jsonl", RACE)
    (Path(os.fsdecode(os.fsencode(folder) + b"/empty\xfe.txt"))).write_text("x\n")
    first = newsqa(tmp_path, "ingest", "archive")
    assert first.returncode == 2, first.stderr  # the empty text file is rejected
    assert "rejected archive/empty\\xfe.txt" in " ".join(first.stdout.split()), first.stdout
    assert stored(tmp_path) == 2
    # The file ledger holds the name: the next run knows the file and does not read it again.
    again = newsqa(tmp_path, "ingest", str(folder / "race.jsonl"),
                   os.fsencode(folder) + b"/story\xff.jsonl")
    assert again.returncode == 0 and "files unchanged  2" in again.stdout, again.stdout


def test_a_number_too_long_to_convert_rejects_its_line_only(tmp_path: Path) -> None:
    big = "1" + "0" * 5000  # Python converts at most 4,300 digits
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "a.jsonl").write_text(
        json.dumps(STORY) + "\n" + '{"text": "A big number.", "views": ' + big + "}\n"
        + json.dumps(RACE) + "\n", encoding="utf-8")
    (folder / "export").write_text('{"text": "Sniffed.", "n": -' + big + "}\n")  # no suffix
    result = newsqa(tmp_path, "ingest", "archive")
    shown = " ".join(result.stdout.split())
    assert result.returncode == 2, result.stderr
    assert "rejected archive/a.jsonl:2: a number of more than 4,300 digits" in shown, shown
    assert "rejected archive/export:1: a number of more than 4,300 digits" in shown, shown
    assert stored(tmp_path) == 2
    (tmp_path / "q.jsonl").write_text('{"question": "Who won?"}\n{"question": "What?", "id": '
                                      + big + "}\n", encoding="utf-8")
    asked = newsqa(tmp_path, "eval", "q.jsonl")
    message = " ".join(asked.stderr.split())
    assert asked.returncode == 1 and "q.jsonl:2: a number of more than 4,300 digits" in message
    assert "hint: fix that line" in message


def test_an_index_name_that_is_a_path_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 fake_models: None) -> None:
    use_models(FakeModels(FakeEmbedder, lambda path: FakeGenerator()))
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    jsonl(cwd / "news.jsonl", STORY)
    commands = (["ingest", "news.jsonl"], ["index", "doctor", "--repair"], ["rm", "--id", "x"],
                ["ask", "What will the footbridge cost?"], ["eval", "news.jsonl"],
                ["index", "info"], ["index", "sync"], ["repl"])
    for name in ("../..", str(tmp_path / "elsewhere"), "", ".", "x/y", "..", "new\nline"):
        for args in commands:
            result = CliRunner().invoke(app, [*args, "--index", name])
            message = " ".join(result.stderr.split())
            assert result.exit_code == 1, (args, name, result.output)
            assert "is not an index name" in message and "--index-dir" in message, message
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "news.jsonl"]


@pytest.mark.parametrize("name", ["manifest.json", "store.sqlite"])
def test_an_index_file_that_is_a_fifo_or_a_link_to_dev_zero_is_refused_at_once(
        tmp_path: Path, name: str) -> None:
    jsonl(tmp_path / "news.jsonl", STORY)
    assert newsqa(tmp_path, "ingest", "news.jsonl").returncode == 0
    file = tmp_path / "indexes" / "default" / name
    kept = file.read_bytes()
    for make in (os.mkfifo, lambda path: path.symlink_to("/dev/zero")):
        file.unlink()
        make(file)
        for args in (["index", "info"], ["index", "doctor"], ["ask", "What will it cost?"],
                     ["ingest", "news.jsonl"]):
            result = newsqa(tmp_path, *args, timeout=30)  # it waited, or read until memory ran out
            message = " ".join(result.stderr.split())
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            assert f"{name}" in message and "not a regular file" in message, message
            assert "hint:" in message, message
    file.unlink()
    file.write_bytes(kept)
    assert newsqa(tmp_path, "index", "doctor").returncode == 0


def test_a_writer_deletes_only_its_own_temporary_files(tmp_path: Path) -> None:
    jsonl(tmp_path / "news.jsonl", STORY)
    assert newsqa(tmp_path, "ingest", "news.jsonl").returncode == 0
    folder = tmp_path / "indexes" / "default"
    mine = [folder / ".draft.tmp-2024", folder / ".notes.tmp-1", folder / ".vectors.faiss.tmp-x"]
    left = [folder / ".vectors.faiss.tmp-4242", folder / ".manifest.json.tmp-77"]  # killed writes
    for path in mine + left:
        path.write_text("kept")
    doctor = newsqa(tmp_path, "index", "doctor")
    assert doctor.returncode == 1 and ".vectors.faiss.tmp-4242" in doctor.stdout
    assert ".draft.tmp-2024" not in doctor.stdout
    jsonl(tmp_path / "more.jsonl", RACE)
    assert newsqa(tmp_path, "ingest", "more.jsonl").returncode == 0
    assert all(p.read_text() == "kept" for p in mine) and not any(p.exists() for p in left)
    assert newsqa(tmp_path, "index", "doctor", "--repair").returncode == 0
    assert all(p.read_text() == "kept" for p in mine)


def test_links_out_of_a_folder_are_not_followed_and_special_files_are_reported(
        tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "more").mkdir(parents=True)
    (outside / "secret.txt").write_text("Secret\n\nThe password is swordfish.\n")
    jsonl(outside / "more" / "other.jsonl", RACE)
    folder = tmp_path / "archive"
    (folder / "sub").mkdir(parents=True)
    jsonl(folder / "sub" / "story.jsonl", STORY)
    (folder / "passwd.txt").symlink_to(outside / "secret.txt")
    (folder / "elsewhere").symlink_to(outside / "more")
    (folder / "same.jsonl").symlink_to(folder / "sub" / "story.jsonl")  # inside: read
    (folder / "sub" / "loop").symlink_to(folder)  # walked once
    os.mkfifo(folder / "pipe.jsonl")  # reading it would wait forever
    result = newsqa(tmp_path, "ingest", "archive")
    shown = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stderr
    assert f"skipped archive/passwd.txt: a link to {outside / 'secret.txt'}, outside the " \
           "folder (--follow-links reads it)" in shown, shown
    assert "skipped archive/elsewhere: a link to" in shown
    assert "skipped archive/pipe.jsonl: a FIFO (named pipe), not a file" in shown
    assert "added 1 articles" in shown and "unchanged 1" in shown and "skipped 3" in shown
    named = newsqa(tmp_path, "ingest", "archive/pipe.jsonl")
    assert named.returncode == 2 and "a FIFO (named pipe), not a file" in named.stdout
    followed = newsqa(tmp_path, "ingest", "archive", "--follow-links")
    assert followed.returncode == 0 and "added 2 articles" in " ".join(followed.stdout.split())


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ESCAPES = "\x1b]0;pwned\x07\x1b[2J"  # set the window title, clear the screen


def test_terminal_escapes_in_names_reasons_and_stored_fields_are_printed_escaped(
        tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / f"evil{ESCAPES}[bold]x.txt").write_text("x\n")  # rejected: no body
    jsonl(folder / "story.jsonl", STORY)
    ingested = newsqa(tmp_path, "ingest", "archive")
    assert ingested.returncode == 2 and not CONTROL.search(ingested.stdout + ingested.stderr)
    assert "rejected archive/evil\\x1b]0;pwned\\x07\\x1b[2J[bold]x.txt:1" in ingested.stdout
    # An index written before the readers took escapes out still holds them.
    with sqlite3.connect(tmp_path / "indexes" / "default" / "store.sqlite") as conn:
        conn.execute("UPDATE articles SET title = ?, source = ?",
                     (f"Footbridge{ESCAPES} approved", f"Ledger{ESCAPES}[/]"))
    for args in (["ask", "What will the footbridge cost?"], ["index", "info"]):
        result = newsqa(tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert not CONTROL.search(result.stdout + result.stderr), result.stdout
        assert "Ledger\\x1b]0;pwned\\x07\\x1b[2J[/]" in result.stdout, result.stdout
    missing = newsqa(tmp_path, "ask", "Why?", "--index-dir", f"gone{ESCAPES}[/]")
    assert missing.returncode == 1 and not CONTROL.search(missing.stderr)
    assert "/gone\\x1b]0;pwned\\x07\\x1b[2J[/]/default" in missing.stderr  # the full path


@contextlib.contextmanager
def mounted(folder: Path, options: str) -> Iterator[Path]:
    """A tmpfs at `folder` (root only): a small one to fill, or one remounted read-only."""
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs",
                                            str(folder)], capture_output=True).returncode:
        pytest.skip("needs root and tmpfs to make a full or read-only file system")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_full_disk_is_a_clear_error_and_nothing_committed_is_lost(tmp_path: Path) -> None:
    jsonl(tmp_path / "news.jsonl", *[{"url": f"https://b.example/{i}", "title": f"T{i}",
                                      "text": " ".join(f"Word{i} {j} council voted."
                                                       for j in range(60))}
                                     for i in range(400)])
    with mounted(tmp_path / "full", "size=600k") as full:
        for _ in range(2):  # the second finds the index the first left
            result = newsqa(tmp_path, "ingest", "news.jsonl", "--index-dir", str(full))
            message = " ".join(result.stderr.split())
            assert result.returncode == 1 and "no space left" in message.lower(), message
            assert "hint: free space" in message, message
        info = newsqa(tmp_path, "index", "info", "--json", "--index-dir", str(full))
        assert info.returncode == 0 and json.loads(info.stdout)["articles"] > 0
        doctor = newsqa(tmp_path, "index", "doctor", "--index-dir", str(full))
        assert doctor.returncode == 1 and "lags the store" in doctor.stdout


def test_a_read_only_index_answers_and_writing_it_is_a_clear_error(tmp_path: Path) -> None:
    jsonl(tmp_path / "news.jsonl", STORY, RACE)
    assert newsqa(tmp_path, "ingest", "news.jsonl").returncode == 0
    with mounted(tmp_path / "ro", "size=4m") as ro:
        shutil.copytree(tmp_path / "indexes" / "default", ro / "default")
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        for args in (["ask", "What will the footbridge cost?"], ["index", "info"],
                     ["index", "doctor"]):
            result = newsqa(tmp_path, *args, "--index-dir", str(ro))
            assert result.returncode == 0, (args, result.stderr)
        for args in (["ingest", "news.jsonl"], ["index", "doctor", "--repair"],
                     ["rm", "--id", "x"], ["ingest", "news.jsonl", "--index", "new"]):
            result = newsqa(tmp_path, *args, "--index-dir", str(ro))
            message = " ".join(result.stderr.split())
            assert result.returncode == 1 and "Read-only file system" in message, message
            assert "hint: make the folder writable" in message, message


def test_an_index_dir_that_is_a_file_an_uncreatable_path_or_a_long_name_is_refused(
        tmp_path: Path) -> None:
    jsonl(tmp_path / "news.jsonl", STORY)
    (tmp_path / "a-file").write_text("x")
    for where, expected in ((["--index-dir", "a-file"], "Not a directory"),
                            (["--index-dir", "a-file/sub"], "Not a directory"),
                            (["--index-dir", "/proc/newsqa"], "No such file or directory"),
                            (["--index", "x" * 300], "at most 100 bytes")):
        for args in (["ingest", "news.jsonl"], ["ask", "What will it cost?"],
                     ["index", "doctor", "--repair"]):
            result = newsqa(tmp_path, *args, *where)
            message = " ".join(result.stderr.split())
            assert result.returncode == 1 and "hint:" in message, (args, where, message)
            if args[0] == "ingest":
                assert expected in message, message


def test_doctor_during_a_live_ingest_says_an_ingest_is_running(tmp_path: Path) -> None:
    jsonl(tmp_path / "news.jsonl", STORY)
    assert newsqa(tmp_path, "ingest", "news.jsonl").returncode == 0
    jsonl(tmp_path / "more.jsonl", *[{"url": f"https://m.example/{i}", "text": f"Story {i} of "
                                      "the council's vote."} for i in range(96)])
    writer = start("ingest", "more.jsonl", cwd=tmp_path, **{DELAY: "1.0"})  # holds its lock
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            doctor = newsqa(tmp_path, "index", "doctor")
            if "an ingest (or another newsqa writer) is running" in doctor.stdout:
                break
            assert "lags the store" not in doctor.stdout, doctor.stdout
            time.sleep(0.3)
        else:
            raise AssertionError("doctor never saw the ingest")
        assert "a write stopped" not in doctor.stdout and "differ" not in doctor.stdout
    finally:
        writer.kill()
        writer.communicate()
