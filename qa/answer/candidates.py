"""Choose rather than write: candidate answers of the asked-for kind, cut from the evidence. The
bundled generators are better judges than writers (multiple choice is answered better than free
questions, docs/benchmarks.md). When the question names the kind of answer it wants (a count, a
duration, a year, a person, a place, `qa.answer.expect`), the spans of that kind are cut from the
evidence sentences and ranked by three signals, each standardised across the candidates:

* how much more likely the generator finds the span as the answer after the evidence than
  after no context (the likelihood gain that also picks multiple-choice options);
* how many of the question's words the span's sentence (with the one before it) contains;
* the sentence's evidence score (its closeness to the question and its article's rank).

The winner still has to pass verification like any draft.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.answer.expect import Kind, fits_kind
from qa.answer.prompts import short_answer_prompt
from qa.core.records import Evidence
from qa.core.text import NUMBER_WORDS, content_terms, tokens
from qa.models.generators import Generator, OptionScorer

MAX_CANDIDATES = 8

_NUMBER = r"(?:[$€£]\s?)?\d+(?:[.,:]\d+)*(?:\s?%)?"
_SCALE = r"(?:\s+(?:million|billion|trillion|thousand|hundred|percent|per cent))?"
_UNIT = r"(?:\s+[a-z][\w-]*){0,2}"
_SPANS = {
    Kind.COUNT: re.compile(rf"{_NUMBER}{_SCALE}|\b(?:{'|'.join(NUMBER_WORDS)})\b", re.IGNORECASE),
    Kind.AMOUNT: re.compile(rf"{_NUMBER}{_SCALE}{_UNIT}"),
    Kind.PERCENT: re.compile(rf"{_NUMBER}(?:\s+(?:percent|per cent|percentage points?))?"),
    Kind.YEAR: re.compile(r"\b(?:1\d{3}|20\d\d)\b"),
    Kind.DURATION: re.compile(
        r"\b\d{1,2}:\d\d(?::\d\d)?\b|(?:\b(?:\d+(?:\.\d+)?|a|an|one|two|three|four|five|six|"
        r"seven|eight|nine|ten|eleven|twelve)\s+(?:[a-z]+\s+)?(?:seconds?|minutes?|hours?|days?|"
        r"weeks?|months?|years?|decades?|centuries)(?:,?\s+(?:and\s+)?\d+\s+(?:seconds?|"
        r"minutes?|hours?))*)", re.IGNORECASE),
    Kind.TIME: re.compile(
        r"\b(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}(?:,\s+\d{4})?"
        r"|\b(?:January|February|March|April|May|June|July|August|September|October|November|"
        r"December)(?:\s+\d{4})?|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|"
        r"Sunday)\b|\b(?:next|last|this)\s+(?:week|month|year|spring|summer|fall|autumn|"
        r"winter)\b|\b\d{1,2}(?::\d\d)?\s*[ap]\.m\.", re.IGNORECASE),
}
_NAME = re.compile(
    r"(?<![\w'’])[A-Z][\w'’&.-]*(?:\s+(?:of|the|de|del|la|van|von|and|&)\s+[A-Z][\w'’&.-]*"
    r"|\s+[A-Z][\w'’&.-]*)*")
_OPENERS = frozenset([
    "The", "A", "An", "He", "She", "They", "It", "We", "I", "This", "That", "These", "Those", "His",
    "Her", "Its", "Their", "In", "On", "At", "By", "For", "Of", "To", "From", "With", "And", "Or",
    "But", "After", "Before", "When", "While", "However", "Meanwhile",
])


@dataclass(frozen=True)
class Candidate:
    text: str
    evidence: Evidence


def _names(sentence: str) -> list[str]:
    """Runs of capitalised words; a lone capitalised word opening the sentence is no name."""
    opening = len(sentence) - len(sentence.lstrip(" \"“‘'"))
    out = []
    for match in _NAME.finditer(sentence):
        words = match.group(0).rstrip(".").split()
        while words and words[0] in _OPENERS:
            words = words[1:]
        if words and re.search(r"['’]s$", words[-1]):
            continue  # "Loomgrid's total funding": the owner, not the answer
        if not words or (match.start() == opening and len(match.group(0).split()) == 1):
            continue
        out.append(" ".join(words))
    return out


def _with_counted(text: str, match: re.Match[str], asked: set[str]) -> str:
    """A number with what it counts, when the question names that: "212 damaged homes" for a
    question about homes; the bare number otherwise."""
    span = match.group(0).strip()
    following = text[match.end():].split()[:2]
    for n in range(len(following), 0, -1):
        words = [w.strip(".,;:") for w in following[:n]]
        if words[-1] and words[-1].lower() in asked and all(w.isalpha() for w in words):
            return f"{span} {' '.join(words)}"
    return span


def extract(kind: Kind, question: str, evidence: Sequence[Evidence],
            asked_about: str | None = None) -> list[Candidate]:
    """Spans of `kind` in the evidence (best sentences first), without the ones that only
    repeat the question's own words (or those of `asked_about`, the whole question a part was
    cut from), at most MAX_CANDIDATES, each once."""
    asked = set(tokens(question)) | set(tokens(asked_about or ""))
    seen: set[str] = set()
    out: list[Candidate] = []
    for e in sorted(evidence, key=lambda e: -e.score):
        if kind in (Kind.PERSON, Kind.PLACE):
            spans = _names(e.text)
        else:
            spans = [_with_counted(e.text, m, asked) for m in _SPANS[kind].finditer(e.text)]
        for span in spans:
            own = [t for t in tokens(span) if t not in asked]
            key = span.lower()
            if not own or key in seen or not fits_kind(span, kind):
                continue
            seen.add(key)
            out.append(Candidate(span, e))
            if len(out) == MAX_CANDIDATES:
                return out
    return out


def _z(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    spread = array.std()
    return (array - array.mean()) / spread if spread > 0 else np.zeros_like(array)


def _context_overlap(question_terms: set[str], e: Evidence) -> float:
    before = e.article.text[max(0, e.start - 300): e.start]
    terms = set(content_terms(f"{before} {e.text}"))
    return len(question_terms & terms) / len(question_terms) if question_terms else 0.0


def rank(question: str, candidates: Sequence[Candidate], evidence: Sequence[Evidence],
         generator: Generator) -> list[Candidate]:
    """The candidates, best first; none when the generator cannot score them (the other two
    signals alone picked wrong spans too often to be trusted with an answer)."""
    if not candidates or not isinstance(generator, OptionScorer):
        return []
    question_terms = set(content_terms(question))
    total = _z([_context_overlap(question_terms, c.evidence) for c in candidates])
    total += _z([c.evidence.score for c in candidates])
    texts = [c.text for c in candidates]
    with_evidence = generator.score_options(short_answer_prompt(question, evidence), texts)
    without = generator.score_options(short_answer_prompt(question, ()), texts)
    total += _z(np.asarray(with_evidence) - np.asarray(without))
    order = sorted(range(len(candidates)), key=lambda i: (-float(total[i]), i))
    return [candidates[i] for i in order]
