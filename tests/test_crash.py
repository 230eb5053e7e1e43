"""Crash safety: `newsqa ingest` killed (SIGKILL) or interrupted (Ctrl-C typed at a terminal)
part-way, then checked: the index opens and answers, `index doctor` finds nothing damaged, every
article whose transaction committed before the signal is stored whole, nothing half-written is,
and running the same ingest again completes it.

The ingest is the real CLI in a subprocess (tests/fake_cli.py: the fake embedder, slowed down so
that a run lasts a second or two). Random moments are drawn one from each twentieth of an
uninterrupted run's length, from a fixed seed, so that a failure can be replayed; a second set
of kills lands on each step of a write (before and after a COMMIT, before and after a file is
renamed into place), which random moments reach only by luck.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pytest
from typer.testing import CliRunner

from qa.app.cli import app
from qa.core.records import Article
from qa.ingest.chunking import ChunkParams, chunk_article
from qa.ingest.readers import content_hash, read_path
from qa.store.doctor import check
from qa.store.index import MANIFEST, VECTORS, Index
from tests.fake_cli import (
    COMMIT_LOG,
    DELAY,
    KILL_AT,
    command,
    environment,
    start,
    story,
    write_archive,
)
from tests.fakes import FakeEmbedder, FakeGenerator, FakeModels, installed

TRIALS = 20
SEED = 20261125
EMBED_DELAY = "0.04"  # seconds each batch's embedding call sleeps
BASE = 32  # articles stored before the interrupted run (in an existing index)
NEW = 64  # articles the interrupted run adds (in batches of 32)
UPDATED = 16  # stored articles it replaces with an edited version
# What doctor may say of an index whose writer was killed: the derived parts lag the store, or
# a temporary file was left. Anything else is damage.
LAG = (f"{VECTORS} lags the store", "the manifest counts")
LEFTOVER = "is a temporary file left by an interrupted write"

runner = CliRunner()


@dataclass
class Plan:
    """An ingest to interrupt: the index before it, and what each article of its file is."""

    archive: Path
    template: Path | None  # an index to start from (None: a new index)
    before: dict[str, str]  # id -> content hash stored before the run
    items: list[tuple[str, str]]  # (id, hash) of each article of the file, in order
    chunks: dict[tuple[str, str], int]  # (id, hash) -> how many chunks it makes

    def state_after(self, n: int) -> dict[str, str]:
        state = dict(self.before)
        state.update(self.items[:n])
        return state


@dataclass
class Tally:
    """What the trials of one test met, for docs/reliability.md (printed with -s)."""

    name: str
    outcomes: list[str] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)  # articles of the file stored, mid-run
    lagging: int = 0  # trials after which the vectors lagged the store
    leftovers: int = 0  # trials that left a temporary file

    def line(self, total: str) -> str:
        kinds = dict.fromkeys(self.outcomes, 0)
        for outcome in self.outcomes:
            kinds[outcome] += 1
        return (f"{self.name}: {len(self.outcomes)} trials ("
                + ", ".join(f"{n} {k}" for k, n in kinds.items())
                + f"); articles of {total} stored when stopped mid-run: {sorted(self.stored)}; "
                f"vectors lagging after {self.lagging}, temporary file left by {self.leftovers}"
                "; lost: 0")


@pytest.fixture(autouse=True)
def story_models() -> Iterator[None]:
    with installed(FakeModels(FakeEmbedder, lambda path: FakeGenerator(default="Story"))):
        yield


def _articles(path: Path) -> list[Article]:
    return [a for a in read_path(path) if isinstance(a, Article)]


def _plan(folder: Path, existing: bool) -> Plan:
    folder.mkdir()
    before: dict[str, str] = {}
    template = None
    base: list[Article] = []
    if existing:
        base_file = write_archive(folder / "base.jsonl", (story(n) for n in range(BASE)))
        template = folder / "template"
        result = runner.invoke(app, ["ingest", str(base_file), "--index-dir", str(template)])
        assert result.exit_code == 0, result.output
        base = _articles(base_file)
        before = {a.id: content_hash(a) for a in base}
    records = [story(BASE + n) for n in range(NEW // 2)]
    if existing:
        records += [story(n, version=2) for n in range(UPDATED)]
    records += [story(BASE + n) for n in range(NEW // 2, NEW)]
    archive = write_archive(folder / "archive.jsonl", records)
    articles = _articles(archive)
    params = ChunkParams()  # what `newsqa ingest` gives a new index
    chunks = {(a.id, content_hash(a)): len(chunk_article(a, params)) for a in articles + base}
    return Plan(archive, template, before, [(a.id, content_hash(a)) for a in articles], chunks)


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Plan]:
    folder = tmp_path_factory.mktemp("plans")
    with installed(FakeModels()):
        return {existing: _plan(folder / str(existing), existing) for existing in (False, True)}


@pytest.fixture(scope="module")
def duration(plans: dict[bool, Plan], tmp_path_factory: pytest.TempPathFactory) -> float:
    """How long the whole ingest into an existing index takes here, so that random moments
    cover it from start to end."""
    folder = tmp_path_factory.mktemp("calibration")
    index_dir = _index_dir(plans[True], folder / "run")
    began = time.perf_counter()
    process = start("ingest", str(plans[True].archive), "--index-dir", str(index_dir),
                    cwd=folder, **{DELAY: EMBED_DELAY})
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    return time.perf_counter() - began


def _index_dir(plan: Plan, trial: Path) -> Path:
    trial.mkdir()
    index_dir = trial / "indexes"
    if plan.template is not None:
        shutil.copytree(plan.template, index_dir)
    return index_dir


def _committed(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").split() if log.exists() else []


def _stored(path: Path, plan: Plan) -> tuple[dict[str, str], int]:
    """(id -> content hash of every stored article, stored chunks), read as a reader would."""
    with Index.open(path, None) as index:
        ids = {i for i, _ in plan.items} | set(plan.before)
        state = {i: h for i in ids if (h := index.stored_hash(i)) is not None}
        counts = index.counts()
    assert counts["articles"] == len(state), "the store holds articles nobody ingested"
    return state, counts["chunks"]


def _prefix(plan: Plan, state: dict[str, str]) -> int:
    """How many articles of the file the store holds: the state must be the one before the run
    plus a leading run of the file, each article whole (its old version or its new one)."""
    for n in range(len(plan.items), -1, -1):
        if plan.state_after(n) == state:
            return n
    raise AssertionError("the store is not its state before the run plus a prefix of the file")


def _check_after_signal(plan: Plan, index_dir: Path, log: Path, tally: Tally
                        ) -> tuple[int, set[str]]:
    """The checks after every interruption; returns (articles of the file stored, what the
    doctor found: "lag" and/or "leftover", nothing else)."""
    path = index_dir / "default"
    if not (path / MANIFEST).exists():
        # Stopped before the index existed: nothing was committed, and asking says so.
        assert plan.template is None and _committed(log) == []
        result = runner.invoke(app, ["ask", "--json", "anything", "--index-dir", str(index_dir)])
        assert result.exit_code == 1 and "no index at" in result.stderr
        return 0, set()
    state, chunks = _stored(path, plan)
    stored = _prefix(plan, state)
    position = {item_id: n for n, (item_id, _) in enumerate(plan.items)}
    assert stored >= max((position[i] + 1 for i in _committed(log)), default=0), \
        "an article committed before the signal is missing"
    assert chunks == sum(plan.chunks[item] for item in state.items()), "a partial article"

    with Index.open(path, None) as index:
        problems = check(index).problems
    damage = [p for p in problems if not p.startswith(LAG) and LEFTOVER not in p]
    assert damage == [], damage
    found = {"lag" for p in problems if p.startswith(LAG)} | \
        {"leftover" for p in problems if LEFTOVER in p}
    tally.lagging += "lag" in found
    tally.leftovers += "leftover" in found
    # The index opens and answers: vectors that lag the store are rebuilt from it on open.
    question = " ".join(story(BASE)["text"].split()[:8])
    result = runner.invoke(app, ["ask", "--json", "--index-dir", str(index_dir), question])
    if state:
        assert result.exit_code == 0, result.output
    else:  # made, and stopped before its first article was committed: it says it is empty
        assert result.exit_code == 1 and "holds no articles" in result.stderr, result.output
    info = runner.invoke(app, ["index", "info", "--json", "--index-dir", str(index_dir)])
    assert info.exit_code == 0, info.output
    return stored, found


def _check_rerun(plan: Plan, index_dir: Path) -> None:
    """Running the same ingest again completes it, and leaves a sound index."""
    result = runner.invoke(app, ["ingest", str(plan.archive), "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output
    state, chunks = _stored(index_dir / "default", plan)
    assert state == plan.state_after(len(plan.items))
    assert chunks == sum(plan.chunks[item] for item in state.items())
    with Index.open(index_dir / "default", None) as index:
        problems = check(index).problems
    # A temporary file of the killed write is the one thing a re-run leaves (see
    # test_the_next_writer_clears_a_killed_writes_temporary_file); --repair deletes it.
    assert all(LEFTOVER in p for p in problems), problems
    doctor = runner.invoke(app, ["index", "doctor", "--index-dir", str(index_dir)]
                           + (["--repair"] if problems else []))
    assert doctor.exit_code == 0 and "sound" in doctor.output, doctor.output


def _moments(duration: float) -> Iterator[float]:
    """One moment drawn at random from each twentieth of `duration`."""
    rng = random.Random(SEED)
    for trial in range(TRIALS):
        yield duration * (trial + rng.random()) / TRIALS


def _outcome(index_dir: Path, stored: int, finished: bool) -> str:
    if finished:
        return "after the run finished"
    if not (index_dir / "default" / MANIFEST).exists():
        return "before the index existed"
    return "mid-run" if stored else "before the first commit"


def test_sigkill_at_20_random_moments_loses_nothing_committed(
        plans: dict[bool, Plan], duration: float, tmp_path: Path) -> None:
    """Trials alternate between a new index and one that already holds articles (which the
    run partly replaces)."""
    tally = Tally("SIGKILL at random moments")
    for trial, moment in enumerate(_moments(duration)):
        plan = plans[trial % 2 == 1]
        folder = tmp_path / f"kill-{trial}"
        index_dir = _index_dir(plan, folder)
        log = folder / "commits.log"
        process = start("ingest", str(plan.archive), "--index-dir", str(index_dir), cwd=folder,
                        **{DELAY: EMBED_DELAY, COMMIT_LOG: str(log)})
        time.sleep(moment)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        stored, _ = _check_after_signal(plan, index_dir, log, tally)
        outcome = _outcome(index_dir, stored, process.returncode == 0)
        tally.outcomes.append(outcome)
        if outcome == "mid-run":
            tally.stored.append(stored)
        _check_rerun(plan, index_dir)
    print(tally.line(f"{NEW} (new index) or {NEW + UPDATED} (existing index)")
          + f"; an uninterrupted run takes {duration:.1f} s")


# Steps of an ingest's writes into an existing index (the first and last of its 3 batch
# transactions, then the vectors file, its recent segment and the manifest, each written to a
# temporary file and renamed into place), and what doctor must find after a kill there: the
# vectors lagging the store and/or a temporary file left, never more.
WRITE_STEPS = {
    "commit:1": set(), "committed:1": {"lag"}, "commit:3": {"lag"}, "committed:3": {"lag"},
    "replace:1": {"lag", "leftover"}, "replaced:1": {"lag"}, "replace:2": {"lag", "leftover"},
    "replaced:2": {"lag"}, "replace:3": {"lag", "leftover"}, "replaced:3": set(),
}


def test_sigkill_at_each_step_of_a_write(plans: dict[bool, Plan], tmp_path: Path) -> None:
    plan = plans[True]
    tally = Tally("SIGKILL at each write step")
    for step, expected in WRITE_STEPS.items():
        folder = tmp_path / step.replace(":", "-")
        index_dir = _index_dir(plan, folder)
        log = folder / "commits.log"
        process = start("ingest", str(plan.archive), "--index-dir", str(index_dir), cwd=folder,
                        **{KILL_AT: step, COMMIT_LOG: str(log)})
        process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL, step  # it reached the step
        stored, found = _check_after_signal(plan, index_dir, log, tally)
        # Exactly what had committed is there: a batch killed before its COMMIT is absent.
        assert stored == len(_committed(log)), step
        assert found == expected, step
        tally.outcomes.append(step)
        _check_rerun(plan, index_dir)
    print(tally.line(str(NEW + UPDATED)))


def test_ctrl_c_at_20_random_moments_stops_cleanly(plans: dict[bool, Plan], duration: float,
                                                    tmp_path: Path) -> None:
    """Ctrl-C typed at a terminal (a pseudo-terminal, so the progress display is live): newsqa
    says it was interrupted and exits 130, with no traceback, having saved the vectors of what
    it stored, so the index is sound at once."""
    plan = plans[True]
    tally = Tally("Ctrl-C at random moments")
    for trial, moment in enumerate(_moments(duration)):
        folder = tmp_path / f"int-{trial}"
        index_dir = _index_dir(plan, folder)
        log = folder / "commits.log"
        program, *args = command("ingest", str(plan.archive), "--index-dir", str(index_dir))
        child = pexpect.spawn(program, args, cwd=str(folder), timeout=60,
                              env=environment(**{DELAY: EMBED_DELAY, COMMIT_LOG: str(log)}))
        # Read the terminal while waiting, as a terminal does: a child whose output is not
        # read blocks once the pty's buffer is full.
        if child.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=moment) == 0:
            child.sendintr()
            child.expect(pexpect.EOF)
        child.wait()  # not close(), which signals a child that has not finished exiting
        output = (child.before or b"").decode("utf-8", "replace")
        child.close()
        stored, found = _check_after_signal(plan, index_dir, log, tally)
        untouched = stored == 0 and found == set() and _committed(log) == []
        if "files read" in output and "interrupted" not in output:
            # Ctrl-C after a finished run printed its summary: as Python exited (it restores
            # the default action first), or as the CLI library returned (it exits 130
            # quietly). The run was complete.
            assert stored == len(plan.items) and found == set()
            if child.signalstatus is None:
                assert child.exitstatus in (0, 130) and "Traceback" not in output, output
            outcome = "after the run finished"
        elif child.signalstatus == signal.SIGINT:
            # Ctrl-C while Python was still importing newsqa: Python's own KeyboardInterrupt
            # (and its traceback), before any of newsqa's code ran. Nothing was written.
            assert untouched, (stored, found, output)
            # The traceback may pass through newsqa's modules being imported, never through
            # one of their functions.
            frames = re.findall(r'qa/(?:store|ingest)\.py", line \d+, in (\S+)', output)
            assert all(frame == "<module>" for frame in frames), output
            outcome = "before newsqa's code ran"
        elif child.exitstatus == 130 and "interrupted" not in output:
            # Ctrl-C during the command's own imports, before its error handler: the CLI
            # library exits 130 quietly. Nothing was written.
            assert untouched and "Traceback" not in output, output
            outcome = "before the command started writing"
        else:
            assert child.exitstatus in (0, 130) and "Traceback" not in output, output
            outcome = _outcome(index_dir, stored, child.exitstatus == 0)
            if child.exitstatus == 130:
                assert "interrupted" in output
                # An interrupted run saves the vectors of what it stored, so nothing lags;
                # unless Ctrl-C came while it was saving them at the end (see
                # test_ctrl_c_while_the_vectors_are_saved_still_saves_them).
                if stored == len(plan.items) and found == {"lag"}:
                    outcome = "while saving the vectors at the end"
                else:
                    assert found == set(), "an interrupted ingest left the index needing repair"
        tally.outcomes.append(outcome)
        if outcome == "mid-run":
            tally.stored.append(stored)
        _check_rerun(plan, index_dir)
    print(tally.line(str(NEW + UPDATED)))


def test_a_new_index_killed_before_its_manifest_is_written_is_made_again(
        plans: dict[bool, Plan], tmp_path: Path) -> None:
    """Creating an index writes its store first and its manifest second; a kill between the
    two (found by the random kills in CI) must not leave a folder that no command can open."""
    plan = plans[False]
    index_dir = _index_dir(plan, tmp_path / "trial")
    process = start("ingest", str(plan.archive), "--index-dir", str(index_dir), cwd=tmp_path,
                    **{KILL_AT: "replace:1"})
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert (index_dir / "default" / "store.sqlite").exists()
    assert not (index_dir / "default" / MANIFEST).exists()
    _check_rerun(plan, index_dir)


def test_a_store_with_articles_but_no_manifest_is_refused_not_adopted(
        plans: dict[bool, Plan], tmp_path: Path) -> None:
    """Without its manifest a store's embedder is unknown: newsqa says so rather than adding
    vectors of another kind to it."""
    index_dir = _index_dir(plans[True], tmp_path / "trial")
    (index_dir / "default" / MANIFEST).unlink()
    result = runner.invoke(app, ["ingest", str(plans[True].archive), "--index-dir",
                                 str(index_dir)])
    assert result.exit_code == 1
    assert "no manifest" in result.stderr and "store.sqlite" in result.stderr


def test_the_next_writer_clears_a_killed_writes_temporary_file(plans: dict[bool, Plan],
                                                               tmp_path: Path) -> None:
    plan = plans[True]
    index_dir = _index_dir(plan, tmp_path / "trial")
    process = start("ingest", str(plan.archive), "--index-dir", str(index_dir), cwd=tmp_path,
                    **{KILL_AT: "replace:1"})
    process.communicate(timeout=60)
    left = [p.name for p in (index_dir / "default").iterdir() if ".tmp-" in p.name]
    assert left, "the kill did not land inside the vectors' write"
    result = runner.invoke(app, ["ingest", str(plan.archive), "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (index_dir / "default").iterdir() if ".tmp-" in p.name] == []


def test_ctrl_c_while_the_vectors_are_saved_still_saves_them(plans: dict[bool, Plan],
                                                             tmp_path: Path) -> None:
    plan = plans[True]
    index_dir = _index_dir(plan, tmp_path / "trial")
    process = start("ingest", str(plan.archive), "--index-dir", str(index_dir), cwd=tmp_path,
                    **{KILL_AT: "replace:1:INT"})
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and b"interrupted" in err, err
    state, _ = _stored(index_dir / "default", plan)
    assert state == plan.state_after(len(plan.items))  # every batch had committed
    with Index.open(index_dir / "default", None) as index:
        assert check(index).problems == []
