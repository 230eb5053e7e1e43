"""The application context (qa/app/context.py), built from settings with the tests' fakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.answer.pipeline import ask
from qa.app.context import AppContext, installed_models, use_models
from qa.core.errors import NewsqaError
from qa.core.settings import Settings, StoreSettings
from qa.ingest.pipeline import ingest
from tests.conftest import open_index
from tests.fakes import FakeEmbedder, FakeGenerator, FakeModels


class _Fitted(FakeEmbedder):
    precision = "unset"


def test_a_context_opens_fits_and_answers_with_the_models_it_is_given(
        tmp_path: Path, archive: Path) -> None:
    generator = FakeGenerator({"cost": "$4.2 million"})
    settings = Settings(store=StoreSettings(index_dir=tmp_path / "indexes"))
    app = AppContext(settings, FakeModels(_Fitted, lambda path: generator))
    embedder = app.embedder()
    assert app.embedder() is embedder  # made once
    with pytest.raises(NewsqaError, match="no index"), app.open_index(embedder=embedder):
        pass
    with app.open_index(embedder=embedder, create=True, write=True, precision="fp32") as index:
        assert embedder.precision == "fp32"  # fitted to the new index's vectors
        assert index.vector_store is None  # the index's own FAISS file
        ingest([archive], index, embedder)
    with app.open_index(embedder=embedder, require_articles=True) as index:
        answer = ask("How much will the footbridge cost?", index=index, embedder=embedder,
                     generator=generator, params=settings.answering)
    assert answer.answerable and "$4.2 million" in answer.answer
    with (pytest.raises(NewsqaError, match="holds fp32 vectors"),
          app.open_index(embedder=embedder, create=True, write=True, precision="int8")):
        pass


def test_a_new_index_left_empty_is_not_kept_and_an_empty_one_answers_nothing(
        tmp_path: Path) -> None:
    app = AppContext(Settings(store=StoreSettings(index_dir=tmp_path / "made" / "here")),
                     FakeModels())
    with app.open_index(embedder=app.embedder(), create=True, write=True):
        pass  # nothing stored: a mistyped path leaves nothing behind
    assert not (tmp_path / "made").exists()
    with open_index(app.folder, FakeEmbedder()):
        pass  # an index made empty by an earlier version
    with (pytest.raises(NewsqaError, match="is empty") as caught,
          app.open_index(embedder=app.embedder(), require_articles=True)):
        pass
    assert "newsqa ingest PATH --index default" in (caught.value.hint or "")


def test_installed_models_are_what_a_new_context_uses(fake_models: None) -> None:
    fakes = FakeModels()
    use_models(fakes)
    assert installed_models() is fakes and AppContext(Settings()).models is fakes
    assert use_models(None) is fakes
    assert type(installed_models()) is not FakeModels
