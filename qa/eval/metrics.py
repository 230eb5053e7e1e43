"""Evaluation metrics: standard definitions, plain functions, no I/O.

Answer metrics follow the SQuAD evaluation script (lower-case, drop punctuation and the articles
a/an/the, collapse whitespace; F1 over the resulting tokens; both maxed over the gold answers).
Retrieval metrics are article-level over a ranked list of distinct article ids.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"‘", "’", "“", "”", "—", "–"}
_CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def strip_citations(answer: str) -> str:
    return _CITATION.sub("", answer).strip()


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def _f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    return max((_f1(prediction, g) for g in golds), default=0.0)


def contains_gold(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when some normalised gold answer appears, on word boundaries, in the prediction."""
    pred = f" {normalize_answer(prediction)} "
    return float(any(normalize_answer(g) and f" {normalize_answer(g)} " in pred for g in golds))


def is_right(prediction: str, golds: Sequence[str]) -> bool:
    """An answer counts as right when it contains a gold answer or has token F1 >= 0.5 with one:
    the definition of answer precision (issue 15)."""
    return bool(contains_gold(prediction, golds)) or token_f1(prediction, golds) >= 0.5


def normalize_url(url: str) -> str:
    """Scheme, `www.`/`edition.`, query, fragment and trailing slash do not tell pages apart."""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower()
    for prefix in ("www.", "edition."):
        if host.startswith(prefix):
            host = host[len(prefix):]
    return f"{host}{parts.path.rstrip('/')}"


def recall_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Share of the gold articles found in the first `k` (1.0 if any when there is one gold)."""
    gold_set = set(gold)
    if not gold_set:
        return 0.0
    return len(gold_set & set(ranked[:k])) / len(gold_set)


def reciprocal_rank(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    gold_set = set(gold)
    for rank, item in enumerate(ranked[:k], start=1):
        if item in gold_set:
            return 1.0 / rank
    return 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def distinct(items: Iterable[str]) -> list[str]:
    """First occurrences, in order (a ranked list of chunks becomes a ranked list of articles)."""
    return list(dict.fromkeys(items))
