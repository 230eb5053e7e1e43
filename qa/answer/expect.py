"""What kind of answer a question asks for, and whether a claim is of that kind.

A claim can be supported word for word by its evidence and still not answer the question:
"12 years" for "How long did the race take?" (the evidence said "the 12th marathon"), a
count for "what year", the men's winner for "Who won the women's race?". These checks are
applied by verification on top of support, so such a claim is dropped and, if nothing else is
left, the question is refused: a refusal is better than a wrong answer shown as verified.

Kinds are read from the question's wording only (no model): who, where, when, what year, how
long, how many, how much, what percentage. Anything else ("which film", "what did ...") has no
kind and is left to support alone.
"""

from __future__ import annotations

import re
from enum import Enum

from qa.core.text import NUMBER_WORDS, tokens


class Kind(Enum):
    PERSON = "person or organisation"
    PLACE = "place"
    TIME = "date or time"
    YEAR = "year"
    DURATION = "duration"
    COUNT = "count"
    AMOUNT = "amount"
    PERCENT = "percentage"


_KIND_PATTERNS: tuple[tuple[Kind, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in (
        (Kind.PERCENT, r"\bwhat (?:percentage|percent|share|proportion)\b|\bhow many percent\b"),
        (Kind.YEAR, r"\b(?:what|which) year\b|\bin what year\b"),
        (Kind.DURATION, r"\bhow long\b(?!\s+(?:is|was|are|were)\s+(?:the|a|an|its|his|her)\b)"),
        (Kind.COUNT, r"\bhow many\b|\bwhat (?:is|was|are|were) the (?:\w+ ){0,2}(?:number|count|"
                     r"tally|toll)\b"),
        (Kind.AMOUNT, r"\bhow much\b|\bwhat\b[^?]*\bcost\b"),
        (Kind.TIME, r"(?:^|[.?!]\s+|,\s*)when\b|\bhow soon\b|\bwhat (?:date|day|time)\b"),
        # ", who was named after which river?": a relative "who"; the question word comes later.
        (Kind.PERSON, r"(?:^|[.?!]\s+|,\s*)who\b(?![^?]*\b(?:which|what)\b)"),
        (Kind.PLACE, r"(?:^|[.?!]\s+|,\s*)where\b"),
    )
)


def expected_kind(question: str) -> Kind | None:
    """The kind of answer the question's own wording asks for, if it names one.

    Only the last sentence of a question counts (news quizzes open with context: "A ferry
    line added three winter sailings ... Where do they leave from?")."""
    asked = _last_sentence(question)
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(asked):
            return kind
    return None


# Words that end the noun phrase after "how many": a verb, a preposition, a pronoun.
_PHRASE_END = frozenset([
    "is", "are", "was", "were", "be", "been", "do", "does", "did", "have", "has", "had", "will",
    "would", "can", "could", "should", "may", "might", "must", "of", "in", "on", "at", "by",
    "for", "from", "to", "with", "that", "who", "which", "he", "she", "it", "they", "we", "you",
    "i", "there", "so", "more", "than", "has", "got", "per",
])
_PLURALS = frozenset(["people", "children", "men", "women", "police", "staff", "cattle", "sheep",
                      "fish", "aircraft", "personnel", "crew", "mice", "feet", "teeth", "geese"])


def counted_noun(question: str) -> str | None:
    """What a "how many" question counts ("homes" in "How many homes were damaged?", "sailings"
    in "How many daily sailings ..."), lower-cased; None when it names nothing."""
    match = re.search(r"\bhow many\s+((?:[\w'-]+\s*){1,4})", _last_sentence(question),
                      re.IGNORECASE)
    if match is None:
        return None
    phrase: list[str] = []
    for word in match.group(1).lower().split():
        if word in _PHRASE_END:
            break
        phrase.append(word)
    nouns = [w for w in phrase if w in _PLURALS or (w.endswith("s") and not w.endswith("ss"))]
    return nouns[-1] if nouns else (phrase[0] if len(phrase) == 1 else None)


def _last_sentence(question: str) -> str:
    parts = [p for p in re.split(r"(?<=[.!?])\s+(?=[A-Z])", question.strip()) if p]
    return parts[-1] if parts else question


# The number words `qa.core.text` reads as digits, and the ones that only say "many".
_NUMBER_WORDS = frozenset(NUMBER_WORDS) | frozenset(
    [
        "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "hundreds",
        "thousand", "thousands", "million", "millions", "billion", "billions", "trillion", "dozen",
        "dozens", "half", "quarter", "several", "few", "couple",
    ]
)
_TIME_UNITS = frozenset(
    [
        "second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks",
        "month", "months", "year", "years", "decade", "decades", "century", "centuries", "night",
        "nights", "weekend", "weekends", "season", "seasons", "term", "terms", "sec", "secs", "min",
        "mins", "hr", "hrs",
    ]
)
_MONTHS = frozenset(
    [
        "january", "february", "march", "april", "may", "june", "july", "august", "september",
        "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
        "sept", "oct", "nov", "dec",
    ]
)
_WEEKDAYS = frozenset([
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
])
_TIME_WORDS = frozenset(
    [
        "today", "yesterday", "tomorrow", "tonight", "morning", "afternoon", "evening", "night",
        "noon", "midnight", "week", "month", "year", "spring", "summer", "autumn", "fall", "winter",
        "weekend", "decade", "century", "ago", "next", "last", "later", "soon", "early", "late",
        "mid", "end", "beginning", "since", "until", "before", "after",
    ]
)
_CLOCK = re.compile(r"\b\d{1,2}:\d\d(?::\d\d)?\b|\b\d{1,2}\s*(?:a\.?m\.?|p\.?m\.?)")
_PERCENT = re.compile(r"\d\s*%|\bpercent\b|\bper cent\b|\bpercentage points?\b", re.IGNORECASE)
_MONEY = re.compile(r"[$€£¥]\s*\d|\d\s*(?:dollars?|euros?|pounds?|yen|yuan|rupees?|cents?)\b",
                    re.IGNORECASE)
_ORDINAL = re.compile(r"^\d+(?:st|nd|rd|th)$")
_DETERMINERS = frozenset([
    "the", "a", "an", "this", "that", "these", "those", "his", "her", "its", "their", "our", "my",
    "your",
])
# Capitalised words that open a sentence or name no one: not evidence of a name.
_NOT_NAMES = frozenset(
    [
        "the", "a", "an", "he", "she", "they", "it", "we", "i", "this", "that", "these", "those",
        "his", "her", "its", "their", "our", "there", "here", "in", "on", "at", "by", "for", "of",
        "to", "from", "with", "and", "or", "but", "after", "before", "when", "while",
    ]
)


def _cardinals(words: list[str]) -> list[str]:
    return [w for w in words if (w[:1].isdigit() and not _ORDINAL.match(w)) or w in _NUMBER_WORDS]


def _has_name(claim: str) -> bool:
    """A capitalised word ("al-Qaeda" and "iPhone" count) that is not just a sentence-opening
    function word, a month or a weekday."""
    for word in re.findall(r"[^\W\d_][\w'’.&-]*", claim):
        bare = word.lower().strip(".")
        if any(c.isupper() for c in word) and bare not in _NOT_NAMES and bare not in _MONTHS \
                and bare not in _WEEKDAYS:
            return True
    return False


# "She sang in all of these operas except:", "Which of these is not one of the new flavours?": the
# answer is one of options the question does not give, so no passage can state it.
_EXCLUSION = re.compile(
    r"\bexcept\b|\bnot one of\b|\b(?:which|what|who)(?: one)? of (?:these|the following)\b[^?]*"
    r"\b(?:not|never)\b|\ball of the above\b|\bnone of the above\b", re.IGNORECASE)


def asks_exclusion(question: str) -> bool:
    """Whether the question asks which of some unstated options is not so."""
    return bool(_EXCLUSION.search(question))


def restates_question(claim: str, question: str) -> bool:
    """A claim with no name that ends on the noun a "which ..." question asks for and adds at
    most one word of its own: "the restored hull of an old ship" for "Which ship ...?"
    only says it was one ("the northern container terminal" for "which terminal" says which)."""
    match = re.search(r"\b(?:which|what)\s+(?:(?:\w+)\s+){0,2}?(\w+)\s+(?:is|was|are|were|has|"
                      r"have|had|did|does|do|will|would|can|could)\b", question, re.IGNORECASE)
    nouns = {match.group(1).lower()} if match else set()
    match = re.search(r"\b(?:which|what)\s+(\w+)\b", question, re.IGNORECASE)
    if match:
        nouns.add(match.group(1).lower())
    words = tokens(claim)
    asked = set(tokens(question))
    own = [w for w in words if w not in asked and w not in _DETERMINERS and w not in _NOT_NAMES]
    if not words or _has_name(claim) or len(own) > 1:
        return False
    last = words[-1]
    return any(last == n or last.rstrip("s") == n.rstrip("s") for n in nouns)


def fits_kind(claim: str, kind: Kind | None) -> bool:
    """Whether `claim` is an answer of `kind` (None: any claim fits)."""
    if kind is None:
        return True
    words = tokens(claim)
    lowered = claim.lower()
    if kind is Kind.PERCENT:
        return bool(_PERCENT.search(claim)) and bool(_cardinals(words))
    if kind is Kind.YEAR:
        return any(re.fullmatch(r"1\d{3}|20\d\d", w) for w in words)
    if kind is Kind.DURATION:
        if _CLOCK.search(claim):
            return True
        has_unit = any(w in _TIME_UNITS for w in words) or "-year" in lowered
        return has_unit and (bool(_cardinals(words)) or any(
            w in ("a", "an", "several", "few", "couple") for w in words))
    if kind is Kind.COUNT:  # a count of things, not a share or a sum of money
        return bool(_cardinals(words)) and not _PERCENT.search(claim) \
            and not _MONEY.search(claim)
    if kind is Kind.AMOUNT:
        return bool(_cardinals(words)) or bool(_MONEY.search(claim))
    if kind is Kind.TIME:
        return (bool(_CLOCK.search(claim)) or any(
            w in _MONTHS or w in _WEEKDAYS or w in _TIME_WORDS for w in words)
            or any(re.fullmatch(r"1\d{3}|20\d\d", w) for w in words))
    # PERSON, PLACE: a name.
    return _has_name(claim)


# Words in a question that pick out one of several similar things ("the women's race", "the
# first round", "the half marathon"): an answer must come from a sentence that says so too.
# ("last" is left out: "last week" is how news questions date things.)
QUALIFIERS = frozenset(
    [
        "women", "men", "female", "male", "girls", "boys", "ladies", "junior", "senior", "youth",
        "first", "second", "third", "fourth", "fifth", "final", "half", "semifinal", "quarterfinal",
        "preliminary", "initial", "revised",
    ]
)


def qualifiers(question: str) -> list[str]:
    """The qualifying words of the question, lower-cased, in order, without repeats."""
    return list(dict.fromkeys(t for t in tokens(question) if t in QUALIFIERS))
