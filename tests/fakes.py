"""The tests' deterministic models, and the `Models` that builds them for the CLI.

A test that runs a command installs fakes through the application's own seam
(`qa.app.context.use_models(FakeModels(...))`), never by patching a private function, so every
other line that runs is newsqa's own and no model is loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.app.context import Models, use_models
from qa.core.text import content_terms


class FakeEmbedder:
    """Bag of stemmed words hashed into 64 dimensions: texts that share words are close."""

    name = "fake/bag-of-words"
    dim = 64

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in content_terms(text):
                bucket = int(hashlib.md5(term.encode()).hexdigest(), 16) % self.dim
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


class SlowEmbedder(FakeEmbedder):
    """The fake embedder, sleeping `delay` seconds at each call (so a write lasts long enough
    to be interrupted at many different points)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.delay)
        return super().embed(texts)


class FakeGenerator:
    """Answers from a script: the first key found in the prompt's question line wins."""

    name = "fake.gguf"

    def __init__(self, script: dict[str, str] | None = None, default: str = "") -> None:
        self.script = script or {}
        self.default = default
        self.prompts: list[str] = []

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]) -> Iterator[str]:
        self.prompts.append(prompt)
        question = prompt.rsplit("Question:", 1)[-1]
        reply = next((v for k, v in self.script.items() if k in question), self.default)
        for word in reply.split(" "):
            yield word + " "


class FakeModels(Models):
    """Models for the CLI from the tests: `embedder()` makes the embedder, `generator(path)`
    the generator of a GGUF file (a `FakeGenerator` by default; None: llama.cpp's after all)."""

    def __init__(self, embedder: Callable[[], Any] = FakeEmbedder,
                 generator: Callable[[Path], Any] | None = lambda path: FakeGenerator()) -> None:
        self.make_embedder = embedder
        self.make_generator = generator

    def embedder(self, cache_dir: Path, on_export: Callable[[], None] | None = None) -> Any:
        return self.make_embedder()

    def generator(self, path: Path, threads: int | None = None) -> Any:
        if self.make_generator is None:
            return super().generator(path, threads)
        return self.make_generator(path)


@contextlib.contextmanager
def installed(models: Models) -> Iterator[Models]:
    """`models` build the models of the commands run inside (the ones before, after)."""
    previous = use_models(models)
    try:
        yield models
    finally:
        use_models(previous)
