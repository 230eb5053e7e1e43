"""Settings from flags, environment and the config file (qa/core/settings.py), in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.core.errors import NewsqaError
from qa.core.settings import (
    MAX_K,
    AskParams,
    Setting,
    check_k,
    config_file,
    fingerprint,
    load_config,
    resolve,
    setting,
)
from tests.conftest import run_newsqa


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("NEWSQA_CONFIG", "NEWSQA_MODEL", "NEWSQA_STORE", "NEWSQA_LLM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_flag_beats_environment_beats_config_file(clean_env: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert setting("store", None, "--store") is None
    folder = clean_env / "xdg" / "newsqa"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text('store = "milvus://from-config:19530"\n')
    assert config_file() == folder / "config.toml"
    chosen = setting("store", None, "--store")
    assert chosen is not None and chosen.value == "milvus://from-config:19530"
    assert "config.toml" in chosen.why
    # A newsqa.toml in the working folder comes before the user's config.
    (clean_env / "newsqa.toml").write_text('store = "faiss"\n')
    assert setting("store", None, "--store").value == "faiss"  # type: ignore[union-attr]
    monkeypatch.setenv("NEWSQA_STORE", "milvus://from-env:19530")
    assert setting("store", None, "--store").value == "milvus://from-env:19530"  # type: ignore[union-attr]
    assert setting("store", "milvus:x.db", "--store").value == "milvus:x.db"  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "message"), [
    ('store = "faiss"\nstores = "x"\n', "unknown setting 'stores'"),
    ("store = 3\n", "store must be a non-empty string"),
    ('store = "faiss\n', r"not valid TOML \(.*line 1"),
])
def test_a_bad_config_file_is_named_with_what_is_wrong(clean_env: Path, text: str,
                                                        message: str) -> None:
    path = clean_env / "newsqa.toml"
    path.write_text(text)
    with pytest.raises(NewsqaError, match=message) as caught:
        load_config(path)
    assert str(path) in caught.value.message


def test_the_config_file_picks_the_store_for_the_cli(tmp_path: Path) -> None:
    """The CLI reads newsqa.toml in its working folder, and a flag wins over it."""
    (tmp_path / "newsqa.toml").write_text('store = "milvus:no-suffix"\n')
    result = run_newsqa(tmp_path, "ingest", "--sample")
    assert result.returncode == 1 and "must end in .db" in result.stderr
    result = run_newsqa(tmp_path, "ingest", "--sample", "--store", "qdrant://x")
    assert result.returncode == 1 and "unknown vector store 'qdrant://x'" in result.stderr
    result = run_newsqa(tmp_path, "ask", "anything", "--model", "m.gguf", "--llm", "http://x")
    assert result.returncode == 1 and "not both" in result.stderr


def test_resolve_reads_flags_environment_and_config_file_once_for_a_command(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "newsqa.toml").write_text('llm = "http://from-config/v1"\nmodel = "c.gguf"\n')
    monkeypatch.setenv("NEWSQA_LLM_API_KEY", "s3cr3t-key")
    monkeypatch.setenv("NEWSQA_MILVUS_TOKEN", "milvus-t0ken")
    settings = resolve(k=7, generator=True)
    assert settings.llm.url == "http://from-config/v1" and settings.llm.api_key == "s3cr3t-key"
    assert settings.models.model is None  # a server answers: no GGUF is chosen
    assert settings.retrieval.k == 7 and settings.answering.retrieve.k == 7
    assert settings.store.milvus_token == "milvus-t0ken" and settings.store.vector_store is None
    assert "s3cr3t" not in repr(settings) and "t0ken" not in repr(settings)
    # A GGUF named on the command line answers, whatever the server settings say.
    settings = resolve(model=Path("m.gguf"), generator=True)
    assert settings.llm.url is None and settings.models.model == Setting("m.gguf", "--model")
    # A command that does not answer reads no server, but may ask which GGUF would answer.
    settings = resolve(gguf=True)
    assert settings.llm.url is None
    assert settings.models.model == Setting("c.gguf", f"model in {Path('newsqa.toml')}")
    # Only what a command uses is looked up: with the flags given, not even the config file.
    (clean_env / "newsqa.toml").write_text("not toml at all [")
    assert resolve(store="faiss").store.vector_store == Setting("faiss", "--store")
    assert resolve(model=Path("m.gguf"), store="faiss", generator=True).models.model is not None
    with pytest.raises(NewsqaError, match="not valid TOML"):
        resolve()
    with pytest.raises(NewsqaError, match="both name the model"):
        resolve(model=Path("m.gguf"), llm="http://x", generator=True)


def test_the_fingerprint_names_the_settings_that_shape_answers() -> None:
    one = AskParams()
    assert fingerprint(one) == fingerprint(AskParams())  # stable, in every process
    assert fingerprint(one) != fingerprint(one.with_k(6))
    assert fingerprint({"a": 1, "b": [one]}) == fingerprint({"b": [one], "a": 1})
    with pytest.raises(NewsqaError, match="--k must be between 1 and 100"):
        check_k(MAX_K + 1)
