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
always exact substrings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.answer.expect import (
    Kind,
    asks_exclusion,
    counted_noun,
    expected_kind,
    fits_kind,
    qualifiers,
    restates_question,
)
from qa.answer.prompts import REFUSAL
from qa.core.records import Citation, Evidence
from qa.core.text import (
    NUMBER_WORDS,
    STOPWORDS,
    contains_term,
    content_terms,
    is_number,
    lemma_terms,
    proper_names,
    sentence_spans,
    spelled_numbers,
    stem,
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
    if not _units_kept(claim, evidence.text) or _revised_away(claim, question, evidence.text) \
            or not _counts_asked(claim, question, evidence.text):
        return 0.0
    if not _qualified(question, evidence):
        return 0.0
    if _bound_elsewhere(claim, question, evidence):
        return 0.0
    if expected_kind(question) is Kind.PLACE and not _placed(claim, evidence.text):
        return 0.0
    return coverage


_UNIT_GAP = 3  # words allowed between a number and its unit ("212 damaged homes")
_NOT_UNITS = frozenset({"and", "or", "of", "the", "to", "in", "on", "at", "by", "for", "from",
                        "a", "an", "with", "than", "as", "is", "was", "were", "are", "per"})


def _number_units(text: str) -> list[tuple[str, str | None]]:
    """Each number of `text` with the word that follows it, if that word can be its unit."""
    words = tokens(text)
    out = []
    for i, word in enumerate(words):
        if is_number(word):
            following = words[i + 1] if i + 1 < len(words) else None
            unit = following if following and not is_number(following) \
                and following not in _NOT_UNITS else None
            out.append((word, unit))
    return out


def _counts_asked(claim: str, question: str, evidence_text: str) -> bool:
    """For "how many homes ...": the claim's number, where the evidence gives it a unit,
    counts homes there ("about 186,000 passengers" does not answer "how many sailings")."""
    if expected_kind(question) is not Kind.COUNT:
        return True
    noun = counted_noun(question)
    numbers = [NUMBER_WORDS.get(w, w) for w in tokens(claim)
               if is_number(w) or w in NUMBER_WORDS]
    if noun is None or not numbers:
        return True
    wanted = stem(noun)
    matches = list(_WORD.finditer(evidence_text))
    words = [NUMBER_WORDS.get(w, w) for w in (m.group(0).lower().replace(",", "") for m in matches)]
    for i, word in enumerate(words):
        if word not in numbers or _date_or_clock(evidence_text, matches[i].start(),
                                                   matches[i].end()):
            continue
        following = words[i + 1: i + 2 + _UNIT_GAP]
        if not following or following[0] in _NOT_UNITS or is_number(following[0]) \
                or wanted in (stem(w) for w in following):
            return True
    return False


def _units_kept(claim: str, evidence_text: str) -> bool:
    """Every number-and-unit of the claim occurs in the evidence, the unit within a few words
    after the number."""
    words = [stem(NUMBER_WORDS.get(w, w)) for w in tokens(evidence_text)]
    for number, unit in _number_units(claim):
        if unit is None:
            continue
        places = [i for i, w in enumerate(words) if w == number]
        if not any(stem(unit) in words[i + 1: i + 2 + _UNIT_GAP] for i in places):
            return False
    return True


# "212 homes, up from the preliminary figure of 140", "rose from $1.75 to $2.00"
_REVISED = re.compile(
    r"\b(?:up|down|rising|falling|increased|decreased|revised|raised|lowered|compared)\s+"
    r"(?:from|with)\s+(?:(?:the|a|an|its|their|his|her|an?\s+earlier|preliminary|initial|"
    r"previous|original|earlier|first|estimated|figure|count|estimate|total|number|of)\s+){0,5}"
    r"[$€£]?(?P<old>\d+(?:[.,]\d+)*)"
    r"|\bfrom\s+[$€£]?(?P<from>\d+(?:[.,]\d+)*)\s*(?:\w+\s+)?to\s+[$€£]?\d",
    re.IGNORECASE)
_ASKS_OLD = re.compile(r"\b(?:previous|preliminary|initial|original|old|earlier|before|first)\b",
                       re.IGNORECASE)


def _revised_away(claim: str, question: str, evidence_text: str) -> bool:
    """The claim's numbers are all values the evidence says were replaced, and the question
    does not ask for the earlier value."""
    if _ASKS_OLD.search(question):
        return False
    numbers = [w for w in tokens(claim) if is_number(w)]
    if not numbers:
        return False
    old = {(m.group("old") or m.group("from")).replace(",", "")
           for m in _REVISED.finditer(evidence_text)}
    return all(n in old for n in numbers)


def _revised_later(claim: str, question: str, cited: Evidence,
                   evidence: Sequence[Evidence]) -> bool:
    """Another evidence sentence on the question's subject, from a report no older than the
    cited one, revises the claim's figure ("has risen from 11 to 19")."""
    if _ASKS_OLD.search(question) or not any(is_number(w) for w in tokens(claim)):
        return False
    question_terms = set(content_terms(question))
    for other in evidence:
        if other is cited or (other.article.date or "") < (cited.article.date or ""):
            continue
        if len(question_terms & set(content_terms(other.text))) * 2 < len(question_terms):
            continue
        if _revised_away(claim, question, other.text):
            return True
    return False


# Question words that only say what kind of answer is wanted, or when: not what it is about.
_ASKING = frozenset(stem(w) for w in [
    "long", "cost", "number", "count", "total", "percent", "percentage", "share", "recently",
    "recent", "announced", "latest", "last", "current", "currently", "name", "named", "called",
    "kind", "type", "happen", "happened", "take", "took", "place", "time", "date", "going",
])


def focus_terms(question: str, evidence: Evidence) -> list[str]:
    """What the question asks about, beyond its names and the cited article's headline
    ("library", "expansion" for a budget story): the words that tell which of a sentence's
    figures is the asked-for one. (Required in the cited sentence, they refused as many right
    answers as wrong ones on the dev split, so they are used for that only.)"""
    names = set(proper_names(question))
    headline = set(lemma_terms(evidence.article.headline))
    return [t for t in dict.fromkeys(lemma_terms(question))
            if t not in names and t not in _ASKING and not is_number(t)
            and not contains_term(t, headline)]


def _previous_sentence(evidence: Evidence) -> str:
    before = evidence.article.text[max(0, evidence.start - 400): evidence.start]
    spans = sentence_spans(before)
    return before[spans[-1][0]: spans[-1][1]] if spans else ""


_WORD = re.compile(r"[$€£¥]?\d[\d,]*(?:\.\d+)?(?:st|nd|rd|th|%)?|[^\W\d_][\w'’-]*")
_CURRENCY_WORDS = frozenset(["dollars", "euros", "pounds", "yen", "yuan", "rupees", "cents"])


_MONTH_BEFORE = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s*$", re.IGNORECASE)


def _date_or_clock(text: str, start: int, end: int) -> bool:
    """The number at text[start:end] is a day of a month ("Dec. 1") or part of a clock time
    ("12:30", "7 p.m."): not a figure."""
    if text[max(0, start - 1): start] == ":" or re.match(r":\d\d", text[end: end + 3]):
        return True
    if re.match(r"\s*[ap]\.?m\b", text[end: end + 6], re.IGNORECASE):
        return True
    return bool(_MONTH_BEFORE.search(text[max(0, start - 12): start]))


def _figures(text: str) -> list[tuple[int, str, str]]:
    """(word position, number, type) of each figure in `text`: money, percent or count; years,
    days of a month, clock times and ordinals ("the 12th race") are not figures."""
    matches = list(_WORD.finditer(text))
    words = [m.group(0) for m in matches]
    out = []
    for i, word in enumerate(words):
        if not word.lstrip("$€£¥")[:1].isdigit() or re.search(r"\d(?:st|nd|rd|th)$", word) \
                or _date_or_clock(text, matches[i].start(), matches[i].end()):
            continue
        number = word.lstrip("$€£¥").rstrip("%").replace(",", "")
        following = words[i + 1].lower() if i + 1 < len(words) else ""
        if re.fullmatch(r"(?:1[89]|20)\d\d", number) and word[0].isdigit():
            continue
        if word[0] in "$€£¥" or following in _CURRENCY_WORDS:
            kind = "money"
        elif word.endswith("%") or following in ("percent", "per"):
            kind = "percent"
        else:
            kind = "count"
        out.append((i, number, kind))
    return out


_CLOSES_PHRASE = frozenset(["of", "at", "to", "was", "is", "were", "are", "be", "reached", "hit",
                            "hitting", "topped", "totaled", "totalled", "than"])


def _bound_elsewhere(claim: str, question: str, evidence: Evidence) -> bool:
    """In a sentence of several figures of a kind ("$410,000 for two officers ... and $150,000
    toward the library expansion"), most focus words of the question the sentence has
    (`focus_terms`) are said of another of those figures than the claim's."""
    asked = {number for _, number, _ in _figures(question)}
    claimed = {(number, kind) for _, number, kind in _figures(claim) if number not in asked}
    if not claimed:
        return False
    figures = _figures(evidence.text)
    replaced = {(m.group("old") or m.group("from")).replace(",", "")
                for m in _REVISED.finditer(evidence.text)}  # "has risen from 11 to 19"
    if any(number in replaced for number, _ in claimed):
        return False  # an old value: whether it answers is `_revised_away`'s question
    kinds = {kind for _, kind in claimed}
    mine = [i for i, number, kind in figures if (number, kind) in claimed]
    others = [i for i, number, kind in figures
              if kind in kinds and (number, kind) not in claimed and number not in replaced]
    if not mine or not others:
        return False
    focus = set(focus_terms(question, evidence))
    words = [m.group(0).lower() for m in _WORD.finditer(evidence.text)]
    places = [i for i, w in enumerate(words)
              if any(contains_term(t, focus) for t in lemma_terms(w))]
    if not places:
        return False
    # A figure opens a phrase ("$410,000 to add two officers, $275,000 for sidewalks") unless a
    # word such as "of" or "to" puts it at the end of one ("a record low of $7.40"); a word
    # belongs to the figure whose phrase holds it, the nearer one when two phrases do.
    starts = sorted([*mine, *others])
    closing = {i for i in starts if i > 0 and words[i - 1] in _CLOSES_PHRASE}

    def owner(p: int) -> int:
        before = [i for i in starts if i < p]
        after = [i for i in starts if i > p]
        holders = (before[-1:] if before and before[-1] not in closing else []) \
            + (after[:1] if after and after[0] in closing else [])
        return min(holders or [before[-1] if before else starts[0]], key=lambda i: abs(i - p))

    return sum(owner(p) in others for p in places) * 2 > len(places)


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
                       and not _revised_later(claim, question, e, evidence)]
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
