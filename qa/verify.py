"""Citations are verified, not trusted.

Each sentence of a draft answer is checked against the numbered evidence the generator was
shown. A sentence is supported by an evidence sentence when the evidence contains what the
claim adds to the question:

* the claim's *new* content words (stemmed; words that only repeat the question do not count)
  all appear in the evidence when there are one or two of them, or at least 85% when more;
* a claim that negates ("not", "never", "didn't") needs evidence that negates too;
* every number in the claim appears in the evidence;
* every name in the question (a capitalised word past the first) and every number in it (a
  year, say) appears in the cited article or its date, so an answer about "China's foreign
  ministry" or "the 2023 final" cannot rest on an article that never names China or 2023.

A citation the generator wrote is kept when it passes; a sentence with no passing citation is
given the best passing evidence, if any; a sentence with none is dropped. An answer with no
supported sentence becomes the refusal. Quotes are cut from the article by offsets, so they are
always exact substrings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.prompts import REFUSAL
from qa.records import Citation, Evidence
from qa.text import (
    contains_term,
    content_terms,
    is_number,
    proper_names,
    sentence_spans,
    tokens,
)

_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_NON_ANSWER = re.compile(
    r"not in the archive|does not (?:say|answer|mention|specify)|no information|"
    r"cannot (?:be )?answer|not (?:stated|mentioned|given|specified)|^unknown\b|^none\b|"
    r"^i don'?t know",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verified:
    text: str
    citations: tuple[Citation, ...]
    answerable: bool


def _strip_markers(sentence: str) -> tuple[str, list[int]]:
    keys = [int(k) for m in _MARKER.finditer(sentence) for k in m.group(1).split(",")]
    return _MARKER.sub("", sentence).strip(), keys


def support(claim: str, question: str, evidence: Evidence) -> float:
    """How well `evidence` backs `claim` as an answer to `question`: 0.0 (not at all) to 1.0."""
    question_terms = set(content_terms(question))
    new = [t for t in dict.fromkeys(content_terms(claim)) if not contains_term(t, question_terms)]
    if not new:
        return 0.0  # the claim only restates the question
    found = set(content_terms(evidence.text))
    if any(is_number(t) and t not in found for t in new):
        return 0.0
    coverage = sum(contains_term(t, found) for t in new) / len(new)
    if coverage < (1.0 if len(new) <= 2 else 0.85):
        return 0.0
    if _negated(claim) and not _negated(evidence.text):
        return 0.0  # "not X" is not supported by a sentence that says X
    article = evidence.article
    article_terms = set(content_terms(f"{article.title}\n{article.text}\n{article.date or ''}"))
    if not all(contains_term(name, article_terms) for name in proper_names(question)):
        return 0.0
    if not all(n in article_terms for n in content_terms(question) if is_number(n)):
        return 0.0
    return coverage


_NEGATIONS = frozenset({"not", "no", "never", "nor", "none", "neither", "without", "cannot"})


def _negated(text: str) -> bool:
    return any(t in _NEGATIONS or t.endswith("n't") for t in tokens(text))


def _claims(draft: str) -> list[str]:
    spans = sentence_spans(draft)
    return [draft[s:e] for s, e in spans] if spans else []


def _finish(claim: str, keys: Sequence[int]) -> str:
    claim = claim.rstrip()
    end = claim[-1] if claim and claim[-1] in ".!?" else "."
    body = claim[:-1].rstrip() if claim and claim[-1] in ".!?" else claim
    return f"{body} " + "".join(f"[{k}]" for k in keys) + end


def verify(draft: str, question: str, evidence: Sequence[Evidence]) -> Verified:
    by_key = {e.key: e for e in evidence}
    kept: list[tuple[str, list[Evidence]]] = []
    if not _NON_ANSWER.search(draft.strip()):
        for sentence in _claims(draft):
            claim, keys = _strip_markers(sentence)
            if not claim or _NON_ANSWER.search(claim):
                continue
            scored = [(support(claim, question, e), e) for e in evidence]
            passing = [(s, e) for s, e in scored if s > 0]
            cited = [e for _, e in passing if e.key in keys and e.key in by_key]
            best = sorted(passing, key=lambda se: (-se[0], -se[1].score))[:1]
            backing = cited or [e for _, e in best]
            if backing:
                kept.append((claim, backing))
    if not kept:
        return Verified(REFUSAL, (), False)

    numbering: dict[int, int] = {}
    citations: list[Citation] = []
    sentences = []
    for claim, backing in kept:
        keys = []
        for e in backing:
            if e.key not in numbering:
                numbering[e.key] = len(numbering) + 1
                citations.append(
                    Citation(key=numbering[e.key], article_id=e.article.id, url=e.article.url,
                             title=e.article.title, source=e.article.source,
                             published=e.article.date, quote=e.text)
                )
            keys.append(numbering[e.key])
        sentences.append(_finish(claim, sorted(set(keys))))
    return Verified(" ".join(sentences), tuple(citations), True)
