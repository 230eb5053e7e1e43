"""The index folder: its name rules, its file names, and its manifest (read, checked, written)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.core.errors import NewsqaError
from qa.core.files import TMP_MARK, read_small_file, write_atomic
from qa.core.settings import ChunkParams

FORMAT_VERSION = 1
PRECISIONS = ("fp32", "int8")  # what an index's vectors may be embedded at
MANIFEST = "manifest.json"
DATABASE = "store.sqlite"
VECTORS = "vectors.faiss"
RECENT = "vectors-recent.npz"  # what was added since vectors.faiss (qa/store/vectors/recent.py)
WRITTEN_WHOLE = (VECTORS, RECENT, MANIFEST)  # the files written with write_atomic
MAX_MANIFEST_BYTES = 1024 * 1024  # the manifest newsqa writes is under 1 KB
MAX_INDEX_NAME_BYTES = 100  # file systems allow 255 bytes a name; a name is typed, and shown


@dataclass(frozen=True)
class EmbedderSpec:
    name: str
    dim: int
    # How the vectors are computed (int8 or fp32): recorded when an index is created, so that
    # later writes match (see `Index.precision`); not part of the compatibility check.
    precision: str = "fp32"
    why: str = ""  # how the precision was chosen (measured here, or --precision), if known


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def excerpt_of(name: str, limit: int = 60) -> str:
    return repr(name[:limit]) + (f"... ({len(name):,} characters)" if len(name) > limit else "")


def index_folder(index_dir: Path, name: str) -> Path:
    """The folder of the index called `name` in `index_dir`. A name is one folder name, never
    a path: `..`, `/abs`, `a/b`, `.` or "" would put the store outside `index_dir` (or in it)."""
    if not name.strip() or name in (".", "..") or any(c in name for c in "/\\") or \
            any(ord(c) < 32 or ord(c) == 127 for c in name) or \
            len(name.encode("utf-8", "surrogatepass")) > MAX_INDEX_NAME_BYTES:
        raise NewsqaError(f"--index {excerpt_of(name)} is not an index name: a name is one "
                          "folder name inside the index dir, without / or \\, not . or .., "
                          f"and at most {MAX_INDEX_NAME_BYTES} bytes",
                          hint="write --index news (and --index-dir PATH to choose the folder "
                               "that holds the indexes)")
    return index_dir / name


def exists(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def leftover_temporaries(folder: Path) -> list[Path]:
    """The temporary files of writes killed before they renamed them into place
    (`.vectors.faiss.tmp-PID`, `.vectors-recent.npz.tmp-PID`, `.manifest.json.tmp-PID`), and
    no other file: a user's own `.draft.tmp-2024` is not newsqa's to delete."""
    found = []
    for name in WRITTEN_WHOLE:
        prefix = f".{name}{TMP_MARK}"
        found += [p for p in folder.glob(f"{prefix}*")
                  if p.name[len(prefix):].isdigit() and p.is_file() and not p.is_symlink()]
    return sorted(found)


def damaged(path: Path | None, what: str) -> NewsqaError:
    where = f"the index at {path}" if path else "the index"
    return NewsqaError(f"{where} is damaged: {what}",
                       hint="run `newsqa index doctor` to see what is wrong; re-ingest into a "
                            "new --index if the store itself is damaged")


def missing(path: Path) -> NewsqaError:
    """No index at `path`: where that is (a relative index folder is relative to the working
    folder), the indexes its folder does hold, and how to point at the right one."""
    folder = path.parent
    here = sorted(p.name for p in folder.iterdir() if (p / MANIFEST).is_file()) \
        if folder.is_dir() else []
    where = f"no index at {path.absolute()}"
    if not path.is_absolute():
        where += f" ({path} in the working folder {Path.cwd()})"
    if here:
        return NewsqaError(where, hint=f"{folder} holds {', '.join(here)}: pick one with "
                           "--index NAME, or make this one with `newsqa ingest PATH`")
    return NewsqaError(where, hint="if you ingested from another folder, point at its indexes "
                       "with --index-dir DIR or NEWSQA_INDEX_DIR=DIR; else make one with "
                       "`newsqa ingest PATH`")


def new_manifest(embedder: EmbedderSpec, chunking: ChunkParams | None) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "embedder": {"name": embedder.name, "dim": embedder.dim,
                     "precision": embedder.precision,
                     **({"precision_why": embedder.why} if embedder.why else {})},
        "chunking": (chunking or ChunkParams()).as_dict(),
        "counts": {"articles": 0, "chunks": 0},
        "generation": 0,
        "created": now(),
        "updated": now(),
    }


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at `path` (the file), refused unless it is newsqa's of this format."""
    try:
        data = read_small_file(path, MAX_MANIFEST_BYTES)
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else exc
        raise NewsqaError(f"the index manifest {path} cannot be read: {why}",
                          hint="put the manifest back from a backup (or move this one "
                               "away and run `newsqa index doctor`)") from exc
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, a huge number
        raise NewsqaError(
            f"the index manifest {path} is unreadable ({exc.__class__.__name__}): it names "
            "the embedder of the stored vectors, so neither newsqa nor doctor can use the "
            "index without it",
            hint="put manifest.json back from a backup; else re-ingest the files into a new "
                 "--index (and delete this one)",
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise NewsqaError(
            f"{path} is not a newsqa index of format {FORMAT_VERSION}",
            hint="rebuild it with `newsqa ingest` into a new --index",
        )
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any], counts: dict[str, int]) -> None:
    """Write `manifest` into `folder` whole, with the store's `counts` and the time."""
    manifest["counts"] = counts
    manifest["updated"] = now()
    body = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    write_atomic(folder / MANIFEST, body.encode("utf-8"))


class Manifest:
    """An index folder's manifest as last read or written: shared by the index and the vector
    backend that notes in it what it holds."""

    def __init__(self, folder: Path, data: dict[str, Any],
                 counts: Callable[[], dict[str, int]]) -> None:
        self.folder = folder
        self.data = data
        self._counts = counts  # the store's, written with every save

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def reread(self) -> None:
        """Take the manifest another process wrote since (a long-lived reader)."""
        self.data = read_manifest(self.folder / MANIFEST)

    def record(self, entries: dict[str, Any]) -> None:
        """Set these entries (None removes one) and save the manifest."""
        for key, value in entries.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value
        self.save()

    def save(self) -> None:
        write_manifest(self.folder, self.data, self._counts())


def check_embedder(path: Path, manifest: dict[str, Any], embedder: EmbedderSpec) -> None:
    """Refuse an embedder other than the one the index at `path` was built with."""
    built = manifest.get("embedder") or {}
    if built.get("name") != embedder.name or built.get("dim") != embedder.dim:
        raise NewsqaError(
            f"the index at {path} was built with embedder {built.get('name')} "
            f"(dim {built.get('dim')}), not {embedder.name} (dim {embedder.dim})",
            hint="use the embedder it was built with, or ingest into a new --index",
        )
