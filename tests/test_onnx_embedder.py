"""The default embedder: the bundled model exported to ONNX, checked against torch, cached."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.core.errors import NewsqaError
from qa.models.embedders import SentenceTransformerEmbedder, from_recipe
from qa.models.onnx import OnnxEmbedder, export_key, exported_model, max_length

TEXTS = [
    "The Alder Bay council voted on Tuesday to build a footbridge over the Mill River.",
    "Who won the Riverton Marathon?",
    "",
    # Past the model's 256-token limit: both runtimes must cut it at the same place.
    " ".join(["Storm damage closed the coastal road and two schools for a week."] * 40),
]


def _real() -> tuple[str, Path, int]:
    from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder

    return EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    name, folder, dim = _real()
    return SentenceTransformerEmbedder(name, folder, dim).embed(TEXTS)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _embedder(cache: Path, precision: str, exports: list[str] | None = None) -> OnnxEmbedder:
    name, folder, dim = _real()
    on_export = (lambda: exports.append(precision)) if exports is not None else None
    return OnnxEmbedder(name, folder, dim, cache, precision=precision, on_export=on_export)


@pytest.mark.models
def test_fp32_gives_torchs_vectors(cache: Path, torch_vectors: np.ndarray) -> None:
    vectors = _embedder(cache, "fp32").embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == torch_vectors.shape
    assert np.abs(vectors - torch_vectors).max() < 1e-4
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.models
def test_int8_is_close_to_torch_and_the_same_in_any_company(cache: Path,
                                                           torch_vectors: np.ndarray) -> None:
    embedder = _embedder(cache, "int8")
    together = embedder.embed(TEXTS)
    assert np.min(np.sum(together * torch_vectors, axis=1)) > 0.97
    alone = np.stack([embedder.embed([text])[0] for text in TEXTS])
    assert np.array_equal(alone, together)  # a text's vector does not depend on its batch
    export = json.loads(next(cache.glob("*/export.json")).read_text(encoding="utf-8"))
    assert export["min_probe_cosine"] > 0.95


@pytest.mark.models
def test_an_export_is_made_once_and_reused(cache: Path) -> None:
    first = _embedder(cache, "int8").embed(TEXTS[:1])  # exported here or by a test above
    exports: list[str] = []
    again = _embedder(cache, "int8", exports)
    assert np.array_equal(again.embed(TEXTS[:1]), first)
    assert exports == []
    assert from_recipe(again.recipe()).embed(TEXTS[:1]).tolist() == first.tolist()


@pytest.mark.models
def test_a_damaged_export_is_made_again(tmp_path: Path) -> None:
    exports: list[str] = []
    vectors = _embedder(tmp_path, "int8", exports).embed(TEXTS)
    model = next(tmp_path.glob("*/model.int8.onnx"))
    model.write_bytes(model.read_bytes()[:5000])  # cut short
    assert np.array_equal(_embedder(tmp_path, "int8", exports).embed(TEXTS), vectors)
    assert exports == ["int8", "int8"]
    assert not list(tmp_path.glob(".*"))  # no temporary folder left behind


def test_changed_weights_get_a_new_export(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"one")
    before = export_key(tmp_path, "int8")
    assert export_key(tmp_path, "fp32") != before
    (tmp_path / "model.safetensors").write_bytes(b"other")
    assert export_key(tmp_path, "int8") != before


def _folder(tmp_path: Path, pooling: str) -> Path:
    (tmp_path / "1_Pooling").mkdir(parents=True)
    (tmp_path / "modules.json").write_text(json.dumps([
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 8, f"pooling_mode_{pooling}": True}))
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    return tmp_path


def test_only_mean_pooled_models_are_run(tmp_path: Path) -> None:
    assert max_length(_folder(tmp_path / "mean", "mean_tokens")) == 128
    with pytest.raises(NewsqaError, match="not a mean-pooled"):
        max_length(_folder(tmp_path / "cls", "cls_token"))


def test_an_unknown_precision_and_an_unwritable_cache_are_errors(tmp_path: Path) -> None:
    with pytest.raises(NewsqaError, match="unknown precision"):
        exported_model(tmp_path, tmp_path / "cache", "int4")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NewsqaError, match="cannot write the embedder cache") as error:
        exported_model(tmp_path, blocker / "cache", "int8")
    assert "NEWSQA_CACHE_DIR" in (error.value.hint or "")


@pytest.mark.models
def test_ask_never_imports_torch(sample_dir: Path) -> None:
    """What keeps a cold `newsqa ask` quick: the export is cached by the ingest, and answering
    loads only ONNX Runtime and llama.cpp."""
    code = ("import sys, qa.app.cli\n"
            "try:\n"
            "    qa.app.cli.app(['ask', '--json', 'Which bases does Russia intend to keep?'])\n"
            "except SystemExit:\n"
            "    pass\n"
            "print([m for m in ('torch', 'sentence_transformers', 'transformers')"
            " if m in sys.modules])\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=sample_dir, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    answer, modules = result.stdout.strip().splitlines()
    assert json.loads(answer)["answerable"]
    assert modules == "[]"


@pytest.mark.models
def test_the_precision_is_measured_once_on_this_cpu(cache: Path) -> None:
    embedder = _embedder(cache, "int8")  # both exports made here or by the tests above
    assert embedder.measured_precision() is None
    choice = embedder.choose_precision()
    assert choice.precision in ("int8", "fp32")
    assert set(choice.chunks_per_s) == {"int8", "fp32"} and min(choice.chunks_per_s.values()) > 0
    assert "measured on this CPU" in choice.why
    assert embedder.measured_precision() == choice == _embedder(cache, "fp32").choose_precision()
