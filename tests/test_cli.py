import json
import re
import subprocess
import sys
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import qa.core.interrupts
from qa.app.cli import app
from qa.app.context import use_models
from qa.core.interrupts import keep_lost, stop_if_interrupted
from qa.store.doctor import check
from qa.store.index import Index
from tests.fake_cli import story, write_archive
from tests.fakes import FakeEmbedder, FakeModels

runner = CliRunner()


def test_help_lists_the_commands_without_loading_models() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "ask", "models", "index"):
        assert command in result.output
    probe = "import qa.app.cli, sys; print(sorted(m for m in ('torch', 'sentence_transformers', " \
            "'llama_cpp', 'faiss') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_sample_ingest_then_ask(cli: Path) -> None:
    result = runner.invoke(app, ["ingest", "--sample"])
    assert result.exit_code == 0, result.output
    output = result.output.replace("\u00a0", " ")
    assert "24 articles" in output and "copies      1" in output
    again = runner.invoke(app, ["ingest", "--sample"]).output
    assert re.search(r"files read\s+0", again) and re.search(r"files unchanged\s+1", again)
    again = runner.invoke(app, ["ingest", "--sample", "--rescan"]).output
    assert re.search(r"files read\s+1", again) and re.search(r"\bunchanged\s+25", again)

    result = runner.invoke(app, ["ask", "Which bases does Russia intend to keep?"])
    assert result.exit_code == 0, result.output
    assert "Tartus" in result.output and "Khmeimim" in result.output
    assert "Sources" in result.output and "[1]" in result.output

    result = runner.invoke(app, ["ask", "--json", "Which bases does Russia intend to keep?"])
    answer = json.loads(result.stdout)
    assert answer["answerable"] and "Khmeimim" in answer["answer"]
    assert answer["citations"][0]["source"] in {"Meridian Post", "Harbor Ledger",
                                                "Lakeside Courier", "Evening Dispatch",
                                                "Northgate Wire"}

    refused = runner.invoke(app, ["ask", "--json", "--until", "2024-11-30",
                                  "Which bases does Russia intend to keep?"])
    assert json.loads(refused.stdout)["answerable"] is False  # nothing on Syria before Dec.

    info = runner.invoke(app, ["index", "info", "--json"])
    details = json.loads(info.stdout)
    assert details["articles"] == 24 and len(details["outlets"]) == 5


def test_ingest_reports_rejections_with_file_and_line(cli: Path) -> None:
    bad = cli / "bad.jsonl"
    bad.write_text('{"text": "A fine article about a ferry."}\n{oops\n', encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(bad)])
    assert result.exit_code == 2
    assert "added       1" in result.output.replace("\u00a0", " ")
    assert f"{bad}:2" in result.output.replace("\n", "")


def test_clear_errors(cli: Path) -> None:
    result = runner.invoke(app, ["ask", "anything"])
    assert result.exit_code == 1 and "no index at" in result.stderr
    runner.invoke(app, ["ingest", "--sample"])
    result = runner.invoke(app, ["ask", "--since", "yesterday-ish", "anything"])
    assert result.exit_code == 1 and "--since 'yesterday-ish' is not a date" in result.stderr
    not_gguf = cli / "fake.gguf"
    not_gguf.write_text("hello", encoding="utf-8")
    result = runner.invoke(app, ["ask", "--model", str(not_gguf), "anything"])
    assert result.exit_code == 1 and "is not a GGUF model file" in result.stderr
    assert "Traceback" not in result.output


def test_models_prefers_a_gguf_in_models_dir(cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (cli / "models").mkdir()
    (cli / "models" / "mine.gguf").write_bytes(b"GGUF" + b"\0" * 16)
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "* mine.gguf" in result.output
    monkeypatch.setenv("NEWSQA_MODEL", str(cli / "models" / "mine.gguf"))
    assert "NEWSQA_MODEL" in runner.invoke(app, ["models"]).output


def test_doctor_and_rm(cli: Path) -> None:
    runner.invoke(app, ["ingest", "--sample"])
    result = runner.invoke(app, ["index", "doctor"])
    assert result.exit_code == 0 and "sound" in result.output
    (cli / "indexes" / "default" / "vectors.faiss").unlink()
    result = runner.invoke(app, ["index", "doctor"])
    assert result.exit_code == 1 and "vectors.faiss is missing" in result.output
    result = runner.invoke(app, ["index", "doctor", "--repair"])
    assert result.exit_code == 0 and "repaired" in result.output
    assert "sound" in runner.invoke(app, ["index", "doctor"]).output
    result = runner.invoke(app, ["rm", "--source", "harbor ledger"])
    # Its four articles and its copy of a Northgate Wire story, which stays with Northgate.
    assert result.exit_code == 0 and "removed 5 articles" in result.output
    info = json.loads(runner.invoke(app, ["index", "info", "--json"]).stdout)
    assert info["articles"] == 20 and "Harbor Ledger" not in info["outlets"]
    assert info["copies"] == 0 and info["outlets"]["Northgate Wire"] == 5
    assert runner.invoke(app, ["rm"]).exit_code == 1
    missing = runner.invoke(app, ["rm", "--source", "harbor ledger"])
    assert missing.exit_code == 1 and "no stored article" in missing.stderr


def test_rm_promotes_a_copy_through_the_cli(cli: Path) -> None:
    assert "copies" in runner.invoke(app, ["ingest", "--sample"]).output
    result = runner.invoke(app, ["rm", "--source", "northgate wire"])
    assert result.exit_code == 0, result.output
    assert "removed 5 articles (1 replaced by a copy from another outlet)" in result.output
    info = json.loads(runner.invoke(app, ["index", "info", "--json"]).stdout)
    assert info["articles"] == 20 and info["outlets"]["Harbor Ledger"] == 5
    assert info["copies"] == 0
    assert "sound" in runner.invoke(app, ["index", "doctor"]).output


def test_field_mapping_for_other_exports(cli: Path) -> None:
    export = cli / "export.jsonl"
    export.write_text(json.dumps({"article_body": "The Riverton ferry adds two sailings.",
                                  "headline": "Ferry adds sailings", "site": "Courier"}) + "\n",
                      encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(export), "--field", "text=article_body",
                                 "--field", "title=headline", "--field", "source=site"])
    assert result.exit_code == 0, result.output
    info = json.loads(runner.invoke(app, ["index", "info", "--json"]).stdout)
    assert info["outlets"] == {"Courier": 1}
    bad = runner.invoke(app, ["ingest", str(export), "--field", "body"])
    assert bad.exit_code == 1 and "FIELD=COLUMN" in bad.stderr


def test_bare_newsqa_prints_help_when_not_on_a_terminal(cli: Path) -> None:
    result = runner.invoke(app, [])
    assert result.exit_code == 0
    assert "repl" in result.output and "ingest" in result.output


def test_ctrl_c_inside_a_lazy_import_is_an_interruption(cli: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted_import() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    use_models(FakeModels(interrupted_import))
    result = runner.invoke(app, ["ingest", "--sample"])
    assert result.exit_code == 130 and "interrupted" in result.stderr
    use_models(FakeModels(lambda: (_ for _ in ()).throw(ImportError("no such module"))))
    assert isinstance(runner.invoke(app, ["ingest", "--sample"]).exception, ImportError)


class _SwallowedInterrupt(FakeEmbedder):
    """Ctrl-C landing in a callback Python runs for itself, as it did in CI when the key came
    while an import was finishing: the KeyboardInterrupt is raised inside a weakref's callback,
    where Python can only report it as "Exception ignored". It happens during the first batch."""

    calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        type(self).calls += 1
        if type(self).calls == 1:
            def callback(_ref: object) -> None:
                raise KeyboardInterrupt

            target = FakeEmbedder()
            ref = weakref.ref(target, callback)
            del target
            assert ref() is None
        return super().embed(texts)


def test_ctrl_c_that_python_cannot_raise_still_stops_the_command(
        cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The swallowed Ctrl-C is kept and raised at the next checkpoint: the ingest stops after
    the batch it was in, says it was interrupted, exits 130, and prints no traceback."""
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored afterwards
    keep_lost()
    use_models(FakeModels(_SwallowedInterrupt))
    archive = write_archive(cli / "archive.jsonl", [story(n) for n in range(64)])
    result = runner.invoke(app, ["ingest", str(archive)])
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert "Exception ignored" not in result.output and "Traceback" not in result.output
    with Index.open(cli / "indexes" / "default", None) as store:
        # the first batch, committed before the checkpoint; its vectors saved
        assert store.counts()["articles"] == 32
        assert check(store).problems == []
    result = runner.invoke(app, ["ingest", str(archive)])
    assert result.exit_code == 0, result.output
    with Index.open(cli / "indexes" / "default", None) as store:
        assert store.counts()["articles"] == 64


def test_other_unraisable_errors_still_reach_the_previous_hook(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[type[BaseException]] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_type))
    keep_lost()
    keep_lost()  # a second install changes nothing
    for error in (KeyboardInterrupt, ValueError):
        def callback(_ref: object, error: type[BaseException] = error) -> None:
            raise error

        target = FakeEmbedder()
        ref = weakref.ref(target, callback)
        del target
        assert ref() is None
    assert seen == [ValueError]
    assert qa.core.interrupts._lost.is_set()
    with pytest.raises(KeyboardInterrupt):
        stop_if_interrupted()
    stop_if_interrupted()  # raised once, then cleared


class _PrecisionFake(FakeEmbedder):
    """The fake embedder, noting the precision the CLI sets before it embeds."""

    made: list["_PrecisionFake"] = []

    def __init__(self) -> None:
        super().__init__()
        self.precision = "unset"
        self.made.append(self)


def test_an_index_keeps_the_precision_it_was_made_with(cli: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    use_models(FakeModels(_PrecisionFake))
    _PrecisionFake.made.clear()

    def manifest(name: str) -> dict:  # type: ignore[type-arg]
        return json.loads((cli / "indexes" / name / "manifest.json").read_text())  # type: ignore[no-any-return]

    assert runner.invoke(app, ["ingest", "--sample"]).exit_code == 0
    assert manifest("default")["embedder"]["precision"] == "int8"
    assert runner.invoke(app, ["ingest", "--sample", "--precision", "fp32", "--index", "exact"]
                         ).exit_code == 0
    assert manifest("exact")["embedder"]["precision"] == "fp32"
    assert [e.precision for e in _PrecisionFake.made] == ["int8", "fp32"]

    result = runner.invoke(app, ["ask", "--json", "--index", "exact",
                                 "Which bases does Russia intend to keep?"])
    assert result.exit_code == 0, result.output
    assert _PrecisionFake.made[-1].precision == "fp32"  # questions are embedded alike

    result = runner.invoke(app, ["ingest", "--sample", "--precision", "int8", "--index", "exact"])
    assert result.exit_code == 1
    assert "holds fp32 vectors" in result.output and "drop --precision" in result.output
    result = runner.invoke(app, ["ingest", "--sample", "--precision", "int4"])
    assert result.exit_code == 1 and "not int8 or fp32" in result.output
    assert manifest("exact")["embedder"]["precision"] == "fp32"


def test_ctrl_c_while_the_command_loads_exits_130_without_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Python 3.11 wraps a KeyboardInterrupt raised while a class is made (a dataclass field's
    `__set_name__`, during an import) in a RuntimeError: the entry point still reads it as
    Ctrl-C, before anything was done."""
    import builtins

    import qa.__main__ as entry
    from qa.core.interrupts import caused_by_interrupt

    class Interrupted:
        def __set_name__(self, owner: type, name: str) -> None:
            raise KeyboardInterrupt

    try:
        type("Made", (), {"field": Interrupted()})
    except BaseException as exc:  # a RuntimeError on 3.11, the KeyboardInterrupt itself later
        wrapped = exc
    assert caused_by_interrupt(wrapped)
    assert not caused_by_interrupt(RuntimeError("a real failure"))

    real_import = builtins.__import__

    def interrupted_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "qa.app.cli":
            raise wrapped
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    monkeypatch.setattr(builtins, "__import__", interrupted_import)
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 130
    assert "Traceback" not in capsys.readouterr().err
