"""The command line's settings (part of the CLI layer: the one place below `qa/app/cli.py` that
reads environment variables and files of settings, called only by it).

Settings a user gives once: which model answers, where vectors live, which server generates.

Each setting is taken from the first of: its command-line flag, its environment variable, the
config file, then (for the vector store) what the index's manifest recorded when it was last
written. The config file is TOML: `$NEWSQA_CONFIG`, else `newsqa.toml` in the working folder,
else `$XDG_CONFIG_HOME/newsqa/config.toml` (`~/.config/newsqa/config.toml`):

    model = "models/qwen2.5-1.5b-instruct-q4_k_m.gguf"   # a GGUF file to answer with
    store = "milvus://milvus.internal:19530"              # faiss (default) or a Milvus URI
    llm = "http://llm.internal:8080/v1"                   # an OpenAI-compatible server
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from qa.core.errors import NewsqaError
from qa.store.vectors.base import VectorBackend

KEYS = {"model": "NEWSQA_MODEL", "store": "NEWSQA_STORE", "llm": "NEWSQA_LLM"}
FAISS = "faiss"


@dataclass(frozen=True)
class Setting:
    value: str
    why: str  # where it came from, for messages and `index info`


def config_file() -> Path | None:
    named = os.environ.get("NEWSQA_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise NewsqaError(f"NEWSQA_CONFIG names {path}, which is not a file",
                              hint="point it at a TOML file, or unset it")
        return path
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    for path in (Path("newsqa.toml"), home / "newsqa" / "config.toml"):
        if path.is_file():
            return path
    return None


def load_config(path: Path | None) -> dict[str, str]:
    """The settings in a config file, checked: a mistake names the file and line."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise NewsqaError(f"cannot read the config file {path} ({exc})",
                          hint="fix or remove it") from exc
    except tomllib.TOMLDecodeError as exc:
        raise NewsqaError(f"{path}: not valid TOML ({exc})",
                          hint='write settings as key = "value", one a line') from exc
    for key, value in data.items():
        if key not in KEYS:
            raise NewsqaError(f"{path}: unknown setting {key!r}",
                              hint="the settings are " + ", ".join(KEYS))
        if not isinstance(value, str) or not value.strip():
            raise NewsqaError(f"{path}: {key} must be a non-empty string",
                              hint=f'e.g. {key} = "..."')
    return {k: v.strip() for k, v in data.items()}


def cache_dir() -> Path:
    """Where exported models are kept: $NEWSQA_CACHE_DIR, else $XDG_CACHE_HOME/newsqa, else
    ~/.cache/newsqa."""
    named = os.environ.get("NEWSQA_CACHE_DIR")
    if named:
        return Path(named).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsqa"


def llm_api_key() -> str | None:
    return os.environ.get("NEWSQA_LLM_API_KEY") or None


def setting(key: str, flag: str | None, flag_name: str) -> Setting | None:
    """`key` from its flag, its environment variable, or the config file, else None."""
    if flag:
        return Setting(flag, flag_name)
    env = os.environ.get(KEYS[key])
    if env:
        return Setting(env, KEYS[key])
    path = config_file()
    value = load_config(path).get(key)
    return Setting(value, f"{key} in {path}") if value else None


def vector_store(uri: str, index_name: str) -> VectorBackend | None:
    """The vector store a URI names, or None for the index's own FAISS file (a Milvus server's
    token from NEWSQA_MILVUS_TOKEN)."""
    if uri.strip().lower() == FAISS:
        return None
    if uri.startswith("milvus"):
        from qa.store.vectors.milvus import MilvusVectors

        return MilvusVectors.from_uri(uri, index_name, os.environ.get("NEWSQA_MILVUS_TOKEN", ""))
    raise NewsqaError(f"unknown vector store {uri!r}",
                      hint="use faiss, milvus:///path/to/file.db (Milvus Lite) or "
                           "milvus://host:19530 (a Milvus server)")
