"""The application context: what a command runs with, built once from its settings.

`AppContext` turns resolved settings (qa/core/settings.py) into the things the library works
on: the index (opened to read or write, its vectors searched where the settings say), the
embedder (fitted to the precision of the index's own vectors), and the generator that answers.
The CLI and the REPL take one; so can any other front end.

Models are built through `Models`, the one seam for them: tests install deterministic fakes
with `use_models` (as simonw/llm registers its fakes through its plugin seam), so that every
other line that runs is newsqa's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.core.errors import NewsqaError
from qa.core.settings import FAISS, Settings

if TYPE_CHECKING:
    from qa.models.catalog import ModelChoice
    from qa.models.embedders import Embedder, Rebuildable
    from qa.models.generators import Generator
    from qa.store.index import EmbedderSpec, Index
    from qa.store.vectors.base import VectorBackend


class Models:
    """Builds the models newsqa runs: the ONNX embedder, a GGUF run here, a server."""

    def embedder(self, cache_dir: Path,
                 on_export: Callable[[], None] | None = None) -> Rebuildable:
        from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder
        from qa.models.onnx import OnnxEmbedder

        return OnnxEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM, cache_dir,
                            on_export=on_export)

    def generator(self, path: Path, threads: int | None = None) -> Generator:
        from qa.models.generators import LlamaGenerator

        return LlamaGenerator(path, n_threads=threads)

    def server(self, url: str, api_key: str | None) -> Generator:
        from qa.models.http import HttpGenerator

        return HttpGenerator(url, api_key=api_key)


_installed: list[Models] = [Models()]


def use_models(models: Models | None) -> Models:
    """Build every later context's models with `models` (None: newsqa's own again), and return
    the models installed before. For tests and tools that bring their own models; a command
    takes the models installed when it runs."""
    previous, _installed[0] = _installed[0], models if models is not None else Models()
    return previous


def installed_models() -> Models:
    return _installed[0]


def vector_store(uri: str, index_name: str, token: str = "") -> VectorBackend | None:
    """The vector store a URI names, or None for the index's own FAISS file (`token`: a Milvus
    server's)."""
    if uri.strip().lower() == FAISS:
        return None
    if uri.startswith("milvus"):
        from qa.store.vectors.milvus import MilvusVectors

        return MilvusVectors.from_uri(uri, index_name, token)
    raise NewsqaError(f"unknown vector store {uri!r}",
                      hint="use faiss, milvus:///path/to/file.db (Milvus Lite) or "
                           "milvus://host:19530 (a Milvus server)")


class AppContext:
    """The index, embedder and generator of one command, built from `settings` by `models`."""

    def __init__(self, settings: Settings, models: Models | None = None, *,
                 on_export: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.models = models or installed_models()
        self.on_export = on_export  # told when the embedder is prepared for ONNX Runtime
        self._embedder: Rebuildable | None = None

    @property
    def folder(self) -> Path:
        from qa.store.index import index_folder

        return index_folder(self.settings.store.index_dir, self.settings.store.index)

    # --- models -----------------------------------------------------------------------------

    def embedder(self) -> Rebuildable:
        """The embedder (made once; a Ray worker can make it again from its recipe);
        `open_index` fits it to an index's precision."""
        if self._embedder is None:
            self._embedder = self.models.embedder(self.settings.models.cache_dir, self.on_export)
        return self._embedder

    def model_choice(self) -> ModelChoice:
        """The GGUF file that answers here, and why that one."""
        from qa.models.catalog import resolve_generator

        chosen, models = self.settings.models.model, self.settings.models
        if chosen is not None:
            return resolve_generator(Path(chosen.value).expanduser(), chosen.why,
                                     models.models_dir)
        return resolve_generator(None, "", models.models_dir, models.cache_dir)

    def generator(self) -> tuple[Generator, str]:
        """The generator and its name: the server the settings name, else a GGUF run here."""
        llm = self.settings.llm
        if llm.url is not None:
            return self.models.server(llm.url, llm.api_key), llm.url
        choice = self.model_choice()
        return self.models.generator(choice.path, llm.threads), choice.path.name

    def load_generator(self, path: Path) -> Generator:
        """A GGUF file made the generator (the REPL's /model)."""
        return self.models.generator(path, self.settings.llm.threads)

    # --- the index --------------------------------------------------------------------------

    @contextlib.contextmanager
    def open_index(self, *, embedder: Embedder | None = None, write: bool = False,
                   create: bool = False, precision: str | None = None,
                   require_articles: bool = False) -> Iterator[Index]:
        """The index the settings name, its vectors searched where they say. With `embedder`,
        the index must have been made by it, and it embeds at the index's precision from then
        on. With `create`, a missing index is made (`precision`, int8 by default, is what its
        vectors are; an existing index must hold it), and removed again, with the folders made
        for it, if it is left empty: a mistyped path would make one that refuses every
        question."""
        from qa.store.index import EmbedderSpec, Index

        folder = self.folder
        new = create and not Index.exists(folder)
        spec = None if embedder is None else EmbedderSpec(
            embedder.name, embedder.dim, (precision or "int8") if create else "fp32")
        if spec is not None and new:
            spec = new_precision(embedder, precision, spec)
        made = [p for p in (folder, *folder.parents) if not p.exists()]
        # A new index is chunked as the settings say; an existing one keeps its own chunking.
        with Index.open(folder, spec, self.settings.chunking if create else None,
                        create=create, write=write) as index:
            if require_articles:
                self.require_articles(index)
            if precision is not None and precision != index.precision:
                raise NewsqaError(f"the index at {index.path} holds {index.precision} vectors",
                                  hint="drop --precision, or ingest into a new --index")
            if embedder is not None:
                fit(embedder, index)
            self.attach_vectors(index)
            yield index
            if new and not index.counts()["articles"]:
                index.discard()
                for made_folder in made:
                    with contextlib.suppress(OSError):
                        made_folder.rmdir()

    def fitted_embedder(self, index: Index) -> Embedder:
        """The embedder, checked against an open index and fitted to its precision."""
        from qa.store.index import EmbedderSpec

        embedder = self.embedder()
        index.check_embedder(EmbedderSpec(embedder.name, embedder.dim))
        fit(embedder, index)
        return embedder

    def attach_vectors(self, index: Index) -> None:
        """Search the vector store the settings chose, else the one the index used last."""
        chosen = self.settings.store.vector_store
        uri = chosen.value if chosen else index.manifest.get("vector_store", FAISS)
        index.attach(vector_store(str(uri), index.path.name, self.settings.store.milvus_token))

    @staticmethod
    def require_articles(index: Index) -> None:
        """A question to an empty index is a mistake to say, not a refusal to give."""
        if not index.counts()["articles"]:
            raise NewsqaError(
                f"the index at {index.path.absolute()} is empty: it holds no articles",
                hint=f"add some with `newsqa ingest PATH --index {index.path.name}`")


def new_precision(embedder: Any, precision: str | None, spec: EmbedderSpec) -> EmbedderSpec:
    """What a new index's vectors are computed at: `precision` if given, else what this CPU
    measured fastest (an embedder that can measure it; int8 otherwise)."""
    from dataclasses import replace

    if precision is not None:
        return replace(spec, precision=precision, why="chosen with --precision")
    choose = getattr(embedder, "choose_precision", None)
    if choose is None:
        return spec
    choice = choose()
    return replace(spec, precision=choice.precision, why=choice.why)


def fit(embedder: Any, index: Index) -> None:
    """Embed at the precision of the index's own vectors (questions too), so they never mix."""
    if hasattr(embedder, "precision"):
        embedder.precision = index.precision
