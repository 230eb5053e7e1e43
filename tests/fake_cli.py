# ruff: noqa: E402 (the imports after keep_lost)
"""The real `newsqa` command line with the tests' fake models, for tests that need their own
process: to kill a write half-way, or to run two commands at once.

    python tests/fake_cli.py ingest archive.jsonl --index-dir DIR

The fake models (tests/fakes.py: a SlowEmbedder, a FakeGenerator) are installed through the
application's seam, `qa.app.context.use_models`, so every other line that runs is newsqa's own
and no model is loaded. Two environment variables shape a
run:

- `NEWSQA_FAKE_EMBED_DELAY`: seconds each embedding call sleeps, so that a write lasts long
  enough to be interrupted at many different points;
- `NEWSQA_FAKE_COMMIT_LOG`: a file that receives the id of every article (or copy) once the
  transaction that stored it has committed. What the log names is known to be committed
  before any kill that follows, which is what a crash test checks the store against;
- `NEWSQA_FAKE_KILL_AT`: `EVENT:N[:INT]`, the process sends itself SIGKILL (or, with `:INT`,
  SIGINT, as Ctrl-C would) at the N-th such event: `commit` just before an SQL COMMIT runs,
  `committed` at the first statement after one, `replace` just before a file is renamed into
  place (written and synced, not yet renamed), `replaced` just after;
- `NEWSQA_FAKE_REAL_GENERATOR`: when set, the generator is llama.cpp's after all (for tests of
  what newsqa does with a model file), while the embedder stays the fake one.
"""

from __future__ import annotations

# As the `newsqa` entry point does (qa/__main__.py), before the imports that take time; only
# when run as the command, so that importing this file leaves the importer's hooks alone.
from qa.core.interrupts import keep_lost

if __name__ == "__main__":
    keep_lost()

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qa.core.interrupts import caused_by_interrupt

try:
    from qa.app import cli
    from qa.app.context import use_models
    from qa.store.index import Index
    from tests.fakes import FakeGenerator, FakeModels, SlowEmbedder
except BaseException as exc:  # as qa/__main__.py: Ctrl-C while loading (or wrapped by 3.11)
    if __name__ != "__main__" or not caused_by_interrupt(exc):
        raise
    raise SystemExit(130) from None

DELAY = "NEWSQA_FAKE_EMBED_DELAY"
COMMIT_LOG = "NEWSQA_FAKE_COMMIT_LOG"
KILL_AT = "NEWSQA_FAKE_KILL_AT"
REAL_GENERATOR = "NEWSQA_FAKE_REAL_GENERATOR"
REPO = Path(__file__).resolve().parents[1]

# --- what the subprocess runs --------------------------------------------------------------


def _log_commits(path: Path) -> None:
    """Append the ids a transaction stored to `path` after it commits."""
    write_batch, write_copy = Index.write_batch, Index.write_copy

    def log(ids: Iterable[str]) -> None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write("".join(f"{i}\n" for i in ids))

    def logged_batch(self: Index, items: Any, *args: Any, **kwargs: Any) -> None:
        write_batch(self, items, *args, **kwargs)
        log(item.article.id for item in items)

    def logged_copy(self: Index, article: Any, *args: Any, **kwargs: Any) -> None:
        write_copy(self, article, *args, **kwargs)
        log([article.id])

    Index.write_batch = logged_batch  # type: ignore[method-assign]
    Index.write_copy = logged_copy  # type: ignore[method-assign]


def _kill_at(spec: str) -> None:
    """Arm a signal to this process at the `spec` (`EVENT:N[:INT]`) moment of a write."""
    import signal
    import sqlite3

    event, nth, *kind = spec.split(":")
    target = int(nth)
    signum = signal.SIGINT if kind == ["INT"] else signal.SIGKILL
    commits = replaces = 0
    last_was_commit = False

    def die() -> None:
        os.kill(os.getpid(), signum)

    def trace(statement: str) -> None:
        nonlocal commits, last_was_commit
        if statement.startswith("--"):  # run by SQLite inside another (FTS5 at COMMIT)
            return
        if last_was_commit and event == "committed" and commits == target:
            die()
        last_was_commit = statement.strip().upper() == "COMMIT"
        if last_was_commit:
            commits += 1
            if event == "commit" and commits == target:
                die()

    connect, replace = sqlite3.connect, os.replace

    def traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(trace)
        return conn

    def killing_replace(src: Any, dst: Any) -> None:
        nonlocal replaces
        replaces += 1
        if event == "replace" and replaces == target:
            die()
        replace(src, dst)
        if event == "replaced" and replaces == target:
            die()

    sqlite3.connect = traced_connect  # type: ignore[assignment]
    os.replace = killing_replace  # type: ignore[assignment]


def main() -> None:
    if os.environ.get(KILL_AT):
        _kill_at(os.environ[KILL_AT])
    delay = float(os.environ.get(DELAY) or 0)
    use_models(FakeModels(lambda: SlowEmbedder(delay), None if os.environ.get(REAL_GENERATOR)
                          else lambda path: FakeGenerator(default="")))
    if os.environ.get(COMMIT_LOG):
        _log_commits(Path(os.environ[COMMIT_LOG]))
    cli.main()


# --- what tests use to drive it --------------------------------------------------------------

_VOCABULARY = [f"{a}{b}{c}" for a in ("bar", "cor", "del", "fen", "gal", "hol", "mar", "tor")
               for b in ("a", "e", "i", "o", "u") for c in ("ck", "dge", "lm", "nt", "sk")]


def story(n: int, version: int = 1) -> dict[str, Any]:
    """Article `n` of a made-up archive, about 200 words in three paragraphs (two chunks at
    the default 160 words). Words are drawn at random from 200 invented ones, so no two
    stories are near-copies of each other; `version` 2 is an edited text under the same URL."""
    rng = random.Random(n * 7919 + version)
    paragraphs = []
    for _ in range(3):
        sentences = [" ".join(rng.choice(_VOCABULARY) for _ in range(11)).capitalize() + "."
                     for _ in range(6)]
        paragraphs.append(" ".join(sentences))
    return {"url": f"https://archive.example/{n}", "title": f"Story {n} version {version}",
            "published": f"2024-05-{1 + n % 28:02d}", "source": f"Outlet {n % 5}",
            "text": "\n\n".join(paragraphs)}


def write_archive(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def command(*args: str) -> list[str]:
    # Run as a script, as the installed `newsqa` entry point is: under `python -m`, CPython
    # 3.11 can end a process that handled a Ctrl-C by killing itself with SIGINT at exit.
    return [sys.executable, str(Path(__file__).resolve()), *args]


def start(*args: str, cwd: Path, **env: str) -> subprocess.Popen[bytes]:
    """`newsqa ARGS` (with the fakes) in a new process, its output collected."""
    return subprocess.Popen(command(*args), cwd=cwd, env=environment(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


if __name__ == "__main__":
    main()
