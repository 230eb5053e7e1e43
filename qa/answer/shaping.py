"""Answer shaping for news: small, explicit rules that fix what tiny models get wrong.

* Attribution: "Which outlet/agency/broadcaster reported ...?" is answered from the reporting
  phrase of the best evidence sentence ("..., the Harbor Ledger reported on Monday", "according to
  TASS"), the way news writing names its sources; tiny models tend to answer with the country.
* Lists: a question about several things ("Which bases ...?") whose draft names one member of a
  coordinated list in the evidence ("in Tartus and Khmeimim") gets the whole list.

* Hedges: a figure the cited sentence gives as "more than 200" or "about 40" keeps its hedge in
  the answer; "200" alone would state an exact count the report never gave.

Each only ever returns words copied from the evidence, so verification still applies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.core.records import Evidence

_SOURCE_NOUNS = (
    r"outlet|newspaper|paper|broadcaster|agency|news agency|media|publication|channel|network|"
    r"station|site|website|wire|tabloid|magazine|daily"
)
_ATTRIBUTION_QUESTION = re.compile(
    rf"^\s*(?:which|what)\s+(?:[\w-]+\s+)?(?:{_SOURCE_NOUNS})\b.*\b(?:report|said|say|reveal|"
    r"publish|broke|announce|first)|^\s*who\s+(?:first\s+)?reported\b",
    re.IGNORECASE,
)
_NAME = r"(?:[A-Z][\w&'’-]*\s+){0,3}[A-Z][\w&'’-]*"
_ATTRIBUTIONS = (
    re.compile(rf"(?P<name>{_NAME}(?:\s+media)?)\s+(?:first\s+)?"
               r"(?:reported|reports|said|says|wrote|revealed)\b"),
    re.compile(rf"\baccording to (?:the\s+)?(?P<name>{_NAME})"),
)
_NOT_SOURCES = {"He", "She", "They", "It", "We", "I", "The", "This", "That", "A", "An",
                "However", "But", "And", "Officials", "Meanwhile"}


def asks_for_source(question: str) -> bool:
    return bool(_ATTRIBUTION_QUESTION.search(question))


def reporting_source(question: str, evidence: Sequence[Evidence]) -> str | None:
    """The outlet a top evidence sentence attributes its report to, for an outlet question."""
    if not asks_for_source(question):
        return None
    for item in evidence:
        for pattern in _ATTRIBUTIONS:
            for match in pattern.finditer(item.text):
                words = match.group("name").split()
                while words and words[0] in _NOT_SOURCES:
                    words = words[1:]
                if words:
                    return " ".join(words)
    return None


_PLURAL_QUESTION = re.compile(
    r"^\s*(?:which|what)\s+(?:[a-z-]+\s+)?[a-z-]+(?<!ss)s\b|^\s*who\s+(?:are|were)\b",
    re.IGNORECASE,
)
_CAPS = r"[A-Z0-9][\w'’-]*(?:\s+[A-Z0-9][\w'’-]*)*"


def _listing(tail: int) -> re.Pattern[str]:
    """Coordinated names, each with the same number of lower-case words after it:
    "Riverton and Alder Bay", "the Riverton ferry terminal and the Alder Bay ferry terminal"."""
    item = rf"(?:the\s+)?{_CAPS}" + r"(?:\s+[a-z]+)" * tail
    return re.compile(rf"(?<![\w-])(?:{item},\s+)*{item},?\s+(?:and|or)\s+{item}(?![\w-])")


_LISTINGS = [_listing(n) for n in (2, 1, 0)]


def complete_list(question: str, draft: str, evidence: Sequence[Evidence]) -> str:
    """Widen a one-item draft to the coordinated list it belongs to, for plural questions."""
    if not _PLURAL_QUESTION.search(question) or " and " in draft or "," in draft:
        return draft
    item = draft.strip().rstrip(".")
    if item.lower().startswith("the "):
        item = item[4:]
    if not item or not item[0].isupper():
        return draft
    for e in evidence:
        for listing in _LISTINGS:
            for match in listing.finditer(e.text):
                found = match.group(0)
                members = re.split(r",\s+(?:and\s+|or\s+)?|\s+(?:and|or)\s+", found)
                names = [m[4:] if m.startswith("the ") else m for m in members]
                if len(names) > 1 and any(n == item or n.startswith(item + " ") for n in names):
                    return found[4:] if found.startswith("the ") else found
    return draft


_HEDGE = (r"(?:more than|less than|fewer than|over|under|nearly|almost|about|around|roughly|"
          r"approximately|at least|at most|up to|some|an estimated|close to)")
# A figure of the answer's own text; a citation marker's number ("[1]") is none.
_FIGURE = re.compile(r"(?<![\w.,$€£\[])(?:[$€£]\s?)?\d[\d,]*(?:\.\d+)?(?![\d\]])")


def keep_hedges(answer: str, quotes: Sequence[str]) -> str:
    """`answer` with each bare figure that a quote hedges ("more than 200") given its hedge."""
    def hedged(match: re.Match[str]) -> str:
        figure = match.group(0)
        before = answer[:match.start()].rstrip().lower()
        if re.search(rf"\b{_HEDGE}$", before):
            return figure  # hedged already
        for quote in quotes:
            found = re.search(rf"\b({_HEDGE})\s+{re.escape(figure)}(?!\d|[,.]\d)", quote,
                              re.IGNORECASE)
            if found:
                return f"{found.group(1).lower()} {figure}"
        return figure
    return _FIGURE.sub(hedged, answer)
