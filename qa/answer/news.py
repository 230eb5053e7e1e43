"""News-aware answering: the newest report for "latest" questions, and outlets that disagree.

* A question that asks for the latest state of things ("What is the latest death toll?", "Who
  currently leads ...?") is answered from the newest report: retrieval favours recent articles
  even without an end date (anchored at the newest candidate), the newest article's sentences
  are put first among the evidence (the generator reads them last, and retries keep them), and
  a note names the newest report the answer cites, with its date.
* When another outlet's evidence sentence gives a different figure for the same thing (the
  same unit word after the number: "19 people" against "12 people") about the same question,
  a note says so and cites both: as an earlier report when it is older than the cited one
  (news figures change), as a later one when it is newer (the answer may be out of date), else
  as a disagreement.

Notes go beside the answer (`Answer.notes`, shown under it and in `--json`), so the answer
itself stays the short claim that is scored; they say only what cited evidence says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from qa.answer.verify import Verified
from qa.core.records import Citation, Evidence
from qa.core.text import content_terms, is_number, tokens

_LATEST = re.compile(
    r"\b(?:latest|most recent(?:ly)?|newest|currently|current|now|still|so far|to date|"
    r"as of (?:today|now))\b", re.IGNORECASE)
_UNIT_SKIP = frozenset({"of", "the", "a", "an", "more", "than", "about", "some", "over", "nearly",
                        "almost", "at", "least", "and", "with", "in", "on", "to", "for", "from",
                        "by", "or", "as", "were", "was", "are", "is", "had", "have", "has",
                        "toward", "towards", "into", "per", "each", "after", "before", "since",
                        "across", "under", "up", "down", "that", "which", "who"})
_SCALES = frozenset({"hundred", "thousand", "million", "billion", "trillion"})


def wants_latest(question: str) -> bool:
    """Whether the question asks for the latest state of things."""
    return bool(_LATEST.search(question))


def newest_first(evidence: Sequence[Evidence]) -> list[Evidence]:
    """The evidence reordered newest article first (undated last; ties keep their order),
    renumbered 1..n in that order."""
    order = sorted(range(len(evidence)),
                   key=lambda i: (-_day_number(evidence[i].article.date), i))
    return [replace(evidence[i], key=n) for n, i in enumerate(order, start=1)]


def _day_number(day: str | None) -> int:
    return int(day[:10].replace("-", "")) if day and re.fullmatch(r"\d{4}-\d\d-\d\d", day[:10]) \
        else -1


def _claim_words(text: str) -> set[str]:
    """The words of an answer's own text: a citation marker's number ("[1]") is not one."""
    return set(tokens(re.sub(r"\[\d+\]", " ", text)))


def superseded(verified: Verified, evidence: Sequence[Evidence]) -> bool:
    """For a "latest" question: the answer's figure comes from a report that a newer one in the
    evidence revises (a different figure for the same thing)."""
    if not verified.answerable:
        return False
    answer_words = _claim_words(verified.text)
    for citation in verified.citations:
        for number, _, units in _figures(citation.quote):
            if number not in answer_words:
                continue
            for e in evidence:
                if _day_number(e.article.date) <= _day_number(citation.published):
                    continue
                if any(us & units and n != number and not _consistent(number, w, n)
                       for n, w, us in _figures(e.text)):
                    return True
    return False


def exact_figure(verified: Verified, evidence: Sequence[Evidence]) -> str | None:
    """For a "latest" question answered with a hedged figure ("more than 200 homes", a later
    story's aside): an exact figure for the same thing that agrees with it ("212 damaged", an
    official count), as the evidence writes it, the newest if several; None if there is none.
    A later round figure does not revise an exact count it agrees with."""
    if not verified.answerable:
        return None
    answer_words = _claim_words(verified.text)
    for citation in verified.citations:
        for number, written, units in _figures(citation.quote):
            if number not in answer_words or _bound(written) is None:
                continue
            exact = [(_day_number(e.article.date), _whole(e.text, w, us)) for e in evidence
                     for n, w, us in _figures(e.text)
                     if us & units and n != number and _bound(w) is None
                     and _consistent(n, written, number)]
            if exact:
                return max(exact, key=lambda found: found[0])[1]
    return None


def _whole(text: str, written: str, counted: frozenset[str]) -> str:
    """A figure as written with all the words it counts: "212 damaged" -> "212 damaged homes"."""
    at = text.find(written)
    words = [written]
    for word in text[at + len(written):].split() if at >= 0 else ():
        if word.strip(".,;:").lower() not in counted:
            break
        words.append(word.strip(".,;:"))
    return " ".join(words)


def latest_note(citations: Sequence[Citation]) -> str | None:
    """Names the newest cited report and its date."""
    dated = [c for c in citations if c.published]
    if not dated:
        return None
    newest = max(dated, key=lambda c: (_day_number(c.published), -c.key))
    outlet = f"{newest.source}, " if newest.source else ""
    return f"Latest report: {outlet}{newest.published} [{newest.key}]."


_BOUND = (r"(?:(?P<bound>more than|over|at least|upwards of|less than|fewer than|under|"
          r"at most|up to|about|around|roughly|nearly|almost|some|approximately)\s+)?")
_FIGURE = re.compile(
    _BOUND + r"(?<![\w.,])(?P<number>\d+(?:[.,]\d+)*)(?P<words>(?:\s+[^\W\d_]+){1,3})",
    re.IGNORECASE)
_LOWER = frozenset({"more than", "over", "at least", "upwards of"})
_UPPER = frozenset({"less than", "fewer than", "under", "at most", "up to"})


def _figures(text: str) -> list[tuple[str, str, frozenset[str]]]:
    """(number, as written, the words it may count): "more than 3,400 displaced residents" ->
    ("3400", "more than 3,400 displaced", {"displaced", "residents"}); numbers compare as
    `tokens` writes them (no thousands separators), and what is written keeps its "more than"
    or "about". Two figures are about the same thing when their words meet."""
    out = []
    for match in _FIGURE.finditer(text):
        words = match.group("words").split()
        # The words right after the number, up to the first function word ("$150,000 toward
        # the library" counts nothing; "1.5 million state library grant" counts grants).
        counted = []
        for i, w in enumerate(words):
            if w.lower() in _UNIT_SKIP:
                break
            if w.lower() not in _SCALES:
                counted.append(i)
        if counted:
            written = (text[match.start(): match.start("words")] + " "
                       + " ".join(words[: counted[0] + 1]))
            out.append((match.group("number").replace(",", ""), written,
                        frozenset(words[i].lower() for i in counted)))
    return out


def _bound(written: str) -> str | None:
    head = written.lower()
    return next((b for b in (*_LOWER, *_UPPER) if head.startswith(b + " ")), None)


def _consistent(number: str, other_written: str, other_number: str) -> bool:
    """"212" agrees with "more than 200", and with "about 210"."""
    try:
        ours, theirs = float(number), float(other_number)
    except ValueError:
        return False
    bound = _bound(other_written)
    if bound in _LOWER:
        return ours >= theirs
    if bound in _UPPER:
        return ours <= theirs
    if bound is not None:  # about, nearly, some ...
        return abs(ours - theirs) <= 0.1 * max(ours, theirs)
    return False


_REVISION = re.compile(
    r"(?P<new>[$€£]?\d+(?:[.,]\d+)*(?:\s+[^\W\d_]+){0,6}),?\s+(?:up|down)\s+from\s+"
    r"(?P<old>(?:(?:the|a|an|its|preliminary|initial|previous|original|earlier|estimated|"
    r"figure|count|estimate|total|number|of)\s+){0,5}[$€£]?\d+(?:[.,]\d+)*)", re.IGNORECASE)


def revision_note(verified: Verified) -> str | None:
    """When a cited sentence revises a figure the answer gives ("212 damaged homes, up from the
    preliminary figure of 140"), the note states both figures as written."""
    numbers = {t for t in tokens(verified.text) if is_number(t)}
    for citation in verified.citations:
        for match in _REVISION.finditer(citation.quote):
            new = tokens(match.group("new"))
            if new and new[0] in numbers:
                return f"Revised figure: {match.group(0)} [{citation.key}]."
    return None


def _report(source: str, day: str | None) -> str:
    return f"{source}, {day}" if day else source


def _on_topic(question_terms: set[str], text: str) -> bool:
    return len(question_terms & set(content_terms(text))) * 2 >= len(question_terms)


def disagreement(verified: Verified, question: str, evidence: Sequence[Evidence]
                 ) -> tuple[str, Citation] | None:
    """A note on what another outlet reports instead, with its citation, when its figure for
    the same thing differs from the one the answer gives (the first such sentence in evidence
    order)."""
    if not verified.answerable:
        return None
    question_terms = set(content_terms(question))
    asked = {t for t in tokens(question) if is_number(t)}
    answer_words = _claim_words(verified.text)
    cited = {(c.article_id, c.quote) for c in verified.citations}
    claims = [(number, written, units, c) for c in verified.citations
              for number, written, units in _figures(c.quote)
              if number in answer_words and number not in asked]
    for e in evidence:
        if (e.article.id, e.text) in cited or not _on_topic(question_terms, e.text):
            continue
        for number, written, units, citation in claims:
            if not (citation.source and e.article.source) or \
                    citation.source.lower() == e.article.source.lower():
                continue
            other = next((w for n, w, us in _figures(e.text) if us & units and n != number
                          and not _consistent(number, w, n)), None)
            if other is None:
                continue
            key = len(verified.citations) + 1
            extra = Citation(key=key, article_id=e.article.id, url=e.article.url,
                             title=e.article.title, source=e.article.source,
                             published=e.article.date, quote=e.text)
            theirs = _report(e.article.source, e.article.date)
            ours = _report(citation.source, citation.published)
            theirs_day, ours_day = _day_number(e.article.date), _day_number(citation.published)
            if theirs_day < ours_day:
                note = (f"An earlier report ({theirs}) gave {other} [{key}]; the answer "
                        f"rests on {ours} [{citation.key}].")
            elif theirs_day > ours_day >= 0:  # the answer's figure may have changed since
                note = (f"A later report ({theirs}) gives {other} [{key}]; the answer rests "
                        f"on an earlier one ({ours}) [{citation.key}].")
            else:
                note = (f"Reports differ: {theirs} gives {other} [{key}]; {ours} gives "
                        f"{written} [{citation.key}].")
            return note, extra
    return None
