"""Words, stems and sentences: the small text tools every stage shares."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

# Words, numbers with thousands separators or decimals ("1,000", "3.5"), ordinals, and
# possessives folded away ("China's" -> "china").
# An ordinal stays one token ("12th"), so it never stands for the count 12.
_TOKEN = re.compile(r"\d+(?:st|nd|rd|th)\b|\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)*",
                    re.UNICODE)
_POSSESSIVE = re.compile(r"['’]s$")

# Function words that carry no evidence of support on their own.
STOPWORDS = frozenset(
    [
        "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and",
        "any", "are", "as", "at", "be", "because", "been", "before", "being", "below",
        "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down",
        "during", "each", "few", "for", "from", "further", "had", "has", "have", "having",
        "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if",
        "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my",
        "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other",
        "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so",
        "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves",
        "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
        "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while",
        "who", "whom", "whose", "why", "will", "with", "would", "you", "your", "yours",
        "yourself", "yourselves", "said", "says", "say", "according", "reported", "reports",
        "report", "told", "tells", "week", "weeks", "year", "years", "day", "days", "month",
        "months", "new", "one", "two", "many", "much", "may", "might", "must", "shall",
    ]
)


# Number words news writing spells out ("Eleven homes were judged uninhabitable").
_SPELLED = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
            "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
            "eighteen", "nineteen", "twenty")
NUMBER_WORDS = {word: str(n) for n, word in enumerate(_SPELLED)}


def spelled_numbers(text: str) -> set[str]:
    """The digits of the number words in `text`: "eleven homes" -> {"11"}."""
    return {NUMBER_WORDS[t] for t in tokens(text) if t in NUMBER_WORDS}


def tokens(text: str) -> list[str]:
    """Lowercased word and number tokens; thousands separators dropped from numbers."""
    out = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token[0].isdigit():
            out.append(token.replace(",", ""))
        else:
            out.append(_POSSESSIVE.sub("", token.lower()).replace("’", "'"))
    return out


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    if word[0].isdigit():
        return word
    return str(_stemmer().stemWord(word))


def content_terms(text: str) -> list[str]:
    """Stems of the tokens that are not function words, in order."""
    return [stem(t) for t in tokens(text) if t not in STOPWORDS]


# Past forms news writing uses that a stemmer leaves apart from the present ("won"/"win").
_IRREGULAR = {
    "won": "win", "took": "take", "taken": "take", "held": "hold", "met": "meet", "left": "leave",
    "led": "lead", "sold": "sell", "bought": "buy", "paid": "pay", "made": "make", "gave": "give",
    "given": "give", "began": "begin", "begun": "begin", "found": "find", "struck": "strike",
    "fell": "fall", "fallen": "fall", "rose": "rise", "risen": "rise", "grew": "grow",
    "grown": "grow", "became": "become", "came": "come", "went": "go", "gone": "go",
    "brought": "bring", "built": "build", "chose": "choose", "chosen": "choose", "drew": "draw",
    "drawn": "draw", "ran": "run", "saw": "see", "seen": "see", "spoke": "speak",
    "spoken": "speak", "stood": "stand", "sent": "send", "spent": "spend", "thought": "think",
    "wrote": "write", "written": "write", "shot": "shoot", "caught": "catch", "fought": "fight",
    "sank": "sink", "sunk": "sink", "broke": "break", "broken": "break", "stole": "steal",
    "stolen": "steal", "froze": "freeze", "frozen": "freeze", "flew": "fly", "flown": "fly",
    "threw": "throw", "thrown": "throw", "knew": "know", "known": "know", "lost": "lose",
    "kept": "keep", "sought": "seek", "taught": "teach", "hung": "hang", "fled": "flee",
    "bore": "bear", "born": "bear", "dealt": "deal", "drove": "drive", "driven": "drive",
    "ate": "eat", "eaten": "eat", "forgave": "forgive", "hid": "hide", "hidden": "hide",
    "overtook": "overtake", "rang": "ring", "rung": "ring", "sang": "sing", "sung": "sing",
    "shook": "shake", "swore": "swear", "sworn": "swear", "woke": "wake", "wore": "wear",
    "worn": "wear", "withdrew": "withdraw", "withdrawn": "withdraw", "undertook": "undertake",
}


def lemma_terms(text: str) -> list[str]:
    """`content_terms`, with irregular past forms taken back to the verb ("won" -> "win")."""
    return [stem(_IRREGULAR.get(t, t)) for t in tokens(text) if t not in STOPWORDS]


def is_number(term: str) -> bool:
    return term[:1].isdigit()


_NAME = re.compile(r"(?<![\w'’])([A-Z][\w'’-]*)")


def proper_names(question: str) -> list[str]:
    """Capitalised words past the first word: the names a question is about."""
    first = len(question) - len(question.lstrip())
    names = []
    for match in _NAME.finditer(question):
        if match.start() == first:
            continue
        for token in tokens(match.group(1)):
            if token not in STOPWORDS and len(token) > 1:
                names.append(stem(token))
    return names


def terms_match(a: str, b: str) -> bool:
    """Two stems name the same thing: equal, or one a prefix (5+ letters) of the other,
    so "russia"/"russian" and "syria"/"syrian" agree."""
    if a == b:
        return True
    if is_number(a) or is_number(b):
        return False
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= 5 and long_.startswith(short)


def contains_term(term: str, terms: set[str]) -> bool:
    return term in terms or any(terms_match(term, t) for t in terms)


_LINE = re.compile(r"[^\n]+")
_WS = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, never crossing a line break.

    The segmenter's strings are located back in the text with `str.find`, so the spans are
    exact even where the segmenter normalises whitespace.
    """
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        if not line.group(0).strip():
            continue
        for offset, segment in _windows(line.group(0)):
            _segment_spans(segment, line.start() + offset, spans)
    return spans


_SEGMENT_CHARS = 2000
_SENTENCE_END = re.compile(r"[.!?][\"'’”)\]]*\s+")


def _windows(line: str, limit: int = _SEGMENT_CHARS) -> list[tuple[int, str]]:
    """`line` cut into pieces of at most about `limit` characters, at a sentence end where
    there is one (else at a space): the segmenter's time grows with the square of its input,
    and a long paragraph (an export that lost its line breaks) would take minutes whole."""
    pieces: list[tuple[int, str]] = []
    start = 0
    while len(line) - start > limit:
        window = line[start : start + limit]
        ends = [m.end() for m in _SENTENCE_END.finditer(window)]
        cut = ends[-1] if ends and ends[-1] > limit // 4 else (window.rfind(" ") + 1 or limit)
        pieces.append((start, line[start : start + cut]))
        start += cut
    pieces.append((start, line[start:]))
    return pieces


def _segment_spans(segment: str, base: int, spans: list[tuple[int, int]]) -> None:
    """Append the spans of the sentences of `segment`, which starts at `base` in the text."""
    if not segment.strip():
        return
    cursor = 0
    for piece in _segmenter().segment(segment):
        piece = piece.strip()
        if not piece:
            continue
        at = segment.find(piece, cursor)
        if at < 0:  # the segmenter rewrote the text: keep the rest of the segment whole
            rest = segment[cursor:]
            lead = len(rest) - len(rest.lstrip())
            if rest.strip():
                spans.append((base + cursor + lead, base + len(segment.rstrip())))
            break
        spans.append((base + at, base + at + len(piece)))
        cursor = at + len(piece)


def jaccard(a: set[str], b: set[str], *, empty: float) -> float:
    """|a & b| / |a | b|. Two empty sets have no such share: callers say what it is (`empty`),
    as they differ on whether two things with nothing in them are alike."""
    return len(a & b) / len(a | b) if a or b else empty


def word_count(text: str) -> int:
    return len(_WS.split(text.strip())) if text.strip() else 0


_SLUG_SPLIT = re.compile(r"[-_+\s]+")


def url_words(url: str | None) -> str:
    """The words of a news URL's slug, the path segment that names the story:
    `https://example.com/2024/05/02/city/ferry-winter-plan/index.html` gives "ferry winter
    plan". The segment with the most words wins; ids (numbers of five digits or more) and file
    extensions are dropped; "" when no segment has two words."""
    if not url:
        return ""
    best: list[str] = []
    for segment in urlsplit(url).path.split("/"):
        segment = unquote(segment)
        stem, dot, extension = segment.rpartition(".")
        if dot and extension.isalnum() and len(extension) <= 5:
            segment = stem
        words = [w for w in _SLUG_SPLIT.split(segment)
                 if w and not (w.isdigit() and len(w) >= 5)]
        if len(words) >= 2 and len(words) > len(best):
            best = words
    return " ".join(best)


def headline(title: str, url: str | None) -> str:
    """What a story is found by besides its text: its title, or for an article stored without
    one (a scrape that lost it), the words of its URL's slug."""
    return title or url_words(url)
