"""Ask: retrieve, select evidence, generate, verify. One function, no global state."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from qa.answer import candidates
from qa.answer.evidence import select_evidence
from qa.answer.expect import expected_kind
from qa.answer.news import (
    disagreement,
    exact_figure,
    latest_note,
    newest_first,
    revision_note,
    superseded,
    wants_latest,
)
from qa.answer.prompts import REFUSAL, SHORT_ANSWER_STOP, short_answer_prompt
from qa.answer.shaping import complete_list, keep_hedges, reporting_source
from qa.answer.verify import Verified, verify
from qa.core.errors import NewsqaError
from qa.core.records import Answer, Citation, Evidence, Filters
from qa.core.settings import MAX_K as MAX_K  # defined with the other settings
from qa.core.settings import AskParams as AskParams
from qa.core.settings import check_k
from qa.core.text import content_terms
from qa.models.embedders import Embedder
from qa.models.generators import Generator
from qa.search.retrieve import retrieve
from qa.store.index import Index

MAX_QUESTION_CHARS = 2000


def check_question(question: str, k: int) -> str:
    """The question with its white space normalised, or the error that says what is wrong
    with it or with `k`, the articles it is to retrieve (checked before any index or model
    is opened)."""
    question = " ".join(question.split())
    if not question:
        raise NewsqaError("the question is empty", hint='ask something, e.g. newsqa ask "..."')
    if not any(c.isalnum() for c in question):
        raise NewsqaError(f"the question {question[:40]!r} has no words",
                          hint='ask in words, e.g. newsqa ask "Who won the marathon?"')
    if len(question) > MAX_QUESTION_CHARS:
        raise NewsqaError(
            f"the question is {len(question):,} characters long (at most {MAX_QUESTION_CHARS:,})",
            hint="ask a shorter question",
        )
    check_k(k)
    return question


def ask(question: str, *, index: Index, embedder: Embedder, generator: Generator,
        filters: Filters | None = None, params: AskParams | None = None,
        on_text: Callable[[str], None] | None = None) -> Answer:
    """Answer `question` from `index`; `on_text` receives the draft as it is generated."""
    filters = filters or Filters()
    params = params or AskParams()
    question = check_question(question, params.retrieve.k)
    with index.snapshot():  # one committed state of the index, whatever is written meanwhile
        return _ask(question, index, embedder, generator, filters, params, on_text)


def _ask(question: str, index: Index, embedder: Embedder, generator: Generator,
         filters: Filters, params: AskParams, on_text: Callable[[str], None] | None) -> Answer:
    started = time.perf_counter()
    if not content_terms(question):
        # Nothing to search for ("the", an emoji): whatever came back would be unrelated, and
        # a cited fact about it would look like an answer.
        return Answer(question=question, answer=REFUSAL, answerable=False, citations=(),
                      retrieved=(), model=generator.name,
                      timings={"retrieve_s": 0.0, "evidence_s": 0.0, "generate_s": 0.0,
                               "verify_s": 0.0, "total_s": time.perf_counter() - started})
    latest = wants_latest(question)
    query_vector = embedder.embed([question])[0]
    hits = retrieve(index, question, query_vector, filters, params.retrieve)
    retrieved = time.perf_counter()
    evidence = select_evidence(question, query_vector, hits, embedder, params.evidence)
    if latest:
        evidence = newest_first(evidence)
    selected = time.perf_counter()

    parts = compound_parts(question)
    outcomes = [_answer_part(part, question, evidence, generator, params,
                             on_text if n == 0 else None, latest)
                for n, part in enumerate(parts)]
    draft = " ".join(o.draft for o in outcomes)
    generate_s = sum(o.generate_s for o in outcomes)
    verify_s = sum(o.verify_s for o in outcomes)
    verified = outcomes[0].verified if len(parts) == 1 else \
        merge_parts(parts, [o.verified for o in outcomes])
    notes, cited = [], list(verified.citations)
    differing = disagreement(verified, question, evidence)
    if differing is not None:
        notes.append(differing[0])
        cited.append(differing[1])
    revised = revision_note(verified)
    if revised is not None:
        notes.append(revised)
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


@dataclass(frozen=True)
class _Outcome:
    draft: str
    verified: Verified
    generate_s: float
    verify_s: float


def _answer_part(question: str, whole: str, evidence: list[Evidence], generator: Generator,
                 params: AskParams, on_text: Callable[[str], None] | None,
                 latest: bool) -> _Outcome:
    """Draft and verify one question (`whole` is the question it is part of, if compound),
    retrying from fewer sentences when a draft fails."""
    attempts = [evidence] + [evidence[:n] for n in range(1, params.retries + 1)
                             if n < len(evidence)]
    draft, verified, generate_s, verify_s = "", verify("", question, evidence), 0.0, 0.0
    for attempt, shown in enumerate(attempts if evidence else []):
        began = time.perf_counter()
        draft = _draft(question, shown, generator, params, on_text if attempt == 0 else None)
        checked = time.perf_counter()
        shaped = reporting_source(question, evidence) or draft
        verified = verify(complete_list(question, shaped, evidence), question, evidence)
        if latest and superseded(verified, evidence):
            # A newer report in the evidence gives another figure: not the latest answer.
            verified = verify("", question, evidence)
        generate_s += checked - began
        verify_s += time.perf_counter() - checked
        if verified.answerable:
            break
    kind = expected_kind(question)
    if not verified.answerable and kind is not None and evidence:
        # The drafts failed: choose among the spans of the asked-for kind instead.
        began = time.perf_counter()
        ranked = candidates.rank(question, candidates.extract(kind, question, evidence, whole),
                                 evidence, generator)
        for candidate in ranked[:params.candidate_tries]:
            verified = verify(candidate.text, question, evidence, kind)
            if latest and superseded(verified, evidence):
                verified = verify("", question, evidence)
            if verified.answerable:
                break
        verify_s += time.perf_counter() - began
    if latest and (exact := exact_figure(verified, evidence)) is not None:
        counted = verify(exact, question, evidence, kind)
        if counted.answerable and not superseded(counted, evidence):
            verified = counted
    if verified.answerable:
        verified = replace(verified, text=keep_hedges(
            verified.text, [c.quote for c in verified.citations]))
    return _Outcome(draft, verified, generate_s, verify_s)


# "How much did Loomgrid raise, and who led the round?": two questions in one.
_COMPOUND = re.compile(
    r"^(?P<first>.*\b(?:who|what|when|where|which|how|why)\b.*?),?\s+and\s+"
    r"(?P<second>(?:who|what|when|where|which|how|why)\b.+)$", re.IGNORECASE)


def compound_parts(question: str) -> list[str]:
    """The questions a compound question asks, in order (the question itself when it is one)."""
    match = _COMPOUND.match(question)
    if match is None or len(match.group("first").split()) < 3 \
            or len(match.group("second").split()) < 3:
        return [question]
    first = match.group("first").rstrip(" ,;")
    second = match.group("second")
    if not first.endswith("?"):
        first += "?"
    return [first, second[0].upper() + second[1:]]


_MARKERS = re.compile(r"\[(\d+)\]")


def merge_parts(parts: Sequence[str], answers: Sequence[Verified]) -> Verified:
    """One answer from the answers to each part, citations numbered afresh; a part the archive
    does not answer is named, so a reader knows which half is missing."""
    if not any(a.answerable for a in answers):
        return Verified(REFUSAL, (), False)
    numbering: dict[tuple[str, str], int] = {}
    citations: list[Citation] = []
    texts = []
    for part, answer in zip(parts, answers, strict=True):
        if not answer.answerable:
            texts.append(f"The archive does not answer “{part}”")
            continue
        renumber: dict[int, int] = {}
        for c in answer.citations:
            if (c.article_id, c.quote) not in numbering:
                numbering[(c.article_id, c.quote)] = len(numbering) + 1
                citations.append(replace(c, key=numbering[(c.article_id, c.quote)]))
            renumber[c.key] = numbering[(c.article_id, c.quote)]
        texts.append(_renumbered(answer.text, renumber))
    return Verified(" ".join(texts), tuple(citations), True)


def _renumbered(text: str, keys: dict[int, int]) -> str:
    return _MARKERS.sub(lambda m: f"[{keys[int(m.group(1))]}]", text)


def _draft(question: str, evidence: Sequence[Evidence], generator: Generator,
           params: AskParams, on_text: Callable[[str], None] | None) -> str:
    text = ""
    for piece in generator.complete(short_answer_prompt(question, evidence),
                                    max_tokens=params.max_tokens, stop=SHORT_ANSWER_STOP):
        text += piece
        if on_text is not None:
            on_text(piece)
    return text.strip()
