"""Ask: retrieve, select evidence, generate, verify. One function, no global state."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from qa.embedders import Embedder
from qa.errors import NewsqaError
from qa.evidence import EvidenceParams, select_evidence
from qa.generators import Generator
from qa.news import disagreement, latest_note, newest_first, wants_latest
from qa.prompts import SHORT_ANSWER_STOP, short_answer_prompt
from qa.records import Answer, Evidence, Filters
from qa.retrieve import RetrieveParams, retrieve
from qa.shaping import complete_list, reporting_source
from qa.store import Index
from qa.verify import verify

MAX_QUESTION_CHARS = 2000
MAX_K = 100


@dataclass(frozen=True)
class AskParams:
    retrieve: RetrieveParams = field(default_factory=RetrieveParams)
    evidence: EvidenceParams = field(default_factory=EvidenceParams)
    max_tokens: int = 48
    # When a draft fails verification, try again from the best 1, then 2 sentences alone: a tiny
    # model distracted by a wrong sentence often answers right from the right one.
    retries: int = 2


def check_question(question: str, params: AskParams) -> str:
    question = " ".join(question.split())
    if not question:
        raise NewsqaError("the question is empty", hint='ask something, e.g. newsqa ask "..."')
    if len(question) > MAX_QUESTION_CHARS:
        raise NewsqaError(
            f"the question is {len(question):,} characters long (at most {MAX_QUESTION_CHARS:,})",
            hint="ask a shorter question",
        )
    if not 1 <= params.retrieve.k <= MAX_K:
        raise NewsqaError(f"--k must be between 1 and {MAX_K}", hint="try --k 5")
    return question


def ask(question: str, *, index: Index, embedder: Embedder, generator: Generator,
        filters: Filters | None = None, params: AskParams | None = None,
        on_text: Callable[[str], None] | None = None) -> Answer:
    """Answer `question` from `index`; `on_text` receives the draft as it is generated."""
    filters = filters or Filters()
    params = params or AskParams()
    question = check_question(question, params)
    with index.snapshot():  # one committed state of the index, whatever is written meanwhile
        return _ask(question, index, embedder, generator, filters, params, on_text)


def _ask(question: str, index: Index, embedder: Embedder, generator: Generator,
         filters: Filters, params: AskParams, on_text: Callable[[str], None] | None) -> Answer:
    started = time.perf_counter()
    latest = wants_latest(question)
    query_vector = embedder.embed([question])[0]
    hits = retrieve(index, question, query_vector, filters, params.retrieve, latest=latest)
    retrieved = time.perf_counter()
    evidence = select_evidence(question, query_vector, hits, embedder, params.evidence)
    if latest:
        evidence = newest_first(evidence)
    selected = time.perf_counter()

    attempts = [evidence] + [evidence[:n] for n in range(1, params.retries + 1)
                             if n < len(evidence)]
    draft, verified, generate_s, verify_s = "", verify("", question, evidence), 0.0, 0.0
    for attempt, shown in enumerate(attempts if evidence else []):
        began = time.perf_counter()
        draft = _draft(question, shown, generator, params, on_text if attempt == 0 else None)
        checked = time.perf_counter()
        shaped = reporting_source(question, evidence) or draft
        verified = verify(complete_list(question, shaped, evidence), question, evidence)
        generate_s += checked - began
        verify_s += time.perf_counter() - checked
        if verified.answerable:
            break
    notes, cited = [], list(verified.citations)
    differing = disagreement(verified, question, evidence)
    if differing is not None:
        notes.append(differing[0])
        cited.append(differing[1])
    newest = latest_note(cited) if latest and verified.answerable else None
    if newest is not None:
        notes.append(newest)
    carriers = index.carriers(list(dict.fromkeys(c.article_id for c in cited)))
    citations = tuple(replace(c, carried_by=carriers.get(c.article_id, ())) for c in cited)
    done = time.perf_counter()
    return Answer(
        question=question,
        answer=verified.text,
        answerable=verified.answerable,
        citations=citations,
        retrieved=tuple(hits),
        model=generator.name,
        timings={
            "retrieve_s": retrieved - started,
            "evidence_s": selected - retrieved,
            "generate_s": generate_s,
            "verify_s": verify_s,
            "total_s": done - started,
        },
        draft=draft,
        evidence=tuple(evidence),
        notes=tuple(notes),
    )


def _draft(question: str, evidence: Sequence[Evidence], generator: Generator,
           params: AskParams, on_text: Callable[[str], None] | None) -> str:
    text = ""
    for piece in generator.complete(short_answer_prompt(question, evidence),
                                    max_tokens=params.max_tokens, stop=SHORT_ANSWER_STOP):
        text += piece
        if on_text is not None:
            on_text(piece)
    return text.strip()
