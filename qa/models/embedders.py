"""The embedder seam: text in, unit-length vectors out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.core.errors import NewsqaError


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of `dim` dimensions."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def offline() -> None:
    # Nothing may be fetched from a model hub: the weights come from an installed package.
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


class Rebuildable(Embedder, Protocol):
    """An embedder that can describe itself in plain values, to be rebuilt in another process
    (`from_recipe`)."""

    def recipe(self) -> dict[str, Any]: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, on the CPU."""

    def __init__(self, name: str, folder: Path, dim: int, batch_size: int = 32) -> None:
        self.name = name
        self.folder = folder
        self.dim = dim
        self.batch_size = batch_size
        self._model: Any = None

    def recipe(self) -> dict[str, Any]:
        """Plain values that rebuild this embedder elsewhere (a Ray worker)."""
        return {"kind": "torch", "name": self.name, "folder": str(self.folder), "dim": self.dim,
                "batch_size": self.batch_size}

    def _load(self) -> Any:
        if self._model is None:
            offline()
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:  # pragma: no cover - a broken install
                raise NewsqaError(
                    "sentence-transformers is not installed",
                    hint="pip install torch==2.13.0 && pip install .",
                ) from exc
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            self._model = SentenceTransformer(str(self.folder), device="cpu",
                                              local_files_only=True)
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._load().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def from_recipe(recipe: dict[str, Any]) -> Embedder:
    """The embedder an embedder's `recipe()` describes."""
    recipe = dict(recipe)
    kind, folder = recipe.pop("kind"), Path(recipe.pop("folder"))
    if kind == "onnx":
        from qa.models.onnx import OnnxEmbedder

        cache_dir = Path(recipe.pop("cache_dir"))
        return OnnxEmbedder(recipe.pop("name"), folder, recipe.pop("dim"), cache_dir, **recipe)
    return SentenceTransformerEmbedder(recipe.pop("name"), folder, recipe.pop("dim"), **recipe)
