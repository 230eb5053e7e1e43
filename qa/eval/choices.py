"""Multiple choice: which of the given options the system picks, and how.

Each option gets three scores, standardised across the options (z-scores) and summed with equal
weight; the highest sum wins (ties: the earlier option):

* coverage: the share of the option's own words (those not already in the question) that occur
  in the retrieved passages of the top 5 articles, plus a small term for how often;
* closeness: the best cosine similarity between "question + option" and those passages;
* likelihood gain: how much more likely the generator finds the option as the answer after the
  evidence prompt than after the same prompt with no context (mean log-probability per token;
  this pointwise mutual information corrects for options that are likely in any case).

Measured on the RealTimeQA dev split (docs/benchmarks.md), the sum beat each score alone, and
the likelihood gain beat taking the option the short answer names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from qa.answer.prompts import short_answer_prompt
from qa.core.records import Answer
from qa.core.text import content_terms
from qa.models.embedders import Embedder
from qa.models.generators import Generator, OptionScorer

TOP_ARTICLES = 5


def _z(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    spread = array.std()
    return (array - array.mean()) / spread if spread > 0 else np.zeros_like(array)


def coverage(question: str, options: Sequence[str], passages: Sequence[str]) -> list[float]:
    counts = Counter(t for p in passages for t in content_terms(p))
    asked = set(content_terms(question))
    scores = []
    for option in options:
        terms = set(content_terms(option))
        own = [t for t in terms if t not in asked] or list(terms)
        if not own:
            scores.append(0.0)
            continue
        present = sum(counts[t] > 0 for t in own) / len(own)
        scores.append(present + 0.01 * sum(counts[t] for t in own) / len(own))
    return scores


def pick_choice(answer: Answer, options: Sequence[str], generator: Generator,
                embedder: Embedder) -> tuple[int, str]:
    """The index of the picked option, and which scores decided it."""
    top: list[str] = []
    for hit in answer.retrieved:
        if hit.article.id not in top:
            top.append(hit.article.id)
    passages = [h.chunk.text for h in answer.retrieved if h.article.id in top[:TOP_ARTICLES]]
    total = _z(coverage(answer.question, options, passages))
    rule = "coverage"
    if passages:
        option_vectors = embedder.embed([f"{answer.question} {o}" for o in options])
        passage_vectors = embedder.embed(passages)
        total += _z((option_vectors @ passage_vectors.T).max(axis=1))
        rule += "+closeness"
    if isinstance(generator, OptionScorer):
        with_evidence = generator.score_options(
            short_answer_prompt(answer.question, answer.evidence), list(options))
        without = generator.score_options(short_answer_prompt(answer.question, ()),
                                          list(options))
        total += _z(np.asarray(with_evidence) - np.asarray(without))
        rule += "+likelihood gain"
    best = max(range(len(options)), key=lambda i: (float(total[i]), -i))
    return best, rule
