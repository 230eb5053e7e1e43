"""Settings: one typed tree of what shapes newsqa's work, where each value comes from, and the
fingerprint that names a set of them.

The tree (`Settings`) holds frozen dataclasses, one for each concern: chunking, retrieval,
evidence and answering (the parameters of the pipeline), and the models, store and llm
(what runs, and where). Lower layers receive these values; they never look anything up.

`resolve` is the one place that reads environment variables and the config file, and only the
CLI layer (qa/app) calls it. A setting is taken from the first of: its command-line flag, its
environment variable, the config file, then (for the vector store) what the index's manifest
recorded when it was last written (applied when the index is opened, qa/app/context.py). The
config file is TOML: `$NEWSQA_CONFIG`, else `newsqa.toml` in the working folder, else
`$XDG_CONFIG_HOME/newsqa/config.toml` (`~/.config/newsqa/config.toml`):

    model = "models/qwen2.5-1.5b-instruct-q4_k_m.gguf"   # a GGUF file to answer with
    store = "milvus://milvus.internal:19530"              # faiss (default) or a Milvus URI
    llm = "http://llm.internal:8080/v1"                   # an OpenAI-compatible server
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qa.core.errors import NewsqaError
from qa.core.records import Filters

# --- the pipeline's parameters ----------------------------------------------------------------


@dataclass(frozen=True)
class ChunkParams:
    """What shapes the chunks; recorded in the index manifest."""

    max_words: int = 160  # words in a chunk at most (a longer sentence is cut at whitespace)
    overlap_sentences: int = 1  # sentences a chunk repeats from the end of the one before

    def as_dict(self) -> dict[str, int]:
        return {"max_words": self.max_words, "overlap_sentences": self.overlap_sentences}


@dataclass(frozen=True)
class RetrieveParams:
    """What shapes retrieval (qa/search/retrieve.py)."""

    k: int = 5  # distinct articles returned
    candidates: int = 50  # chunks taken from each ranker before fusion
    rrf_k: int = 60  # reciprocal-rank-fusion damping constant
    chunks_per_article: int = 2  # chunks of one article kept at most
    dense_weight: float = 1.0  # weight of the embedding ranking in the fusion
    lexical_weight: float = 1.0  # weight of the BM25 ranking in the fusion
    # News is about what is recent: with an end date (--until/--as-of), an article published
    # `recency_half_life` days before it gets half of `recency_weight` rank-1 RRF scores extra.
    recency_weight: float = 1.5
    recency_half_life: float = 7.0


@dataclass(frozen=True)
class EvidenceParams:
    """What shapes the evidence the generator is shown (qa/answer/evidence.py)."""

    sentences: int = 6  # how many sentences the generator sees (6 measured better than 4)
    articles: int = 5  # drawn from the chunks of this many top articles
    lexical_weight: float = 0.3  # weight of the share of question words a sentence contains
    # weight of the article's retrieval rank (0.2 measured better than 0.1 once retrieval put
    # the gold article first more often; docs/benchmarks.md)
    rank_weight: float = 0.2
    min_words: int = 4  # a shorter sentence is never evidence
    max_overlap: float = 0.6  # a sentence this similar in words to a chosen one is a repeat


MAX_K = 100  # articles a question may retrieve at most


def check_k(k: int) -> int:
    """`k` if it is a number of articles a question may retrieve; else the error that says so
    (the one check, for every command and the REPL)."""
    if not 1 <= k <= MAX_K:
        raise NewsqaError(f"--k must be between 1 and {MAX_K}", hint="try --k 5")
    return k


@dataclass(frozen=True)
class AskParams:
    """What shapes an answer (qa/answer/pipeline.py): retrieval, evidence and generation."""

    retrieve: RetrieveParams = field(default_factory=RetrieveParams)  # which passages
    evidence: EvidenceParams = field(default_factory=EvidenceParams)  # which of their sentences
    max_tokens: int = 48  # tokens a draft answer may run to
    # When a draft fails verification, try again from the best 1, then 2 sentences alone: a tiny
    # model distracted by a wrong sentence often answers right from the right one.
    retries: int = 2
    # When every draft fails and the question names the kind of answer it wants, the best
    # ranked spans of that kind tried in turn (qa/answer/candidates.py).
    candidate_tries: int = 2

    def with_k(self, k: int) -> AskParams:
        """The same parameters, retrieving `k` articles."""
        return replace(self, retrieve=replace(self.retrieve, k=k))


# --- what runs, and where ---------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    value: str
    why: str  # where it came from, for messages and `index info`


@dataclass(frozen=True)
class ModelSettings:
    """Which models run here."""

    models_dir: Path = Path("models")  # folder of the user's GGUF files (--models-dir)
    model: Setting | None = None  # a GGUF file chosen by --model, NEWSQA_MODEL or the config
    cache_dir: Path = Path(".cache/newsqa")  # where exported models are kept


@dataclass(frozen=True)
class LlmSettings:
    """An OpenAI-compatible server that answers instead of a GGUF run here."""

    url: str | None = None  # --llm, NEWSQA_LLM or the config file; None: a GGUF run here
    api_key: str | None = field(default=None, repr=False)  # NEWSQA_LLM_API_KEY
    # llama.cpp threads for a GGUF run here: NEWSQA_LLM_THREADS, else None: as many as the CPUs
    # free of other work before each prompt (qa/models/cpus.py)
    threads: int | None = None


@dataclass(frozen=True)
class StoreSettings:
    """Which index, and where its vectors are searched."""

    index: str = "default"  # the index's name, a folder in `index_dir`
    index_dir: Path = Path("indexes")  # the folder of indexes (--index-dir, NEWSQA_INDEX_DIR)
    vector_store: Setting | None = None  # --store, NEWSQA_STORE or the config; None: the manifest's
    milvus_token: str = field(default="", repr=False)  # NEWSQA_MILVUS_TOKEN


@dataclass(frozen=True)
class Settings:
    """Everything a command runs with, resolved once (`resolve`)."""

    answering: AskParams = field(default_factory=AskParams)  # retrieval, evidence, generation
    chunking: ChunkParams = field(default_factory=ChunkParams)  # of a new index
    models: ModelSettings = field(default_factory=ModelSettings)  # which models run here
    llm: LlmSettings = field(default_factory=LlmSettings)  # or a server that answers
    store: StoreSettings = field(default_factory=StoreSettings)  # the index and its vectors
    history: Path = Path(".local/state/newsqa/history")  # the REPL's history file

    @property
    def retrieval(self) -> RetrieveParams:
        return self.answering.retrieve

    @property
    def evidence(self) -> EvidenceParams:
        return self.answering.evidence


# --- resolution: flag, environment, config file -----------------------------------------------

KEYS = {"model": "NEWSQA_MODEL", "store": "NEWSQA_STORE", "llm": "NEWSQA_LLM"}
FAISS = "faiss"


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


def history_file() -> Path:
    """The REPL's history: $XDG_STATE_HOME/newsqa/history (~/.local/state/newsqa/history)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "newsqa" / "history"


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


def resolve(*, index: str = "default", index_dir: Path = Path("indexes"),
            models_dir: Path = Path("models"), model: Path | None = None, llm: str | None = None,
            store: str | None = None, k: int | None = None, generator: bool = False,
            gguf: bool = False, vectors: bool = True) -> Settings:
    """The settings of one command from its flags, the environment and the config file
    (`k`: how many articles a question retrieves, if not the default). Only what the command
    uses is looked up, so a flag given spares it the config file:

    - `generator` (a command that answers): a server (--llm, NEWSQA_LLM, the config file)
      answers, unless a GGUF file is named on the command line; else a GGUF file, as `gguf`;
    - `gguf`: the GGUF file that would answer (--model, NEWSQA_MODEL, the config file; None
      leaves the choice to qa/models/catalog.py);
    - `vectors`: where the vectors are searched (--store, NEWSQA_STORE, the config file; None
      leaves it to the index's manifest)."""
    server: Setting | None = None
    if generator:
        if model is not None and llm:
            raise NewsqaError("--model and --llm both name the model that answers",
                              hint="give --model (a GGUF run here) or --llm (a server), not both")
        server = setting("llm", llm, "--llm") if model is None else None
    chosen_model = setting("model", str(model) if model is not None else None, "--model") if (
        gguf or generator and server is None) else None
    return Settings(
        answering=AskParams() if k is None else AskParams().with_k(k),
        models=ModelSettings(models_dir=models_dir, model=chosen_model, cache_dir=cache_dir()),
        llm=LlmSettings(url=server.value if server else None,
                        api_key=os.environ.get("NEWSQA_LLM_API_KEY") or None,
                        threads=_threads(os.environ.get("NEWSQA_LLM_THREADS", ""))),
        store=StoreSettings(index=index, index_dir=index_dir,
                            vector_store=setting("store", store, "--store") if vectors else None,
                            milvus_token=os.environ.get("NEWSQA_MILVUS_TOKEN", "")),
        history=history_file(),
    )


def _threads(value: str) -> int | None:
    """NEWSQA_LLM_THREADS as a thread count (empty or `auto`: None, chosen before each prompt)."""
    if value.strip().lower() in ("", "auto"):
        return None
    if not value.strip().isdigit() or not 1 <= int(value) <= 256:
        raise NewsqaError(f"NEWSQA_LLM_THREADS={value!r} is not a number of threads",
                          hint="set it to a whole number such as 2, or to auto (the default)")
    return int(value)


# --- fingerprints -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalRun:
    """What identifies an eval run: the settings that shape its answers, and what they are
    asked of. A run is resumed only under the same fingerprint."""

    described: dict[str, Any]  # for a reader of run.json: questions, index, k, model, ...
    fingerprint: str  # of `described` and every parameter of the answers


def eval_run(settings: Settings, *, questions: Path, index: Path, model: str,
             filters: Filters, vector_store: str) -> EvalRun:
    """The identity of an eval run of `questions` (a file) against `index` (its vectors in
    `vector_store`), answered by `model` under `filters` with `settings`."""
    described: dict[str, Any] = {
        "questions": str(questions), "index": str(index), "k": settings.retrieval.k,
        "model": model, "filters": [filters.since, filters.until, filters.source],
        "vector_store": vector_store}
    return EvalRun(described, fingerprint({"run": described, "answering": settings.answering}))



def fingerprint(value: Any) -> str:
    """A short, stable hash of `value` (dataclasses, mappings, sequences, scalars): the same
    settings give the same fingerprint in every process, so a saved result says what produced
    it. Key order does not matter; a changed value changes it."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return plain(dataclasses.asdict(v))
        if isinstance(v, Mapping):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    text = json.dumps(plain(value), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
