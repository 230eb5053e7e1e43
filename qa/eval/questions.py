"""The questions of an eval: a `.txt` file (one a line) or JSONL with optional gold fields."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.core.errors import NewsqaError
from qa.ingest.readers import NUMBER_TOO_LONG, parse_date


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    as_of: str | None = None
    answers: tuple[str, ...] | None = None  # None: no gold; (): the archive cannot answer
    choices: tuple[str, ...] = ()
    gold_urls: tuple[str, ...] = ()


def _strings(value: Any, field: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise NewsqaError(f"{where}: `{field}` must be a list of strings",
                          hint='write it like ["first", "second"]')
    return tuple(value)


def load_questions(path: Path) -> list[Question]:
    """A `.txt` file (one question a line) or JSONL (`question` required; optional `id, as_of,
    answers, choices, gold_urls`). A bad line stops the run before it starts."""
    if not path.is_file():
        raise NewsqaError(f"no question file at {path}", hint="give a .txt or .jsonl file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise NewsqaError(f"{path} is not UTF-8 text", hint="re-encode it as UTF-8") from exc
    questions: list[Question] = []
    as_jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json")
    for lineno, line in enumerate(lines, start=1):
        where = f"{path}:{lineno}"
        if not line.strip() or (not as_jsonl and line.lstrip().startswith("#")):
            continue
        if not as_jsonl:
            questions.append(Question(id=f"q{lineno}", question=line.strip()))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise NewsqaError(f"{where}: not valid JSON ({exc.msg})", hint="fix that line") from exc
        except RecursionError as exc:
            raise NewsqaError(f"{where}: JSON nested too deeply to be a question",
                              hint="fix that line") from exc
        except ValueError as exc:  # the one other error of json.loads on a str
            raise NewsqaError(f"{where}: {NUMBER_TOO_LONG}", hint="fix that line") from exc
        if not isinstance(record, dict) or not isinstance(record.get("question"), str):
            raise NewsqaError(f"{where}: no `question`", hint='each line needs {"question": ...}')
        as_of = None
        if record.get("as_of"):
            as_of = parse_date(str(record["as_of"]))
            if as_of is None:
                raise NewsqaError(f"{where}: `as_of` is not a date", hint="use YYYY-MM-DD")
        questions.append(Question(
            id=str(record.get("id") or f"q{lineno}"),
            question=record["question"],
            as_of=as_of[:10] if as_of else None,
            answers=_strings(record["answers"], "answers", where) if "answers" in record
            else None,
            choices=_strings(record.get("choices", []), "choices", where),
            gold_urls=_strings(record.get("gold_urls", []), "gold_urls", where),
        ))
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise NewsqaError(f"{path}: the id {dup!r} is used twice",
                          hint="give each question its own id")
    return questions


def has_gold(questions: Sequence[Question]) -> bool:
    """Whether the run can be scored: some question has gold answers, URLs or choices."""
    return any(q.answers is not None or q.gold_urls or q.choices for q in questions)
