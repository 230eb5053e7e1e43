"""Small project-written fixtures, and the CLI run with the fakes of tests/fakes.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qa.app.context import use_models
from qa.core.settings import ChunkParams
from qa.store.index import EmbedderSpec, Index
from tests.fakes import FakeEmbedder, FakeGenerator, FakeModels

# pymilvus and Ray talk gRPC from background threads; its fork handlers would restart them in
# the child of a later fork (pexpect's), where they meet closed descriptors and can kill it.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

# The project's shared data, beside the repository (not shipped with it): tests that need it
# name the missing path when they skip.
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SEED_QUESTIONS = SHARED / "seed" / "questions.jsonl"


ARTICLES = [
    {"url": "https://harbor.example/2024/03/01/footbridge",
     "title": "Alder Bay approves footbridge",
     "published": "2024-03-01", "source": "Harbor Ledger", "authors": ["Mira Okafor"],
     "text": "The Alder Bay council voted 5-2 on Tuesday to build a footbridge over the Mill "
             "River. Construction is expected to cost $4.2 million.\n\nWork will begin in June, "
             "the council said. The bridge will link the ferry terminal to Dock Street."},
    {"url": "https://dispatch.example/2024/03/09/marathon", "title": "Riverton marathon winners",
     "published": "2024-03-09", "source": "Evening Dispatch", "authors": "Leo Brandt",
     "text": "Orlin Maddox won the Riverton Marathon on Sunday in 2 hours and 19 minutes. "
             "Sigrid Paulsen won the women's race.\n\nMore than 3,000 runners took part."},
    {"url": "https://courier.example/2024/04/02/footbridge-update",
     "title": "Footbridge work delayed", "published": "2024-04-02", "source": "Lakeside Courier",
     "text": "Work on the Alder Bay footbridge will now begin in August, two months later than "
             "planned, after a supplier missed a deadline. The cost is unchanged."},
]


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "archive.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    return path


@pytest.fixture
def index_path(tmp_path: Path) -> Path:
    return tmp_path / "indexes" / "test"


def open_index(path: Path, embedder: FakeEmbedder, write: bool = True) -> Index:
    return Index.open(path, EmbedderSpec(embedder.name, embedder.dim),
                      ChunkParams(max_words=30, overlap_sentences=1), create=write, write=write)


@pytest.fixture
def fake_models() -> Iterator[None]:
    """A test may install models (`use_models`, tests/fakes.py) for the commands it runs in
    this process; the ones installed before are back afterwards."""
    previous = use_models(None)
    yield
    use_models(previous)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_models: None) -> Path:
    """The real CLI with the fake embedder and generator, in an empty working folder."""
    generator = FakeGenerator({"bases": "Khmeimim", "Turkey": "Turkey"})
    use_models(FakeModels(FakeEmbedder, lambda path: generator))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSQA_MODEL", raising=False)
    monkeypatch.delenv("NEWSQA_INDEX_DIR", raising=False)
    return tmp_path


def run_newsqa(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `newsqa` command in `cwd`, free of the caller's NEWSQA_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose `indexes/default` holds the bundled sample, embedded by the real model."""
    cwd = tmp_path_factory.mktemp("sample")
    result = run_newsqa(cwd, "ingest", "--sample")
    assert result.returncode == 0, result.stderr
    return cwd


@pytest.fixture
def served_folder(tmp_path: Path, fake_models: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder whose `indexes/default` holds the bundled sample, embedded by the fakes
    (the server tests: tests/served.py)."""
    from typer.testing import CliRunner

    from qa.app.cli import app

    monkeypatch.chdir(tmp_path)
    for name in ("NEWSQA_MODEL", "NEWSQA_INDEX_DIR", "NEWSQA_API_KEY", "NEWSQA_LLM"):
        monkeypatch.delenv(name, raising=False)
    use_models(FakeModels(FakeEmbedder, lambda path: FakeGenerator()))
    result = CliRunner().invoke(app, ["ingest", "--sample"])
    assert result.exit_code == 0, result.output
    return tmp_path


@pytest.fixture
def service(served_folder: Path) -> Iterator[Any]:
    """A server's service over `served_folder`'s index with the fakes (tests/served.py)."""
    from tests.served import fake_service

    served = fake_service()
    yield served
    served.close()
