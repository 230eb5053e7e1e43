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
  ministry" or "the 2023 final" cannot rest on an article that never names China or 2023;
* a number in the claim keeps its unit in the evidence ("12 years" is not supported by "the
  12th race", nor "2 hours" by "2 miles"), and is not the old value the evidence revises ("212
  homes, up from the preliminary figure of 140" does not support "140 homes");
* the question's qualifiers ("the women's race", "the first round") appear in the cited
  sentence, the sentence before it or the headline (`qa.answer.expect.qualifiers`);
* a number answering "how many homes" counts homes in the evidence when the evidence gives it
  a unit at all ("186,000 passengers" does not answer "how many sailings");
* in a sentence of several figures, the claim's figure is the one the question's words are
  said of ("$410,000 for two officers ... and $150,000 toward the library expansion");
* the claim is of the kind the question asks for: a duration for "how long", a count for "how
  many", a name for "who", a name the evidence puts after "in", "at", "near" ... for "where"
  (`qa.answer.expect`);
* the claim is at most `MAX_CLAIM_WORDS` words (a copied passage is not a short answer), is
  not a sentence's fragment cut off by the token limit, does not only
  restate the noun a "which" question asks for, and the question is not one of those ("all of
  these films except") that only the options it does not give can answer.

A citation the generator wrote is kept when it passes; a sentence with no passing citation is
given the best passing evidence, if any; a sentence with none is dropped. An answer with no
supported sentence becomes the refusal. Quotes are cut from the article by offsets, so they are
always exact substrings. The checks on a claim's figures are in qa/answer/figures.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.answer.expect import (
    Kind,
    asks_exclusion,
    expected_kind,
    fits_kind,
    qualifiers,
    restates_question,
)
from qa.answer.figures import (
    bound_elsewhere,
    counts_asked,
    revised_away,
    revised_later,
    units_kept,
)
from qa.answer.prompts import REFUSAL
from qa.core.records import Citation, Evidence
from qa.core.text import (
    STOPWORDS,
    contains_term,
    content_terms,
    is_number,
    proper_names,
    sentence_spans,
    spelled_numbers,
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


# Words a draft strings around citation markers ("and cite [9]", "see [2]"): once the
# markers are taken out, a tail of only these is left over, not part of the claim.
_CITING = frozenset({"cite", "cites", "citing", "cited", "see", "source", "sources", "ref",
                     "reference", "references", "also"})


def _leftover(piece: str) -> bool:
    return not any(ch.isdigit() for ch in piece) and \
        all(t in STOPWORDS or t in _CITING for t in tokens(piece))


def _strip_markers(sentence: str) -> tuple[str, list[int]]:
    """The sentence without its citation markers, and their keys. What follows the markers
    and holds only function or citing words ("... [1] and cite and [9].") goes with them."""
    keys = [int(k) for m in _MARKER.finditer(sentence) for k in m.group(1).split(",")]
    pieces = _MARKER.split(sentence)[::2]  # the text between markers (split keeps the groups)
    kept = len(pieces)
    while kept > 1 and _leftover(pieces[kept - 1]):
        kept -= 1
    if kept == len(pieces):
        return _MARKER.sub("", sentence).strip(), keys
    claim = "".join(pieces[:kept]).rstrip(" ,;:-")
    end = sentence.rstrip()[-1:] if sentence.rstrip()[-1:] in (".", "!", "?") else ""
    return (claim + end if claim and claim[-1] not in ".!?" else claim).strip(), keys


_LOCATIVE = re.compile(r"\b(?:in|at|near|from|to|into|outside|across|off|inside|around|across|"
                       r"throughout|toward|towards)\s+(?:the\s+)?(?:[\w’'.-]+,?\s+){0,3}$",
                       re.IGNORECASE)


def _placed(claim: str, evidence_text: str) -> bool:
    """A "where" answer's name stands where the evidence gives a place: after "in", "at",
    "near", "from" ... ("in Capitol City"), not as the name of a team or a person."""
    names = re.findall(r"\b[A-Z][\w’'.-]*(?:\s+[A-Z][\w’'.-]*)*", claim)
    for name in names:
        for match in re.finditer(re.escape(name), evidence_text):
            if _LOCATIVE.search(evidence_text[max(0, match.start() - 60): match.start()]):
                return True
    return not names


def support(claim: str, question: str, evidence: Evidence) -> float:
    """How well `evidence` backs `claim` as an answer to `question`: 0.0 (not at all) to 1.0."""
    question_terms = set(content_terms(question))
    new = [t for t in dict.fromkeys(content_terms(claim)) if not contains_term(t, question_terms)]
    if not new:
        return 0.0  # the claim only restates the question
    found = set(content_terms(evidence.text)) | spelled_numbers(evidence.text)
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
    if not units_kept(claim, evidence.text) or revised_away(claim, question, evidence.text) \
            or not counts_asked(claim, question, evidence.text):
        return 0.0
    if not _qualified(question, evidence):
        return 0.0
    if bound_elsewhere(claim, question, evidence):
        return 0.0
    if expected_kind(question) is Kind.PLACE and not _placed(claim, evidence.text):
        return 0.0
    return coverage


def _previous_sentence(evidence: Evidence) -> str:
    before = evidence.article.text[max(0, evidence.start - 400): evidence.start]
    spans = sentence_spans(before)
    return before[spans[-1][0]: spans[-1][1]] if spans else ""


def _qualified(question: str, evidence: Evidence) -> bool:
    """The question's qualifiers are in the sentence, the one before it or the headline."""
    wanted = qualifiers(question)
    if not wanted:
        return True
    previous = _previous_sentence(evidence)
    found = set(tokens(f"{evidence.article.title} {previous} {evidence.text}"))
    return all(w in found for w in wanted)


_NEGATIONS = frozenset({"not", "no", "never", "nor", "none", "neither", "without", "cannot"})


def _negated(text: str) -> bool:
    return any(t in _NEGATIONS or t.endswith("n't") for t in tokens(text))


# A short answer is a name, a figure, a phrase. A longer claim is a passage the model copied
# when it found no answer: of the dev split's answers, none of more than 9 words was right.
MAX_CLAIM_WORDS = 9
_ENDS = (".", "!", "?", "\"", "”", "'", "’", ")")
# Words a finished answer does not end on.
_DANGLING = frozenset([
    "the", "a", "an", "of", "to", "in", "on", "at", "by", "for", "from", "with", "across", "into",
    "over", "under", "about", "after", "before", "and", "or", "but", "nor", "that", "which", "who",
    "whose", "whom", "he", "she", "they", "it", "we", "his", "her", "their", "its", "our", "this",
    "these", "those", "is", "was", "were", "are", "be", "been", "has", "have", "had", "as", "than",
    "while", "when", "where", "if", "because", "said",
])


def _claims(draft: str) -> list[str]:
    """The draft's sentences, without a last one the model did not finish: one that stops on
    a function word ("... the mayor who said she"), or lacks the end mark the others have."""
    spans = sentence_spans(draft)
    claims = [draft[s:e] for s, e in spans] if spans else []
    if claims:
        last = _strip_markers(claims[-1])[0]
        words = tokens(last)
        if (words and words[-1] in _DANGLING and not last.endswith(_ENDS)) \
                or (len(claims) > 1 and not last.endswith(_ENDS)):
            claims.pop()
    return claims


def _finish(claim: str, keys: Sequence[int]) -> str:
    claim = claim.rstrip()
    end = claim[-1] if claim and claim[-1] in ".!?" else "."
    body = claim[:-1].rstrip() if claim and claim[-1] in ".!?" else claim
    return f"{body} " + "".join(f"[{k}]" for k in keys) + end


def verify(draft: str, question: str, evidence: Sequence[Evidence],
           kind: Kind | None = None) -> Verified:
    """`kind`: the kind of answer wanted, when not the one the question's wording asks for."""
    by_key = {e.key: e for e in evidence}
    kind = kind or expected_kind(question)
    kept: list[tuple[str, list[Evidence]]] = []
    if not _NON_ANSWER.search(draft.strip()) and not asks_exclusion(question):
        for sentence in _claims(draft):
            claim, keys = _strip_markers(sentence)
            if not claim or _NON_ANSWER.search(claim) or not fits_kind(claim, kind) \
                    or restates_question(claim, question) or len(claim.split()) > MAX_CLAIM_WORDS:
                continue
            scored = [(support(claim, question, e), e) for e in evidence]
            passing = [(s, e) for s, e in scored if s > 0
                       and not revised_later(claim, question, e, evidence)]
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
