"""`newsqa eval`: answer a file of questions, resumably, and score the run.

Files written to the output folder:
- `answers.jsonl`: one `--json`-shaped answer a line, plus `id`, the multiple-choice pick and the
  question's wall time; appended and flushed question by question, so a killed run resumes, and
  never rewritten (only `--restart` discards it), so a run of fewer questions loses nothing;
- `run.json`: the settings of the run (a resumed run must use the same) and its wall time;
- `.lock`: held by the run writing the folder, so that a second run is refused;
- `run.trec` / `qrels.txt`: the retrieved articles as a TREC run, and the gold articles as qrels;
- with gold fields: `report.json`, `report.md` and `report.png`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.answer.pipeline import AskParams, ask
from qa.core.errors import NewsqaError
from qa.core.records import Filters
from qa.eval.choices import pick_choice
from qa.eval.metrics import (
    contains_gold,
    distinct,
    exact_match,
    is_right,
    mean,
    normalize_url,
    percentile,
    recall_at_k,
    reciprocal_rank,
    strip_citations,
    token_f1,
)
from qa.ingest.readers import NUMBER_TOO_LONG, parse_date
from qa.models.embedders import Embedder
from qa.models.generators import Generator
from qa.store.index import Index
from qa.store.locks import lock_folder

ANSWERS = "answers.jsonl"
RUN = "run.json"


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


# --- running ---------------------------------------------------------------------------------


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


def _read_done(path: Path, wanted: dict[str, str]) -> list[dict[str, Any]]:
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
        if (record is not None and record.get("id") in wanted
                and record.get("question") == wanted[record["id"]]):
            records.append(record)
    return records


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:  # not JSON, not UTF-8, or a number too long to convert
        return None
    return record if isinstance(record, dict) else None


def run_eval(questions: Sequence[Question], out: Path, *, index: Index, embedder: Embedder,
             generator: Generator, settings: dict[str, Any], settings_fingerprint: str = "",
             filters: Filters | None = None, params: AskParams | None = None,
             restart: bool = False,
             on_question: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Answer every question not yet answered in `out` (whose `run_folder` the caller holds);
    return the records of `questions`, in their order. Answers saved in `out` for other
    questions are kept, so a run of the first N questions never undoes a longer one.
    `settings` describe the run for its reader; `settings_fingerprint` (qa.core.settings)
    identifies it: a run is resumed only under the same one."""
    started = time.perf_counter()
    filters = filters or Filters()
    params = params or AskParams()
    run_file, answers_file = out / RUN, out / ANSWERS
    run: dict[str, Any] = {"settings": settings, "settings_fingerprint": settings_fingerprint,
                           "wall_s": 0.0, "sessions": 0}
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
        same = (previous.get("settings_fingerprint") == settings_fingerprint
                if "settings_fingerprint" in previous else previous.get("settings") == settings)
        if not same:
            raise NewsqaError(
                f"{out} holds a run with other settings ({previous.get('settings')})",
                hint="resume with the same options, pick another --out, or add --restart",
            )
        run = previous
    wanted = {q.id: " ".join(q.question.split()) for q in questions}
    done = {r["id"]: r for r in _read_done(answers_file, wanted)}
    todo = [q for q in questions if q.id not in done]
    if on_question is not None:
        on_question(len(done), len(questions))

    def save_run(wall_s: float) -> None:
        run["wall_s"] = wall_s
        tmp = run_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, run_file)

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
                sink.write(json.dumps(done[question.id], ensure_ascii=False) + "\n")
                sink.flush()
                save_run(previous_wall + time.perf_counter() - started)
                if on_question is not None:
                    on_question(len(done), len(questions))
    finally:
        save_run(previous_wall + time.perf_counter() - started)
    return [done[q.id] for q in questions]


def answer_one(question: Question, *, index: Index, embedder: Embedder, generator: Generator,
               filters: Filters, params: AskParams) -> dict[str, Any]:
    began = time.perf_counter()
    try:
        answer = ask(question.question, index=index, embedder=embedder, generator=generator,
                     filters=filters.ending(question.as_of), params=params)
    except NewsqaError as exc:
        return {"id": question.id, "question": " ".join(question.question.split()),
                "answer": "", "answerable": False, "citations": [], "retrieved": [],
                "model": generator.name, "timings": {}, "error": exc.message,
                "wall_s": round(time.perf_counter() - began, 4)}
    record: dict[str, Any] = {"id": question.id, **answer.to_json()}
    # What the generator wrote and what it was shown, so a wrong answer can be traced.
    record["draft"] = answer.draft
    record["evidence"] = [{"article_id": e.article.id, "start": e.start, "end": e.end,
                           "score": round(e.score, 6), "text": e.text} for e in answer.evidence]
    if question.choices:
        picked, rule = pick_choice(answer, question.choices, generator, embedder)
        record.update(choice=question.choices[picked], choice_index=picked, choice_rule=rule)
    record["wall_s"] = round(time.perf_counter() - began, 4)
    return record


# --- scoring ---------------------------------------------------------------------------------


def gold_article_ids(index: Index, questions: Sequence[Question]) -> dict[str, set[str]]:
    """Each question's gold URLs, as the ids of the stored articles with those URLs; a gold
    article kept as a syndicated copy counts as the article it was folded into."""
    by_url: dict[str, str] = {}
    for article_id, url in index.article_urls():
        by_url.setdefault(normalize_url(url), article_id)
    return {q.id: {by_url[u] for u in map(normalize_url, q.gold_urls) if u in by_url}
            for q in questions}


def _ranked_articles(record: dict[str, Any]) -> list[str]:
    return distinct(r["article_id"] for r in record.get("retrieved", []))


def score_run(questions: Sequence[Question], records: Sequence[dict[str, Any]], index: Index,
              wall_s: float | None = None, k: int = 10) -> dict[str, Any]:
    """All metrics of a run; each value is None where no question has the gold it needs, and
    a cutoff deeper than the `k` articles retrieved is None rather than a truncated figure."""
    gold = gold_article_ids(index, questions)
    by_id = {r["id"]: r for r in records}
    texts: dict[str, str | None] = {}

    def article_text(article_id: str) -> str | None:
        if article_id not in texts:
            article = index.article(article_id)
            texts[article_id] = article.text if article else None
        return texts[article_id]

    r1: list[float] = []
    r5: list[float] = []
    r10: list[float] = []
    mrr: list[float] = []
    em: list[float] = []
    f1: list[float] = []
    has: list[float] = []
    right_when_answered: list[float] = []
    mc: list[float] = []
    cites_gold: list[float] = []
    gold_share: list[float] = []
    exact_quotes: list[float] = []
    refused_right: list[float] = []
    refused_wrong: list[float] = []
    latency: list[float] = []
    rules: dict[str, int] = {}
    for q in questions:
        record = by_id.get(q.id)
        if record is None:
            continue
        latency.append(float(record.get("wall_s") or record.get("timings", {}).get("total_s", 0)))
        ranked = _ranked_articles(record)
        if q.gold_urls:
            r1.append(recall_at_k(ranked, gold[q.id], 1))
            r5.append(recall_at_k(ranked, gold[q.id], 5))
            r10.append(recall_at_k(ranked, gold[q.id], 10))
            mrr.append(reciprocal_rank(ranked, gold[q.id], 10))
        prediction = strip_citations(record.get("answer", "")) if record.get("answerable") else ""
        if q.answers:
            em.append(exact_match(prediction, q.answers))
            f1.append(token_f1(prediction, q.answers))
            has.append(contains_gold(prediction, q.answers))
            refused_wrong.append(float(not record.get("answerable")))
            if record.get("answerable"):
                right_when_answered.append(float(is_right(prediction, q.answers)))
        elif q.answers is not None:
            refused_right.append(float(not record.get("answerable")))
        if q.choices and q.answers and "choice" in record:
            mc.append(float(record["choice"] in q.answers))
            rules[record["choice_rule"]] = rules.get(record["choice_rule"], 0) + 1
        cited = [c["article_id"] for c in record.get("citations", [])]
        if gold.get(q.id):
            cites_gold.append(float(bool(set(cited) & gold[q.id])))
            gold_share.extend(float(a in gold[q.id]) for a in cited)
        for citation in record.get("citations", []):
            text = article_text(citation["article_id"])
            exact_quotes.append(float(text is not None and citation["quote"] in text))

    def m(values: list[float]) -> float | None:
        value = mean(values)
        return None if value is None else round(value, 4)

    return {
        "questions": len(questions),
        "answered": sum(q.id in by_id for q in questions),
        "retrieval": {"n": len(r1), "gold_in_index": sum(bool(gold[q.id]) for q in questions
                                                         if q.gold_urls),
                      "recall@1": m(r1), "recall@5": m(r5) if k >= 5 else None,
                      "recall@10": m(r10) if k >= 10 else None,
                      "mrr@10": m(mrr) if k >= 10 else None},
        "answers": {"n": len(em), "exact_match": m(em), "f1": m(f1), "contains_gold": m(has),
                    "n_answered": len(right_when_answered),
                    "precision": m(right_when_answered)},
        "multiple_choice": {"n": len(mc), "accuracy": m(mc), "rules": rules},
        "citations": {"n": len(cites_gold), "cites_gold": m(cites_gold),
                      "gold_share": m(gold_share), "quotes": len(exact_quotes),
                      "quote_exact": m(exact_quotes)},
        "refusals": {"n_unanswerable": len(refused_right), "refusal_rate": m(refused_right),
                     "n_answerable": len(refused_wrong), "false_refusal_rate": m(refused_wrong)},
        "latency": {"n": len(latency), "p50_s": round(percentile(latency, 50), 3) if latency
                    else None, "p90_s": round(percentile(latency, 90), 3) if latency else None,
                    "wall_s": None if wall_s is None else round(wall_s, 3)},
        "latencies_s": [round(x, 3) for x in latency],
    }


def has_gold(questions: Sequence[Question]) -> bool:
    return any(q.answers is not None or q.gold_urls or q.choices for q in questions)


def write_trec(out: Path, questions: Sequence[Question], records: Sequence[dict[str, Any]],
               index: Index, run_name: str = "newsqa") -> None:
    """`run.trec` (qid Q0 docno rank score tag; an article's score is its best chunk's) and,
    where gold URLs resolve to stored articles, `qrels.txt` (qid 0 docno 1)."""
    by_id = {r["id"]: r for r in records}
    lines = []
    for q in questions:
        record = by_id.get(q.id)
        if record is None:
            continue
        best: dict[str, float] = {}
        for hit in record.get("retrieved", []):
            best[hit["article_id"]] = max(best.get(hit["article_id"], float("-inf")), hit["score"])
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
        for rank, (article_id, score) in enumerate(ranked, start=1):
            lines.append(f"{q.id} Q0 {article_id} {rank} {score:.6f} {run_name}\n")
    (out / "run.trec").write_text("".join(lines), encoding="utf-8")
    gold = gold_article_ids(index, questions)
    qrels = [f"{q.id} 0 {a} 1\n" for q in questions for a in sorted(gold[q.id])]
    if qrels:
        (out / "qrels.txt").write_text("".join(qrels), encoding="utf-8")
