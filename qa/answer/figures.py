"""The figures of a claim, checked against its evidence: units kept, old values revised away,
counts of what the question counts, and in a sentence of several figures, the one the question
is about (`verify` applies these; see its module docstring for the rules)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.answer.expect import Kind, counted_noun, expected_kind
from qa.core.records import Evidence
from qa.core.text import (
    NUMBER_WORDS,
    contains_term,
    content_terms,
    is_number,
    lemma_terms,
    proper_names,
    stem,
    tokens,
)

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


def counts_asked(claim: str, question: str, evidence_text: str) -> bool:
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


def units_kept(claim: str, evidence_text: str) -> bool:
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


def revised_away(claim: str, question: str, evidence_text: str) -> bool:
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


def revised_later(claim: str, question: str, cited: Evidence,
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
        if revised_away(claim, question, other.text):
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


def bound_elsewhere(claim: str, question: str, evidence: Evidence) -> bool:
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
        return False  # an old value: whether it answers is `revised_away`'s question
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
