"""An eval run: answer a file of questions into a run folder, resumably, under fixed settings.

Files written to the run folder (this module writes the first three):
- `answers.jsonl`: one `AnswerRecord` a line (qa/eval/answers.py): the `--json`-shaped answer,
  plus `id`, the multiple-choice pick and the question's wall time; appended and flushed
  question by question, so a killed run resumes, and never rewritten (only `--restart`
  discards it), so a run of fewer questions loses nothing;
- `run.json`: the settings of the run (a resumed run must use the same), their fingerprint
  and its wall time;
- `.lock`: held by the run writing the folder, so that a second run is refused;
- `run.trec` / `qrels.txt`: the retrieved articles as a TREC run, and the gold articles as qrels
  (qa/eval/trec.py);
- with gold fields: `report.json`, `report.md` and `report.png` (qa/eval/score.py, report.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from qa.answer.pipeline import AskParams, ask
from qa.core.errors import NewsqaError
from qa.core.files import write_atomic
from qa.core.records import Filters
from qa.core.settings import fingerprint
from qa.eval.answers import AnswerRecord
from qa.eval.choices import pick_choice
from qa.eval.questions import Question
from qa.models.embedders import Embedder
from qa.models.generators import Generator
from qa.store.index import Index
from qa.store.locks import lock_folder

ANSWERS = "answers.jsonl"
RUN = "run.json"


class RunIdentity(Protocol):
    """What names a run: a resumed run must have the same, and its fingerprint is stamped on
    `run.json` and the report, so a result always says what produced it."""

    def to_json(self) -> dict[str, Any]:
        """What `run.json` saves as `settings`; a resumed run must give the same."""
        ...

    def fingerprint(self) -> str: ...


@dataclass(frozen=True)
class RunSettings:
    """The settings `newsqa eval` has always saved in `run.json` (its keys, in its order)."""

    questions: str  # the question file, as given
    index: str  # the index folder
    k: int  # articles retrieved per question
    model: str  # the generator (a GGUF file's name, or the server's model)
    filters: tuple[str | None, str | None, str | None]  # since, until, source
    vector_store: str  # "faiss", or the URI of the external vector store

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RunSettings:
        return cls(questions=value["questions"], index=value["index"], k=value["k"],
                   model=value["model"], filters=tuple(value["filters"]),
                   vector_store=value["vector_store"])

    def to_json(self) -> dict[str, Any]:
        return {"questions": self.questions, "index": self.index, "k": self.k,
                "model": self.model, "filters": list(self.filters),
                "vector_store": self.vector_store}

    def fingerprint(self) -> str:
        return fingerprint(self.to_json())


@contextlib.contextmanager
def run_folder(out: Path) -> Iterator[None]:
    """Make `out` and hold its lock throughout the block: two runs writing one folder would
    interleave their answers. A run that is killed releases the lock with its process."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = lock_folder(out, f"another newsqa eval is writing {out}",
                           hint="wait for it to finish, or give this run another --out")
    except OSError as exc:
        raise NewsqaError(f"cannot write the run folder {out} ({exc.strerror or exc})",
                          hint="give --out a folder you can write") from exc
    try:
        yield
    finally:
        lock.close()


def _read_done(path: Path, wanted: dict[str, str]) -> list[AnswerRecord]:
    """Records already written for these (id -> question) pairs, the latest of each. Every
    saved line stays in the file, those of questions outside this run too (another --limit,
    an edited question, another question file); only a last line cut short by a kill (no line
    end and not JSON) is cut off, so that the next answer starts a line of its own."""
    if not path.exists():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        whole = _record(data[cut:]) is not None
        with path.open("r+b") as handle:
            if whole:
                handle.seek(0, os.SEEK_END)
                handle.write(b"\n")
            else:
                handle.truncate(cut)
                data = data[:cut]
    records = []
    for line in data.splitlines():
        record = _record(line)
        if record is not None and wanted.get(record.id) == record.question:
            records.append(record)
    return records


def _record(line: bytes) -> AnswerRecord | None:
    try:
        value = json.loads(line)
    except ValueError:  # not JSON, not UTF-8, or a number too long to convert
        return None
    return AnswerRecord.from_json(value) if isinstance(value, dict) else None


def run_eval(questions: Sequence[Question], out: Path, *, index: Index, embedder: Embedder,
             generator: Generator, settings: RunIdentity | dict[str, Any],
             settings_fingerprint: str = "", filters: Filters | None = None,
             params: AskParams | None = None, restart: bool = False,
             on_question: Callable[[int, int], None] | None = None) -> list[AnswerRecord]:
    """Answer every question not yet answered in `out` (whose `run_folder` the caller holds);
    return the records of `questions`, in their order. Answers saved in `out` for other
    questions are kept, so a run of the first N questions never undoes a longer one.
    `settings` (as a dict, the keys of `RunSettings`) describe the run for its reader; its
    fingerprint, or `settings_fingerprint` when given (that of every setting that shapes the
    answers, qa.core.settings), identifies it: a run is resumed only under the same one."""
    started = time.perf_counter()
    filters = filters or Filters()
    params = params or AskParams()
    identity = RunSettings.from_json(settings) if isinstance(settings, dict) else settings
    saved, stamp = identity.to_json(), settings_fingerprint or identity.fingerprint()
    run_file, answers_file = out / RUN, out / ANSWERS
    run: dict[str, Any] = {"settings": saved, "settings_fingerprint": stamp, "wall_s": 0.0,
                           "sessions": 0}
    if restart:
        answers_file.unlink(missing_ok=True)
    elif run_file.exists():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            previous = None
        if not isinstance(previous, dict):
            raise NewsqaError(f"{run_file} is not the settings of a run",
                              hint="pick another --out, or add --restart to answer afresh")
        # A run written before fingerprints is known by its settings alone.
        same = (previous.get("settings_fingerprint") == stamp
                if "settings_fingerprint" in previous else previous.get("settings") == saved)
        if not same:
            raise NewsqaError(
                f"{out} holds a run with other settings ({previous.get('settings')})",
                hint="resume with the same options, pick another --out, or add --restart",
            )
        run = previous
        run["settings_fingerprint"] = stamp  # a run saved before fingerprints gets one
    wanted = {q.id: " ".join(q.question.split()) for q in questions}
    done = {r.id: r for r in _read_done(answers_file, wanted)}
    todo = [q for q in questions if q.id not in done]
    if on_question is not None:
        on_question(len(done), len(questions))

    def save_run(wall_s: float) -> None:
        run["wall_s"] = wall_s
        write_atomic(run_file, (json.dumps(run, indent=2) + "\n").encode("utf-8"))

    # The settings are on disk before the first answer, so a killed run cannot be resumed
    # under other settings; the wall time is brought up to date as answers are written.
    previous_wall = float(run.get("wall_s", 0.0))
    run["sessions"] = int(run.get("sessions", 0)) + 1
    save_run(previous_wall)
    try:
        with answers_file.open("a", encoding="utf-8") as sink:
            for question in todo:
                done[question.id] = answer_one(question, index=index, embedder=embedder,
                                               generator=generator, filters=filters,
                                               params=params)
                sink.write(json.dumps(done[question.id].to_json(), ensure_ascii=False) + "\n")
                sink.flush()
                save_run(previous_wall + time.perf_counter() - started)
                if on_question is not None:
                    on_question(len(done), len(questions))
    finally:
        save_run(previous_wall + time.perf_counter() - started)
    return [done[q.id] for q in questions]


def answer_one(question: Question, *, index: Index, embedder: Embedder, generator: Generator,
               filters: Filters, params: AskParams) -> AnswerRecord:
    """The record of one question: its answer, as of its `as_of` date, and its pick."""
    began = time.perf_counter()
    try:
        answer = ask(question.question, index=index, embedder=embedder, generator=generator,
                     filters=filters.ending(question.as_of), params=params)
    except NewsqaError as exc:  # the run carries on; the record says why there is no answer
        return AnswerRecord(id=question.id, question=" ".join(question.question.split()),
                            model=generator.name, error=exc.message,
                            wall_s=round(time.perf_counter() - began, 4))
    record = AnswerRecord.of_answer(question.id, answer)
    if question.choices:
        picked, rule = pick_choice(answer, question.choices, generator, embedder)
        record = replace(record, choice=question.choices[picked], choice_index=picked,
                         choice_rule=rule)
    return replace(record, wall_s=round(time.perf_counter() - began, 4))


def saved_fingerprint(out: Path) -> str | None:
    """The settings fingerprint `run.json` in `out` was stamped with, if any."""
    try:
        run = json.loads((out / RUN).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    stamp = run.get("settings_fingerprint") if isinstance(run, dict) else None
    return stamp if isinstance(stamp, str) else None
