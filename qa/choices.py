"""Multiple choice: which of the given options the system picks, and how.

1. If the verified answer names an option (token F1 >= 0.5 with it), that option.
2. Else the option the generator finds most likely as the answer, given the same evidence prompt
   the answer was written from (mean log-probability per token; llama.cpp generators only).
3. Else (no evidence, or a generator that cannot score) the option whose words appear most often
   in the retrieved passages.
"""

from __future__ import annotations

from collections.abc import Sequence

from qa.generators import Generator
from qa.metrics import strip_citations, token_f1
from qa.prompts import short_answer_prompt
from qa.records import Answer
from qa.text import content_terms


def _argmax(scores: Sequence[float]) -> int:
    return max(range(len(scores)), key=lambda i: (scores[i], -i))  # ties: the earlier option


def pick_choice(answer: Answer, choices: Sequence[str], generator: Generator) -> tuple[int, str]:
    """The index of the picked option and the rule that picked it."""
    if answer.answerable:
        text = strip_citations(answer.answer)
        overlap = [token_f1(text, [c]) for c in choices]
        if max(overlap) >= 0.5:
            return _argmax(overlap), "answer"
    score_options = getattr(generator, "score_options", None)
    if answer.evidence and callable(score_options):
        prompt = short_answer_prompt(answer.question, answer.evidence)
        return _argmax(score_options(prompt, list(choices))), "likelihood"
    passages = [t for hit in answer.retrieved for t in content_terms(hit.chunk.text)]
    counts = {t: passages.count(t) for t in set(passages)}
    frequency = [
        sum(counts.get(t, 0) for t in set(content_terms(c))) / max(1, len(set(content_terms(c))))
        for c in choices
    ]
    return _argmax(frequency), "frequency"
