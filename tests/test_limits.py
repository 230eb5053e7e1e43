"""Resource limits, through the command line as a user meets them: a question of 100,000
characters, an empty one, `--k` far out of range, and model files that are not working GGUF
models. Each stops with one message and a hint, quickly, and without loading a model.

Already covered elsewhere and not repeated here: the same checks inside `ask()` (test_answer:
test_bad_questions_and_k_are_clear_errors), `eval --k` out of range (test_eval), and a text file
passed as `--model` (test_cli: test_clear_errors).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME
from qa.store.index import EmbedderSpec, Index
from tests.conftest import ARTICLES
from tests.fake_cli import REAL_GENERATOR, command, environment, write_archive

# The real CLI: reports what it printed and which heavy modules the process had loaded.
_REAL_CLI = r"""
import json, sys
from qa.app.cli import main
sys.argv = ["newsqa", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = [m for m in ("torch", "sentence_transformers", "llama_cpp") if m in sys.modules]
sys.stderr.write("\n" + json.dumps({"code": code, "loaded": heavy}) + "\n")
"""


@pytest.fixture(scope="module")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (empty) index made for the default embedder, so the real CLI gets past opening it."""
    folder = tmp_path_factory.mktemp("real")
    Index.open(folder / "indexes" / "default", EmbedderSpec(EMBEDDER_NAME, EMBEDDER_DIM),
               create=True, write=True).close()
    return folder


@pytest.mark.parametrize(("args", "message"), [
    (["ask", "Why? " * 19_999 + "Why??"],  # 100,000 characters
     "the question is 100,000 characters long (at most 2,000)"),
    (["ask", ""], "the question is empty"),
    (["ask", " \n\t "], "the question is empty"),
    (["ask", "--k", "10000", "Who won?"], "--k must be between 1 and 100"),
    (["ask", "--k", "0", "Who won?"], "--k must be between 1 and 100"),
    (["ask", "--k", "-5", "Who won?"], "--k must be between 1 and 100"),
], ids=["100000 characters", "empty", "blank", "k 10000", "k 0", "k -5"])
def test_requests_out_of_bounds_stop_at_once_without_loading_a_model(
        real_index: Path, args: list[str], message: str) -> None:
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _REAL_CLI, *args], cwd=real_index,
                          env=environment(), capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - began
    *printed, last = done.stderr.rstrip("\n").split("\n")
    outcome = json.loads(last)
    said = " ".join(" ".join(printed).split())
    assert outcome["code"] == 1 and message in said, done.stderr[-500:]
    assert said.startswith("error:") and "hint:" in said and "Traceback" not in done.stderr
    assert outcome["loaded"] == []  # neither the embedder nor llama.cpp was loaded
    assert elapsed < 20, elapsed


@pytest.fixture(scope="module")
def fake_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fake")
    archive = write_archive(folder / "archive.jsonl", ARTICLES)
    done = subprocess.run(command("ingest", str(archive)), cwd=folder, env=environment(),
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return folder


def _broken_models(folder: Path) -> dict[str, tuple[Path, str]]:
    (folder / "folder.gguf").mkdir(exist_ok=True)
    (folder / "empty.gguf").write_bytes(b"")
    (folder / "cut.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x07" * 64)
    (folder / "huge-count.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 16)
    return {
        "missing": (folder / "nowhere.gguf", "does not exist"),
        "a folder": (folder / "folder.gguf", "does not exist"),
        "empty": (folder / "empty.gguf", "is not a GGUF model file"),
        "cut after its header": (folder / "cut.gguf", "llama.cpp could not load"),
        "absurd tensor count": (folder / "huge-count.gguf", "llama.cpp could not load"),
    }


@pytest.mark.parametrize("case", ["missing", "a folder", "empty", "cut after its header",
                                  "absurd tensor count"])
def test_a_model_file_that_is_not_a_working_gguf(fake_index: Path, case: str) -> None:
    """The real llama.cpp loader (in its own process: a crash there would end only it)."""
    path, message = _broken_models(fake_index)[case]
    done = subprocess.run(command("ask", "--model", str(path), "How much will the footbridge "
                                  "cost?"), cwd=fake_index, env=environment(
                                      **{REAL_GENERATOR: "1"}),
                          capture_output=True, text=True, timeout=120)
    said = " ".join(done.stderr.split())
    assert done.returncode == 1 and message in said, done.stderr[-800:]
    assert "hint:" in said and "Traceback" not in done.stderr
