"""One line of `answers.jsonl`: the `--json` answer of one question, with what eval adds.

A line is parsed once, into an `AnswerRecord`, and written from one with `to_json`, which gives
the keys in the order eval has always written them, so a new line is byte for byte what it was.
Lines are read leniently (a missing field takes its empty value): a saved run is never
rewritten, and an older line must still resume and score as it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qa.core.records import Answer, Citation
from qa.eval.metrics import distinct, strip_citations

# The keys of a line in written order; `extra` keeps any other key after them.
_KEYS = ("id", "question", "answer", "answerable", "citations", "retrieved", "notes", "model",
         "timings", "error", "draft", "evidence", "choice", "choice_index", "choice_rule",
         "wall_s")
# Keys a line has only when they have a value: an error's record has no notes, no draft and no
# evidence; a question without choices has no pick.
_OPTIONAL = frozenset({"notes", "error", "draft", "evidence", "choice", "choice_index",
                       "choice_rule", "wall_s"})


@dataclass(frozen=True)
class Retrieved:
    """A retrieved chunk as an answer's `retrieved` list gives it (`Answer.to_json`)."""

    article_id: str
    chunk_id: str
    score: float  # fused, rounded to 6 places

    def to_json(self) -> dict[str, Any]:
        return {"article_id": self.article_id, "chunk_id": self.chunk_id, "score": self.score}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Retrieved:
        return cls(value["article_id"], value.get("chunk_id", ""), value["score"])


@dataclass(frozen=True)
class AnswerRecord:
    """What eval saved for one question: the `--json` answer (`Answer.to_json`, DESIGN.md)
    and what eval adds. `evidence` keeps its JSON shape: it is only for reading."""

    id: str
    question: str  # whitespace collapsed: a resumed run matches questions on it
    answer: str = ""
    answerable: bool = False
    citations: tuple[Citation, ...] = ()
    retrieved: tuple[Retrieved, ...] = ()  # best first
    notes: tuple[str, ...] | None = None
    model: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # why no answer was given (the run carried on)
    draft: str | None = None  # what the generator wrote, so a wrong answer can be traced
    evidence: tuple[dict[str, Any], ...] | None = None  # what the generator was shown
    choice: str | None = None
    choice_index: int | None = None
    choice_rule: str | None = None
    wall_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> AnswerRecord | None:
        """The record of a parsed line; None for a line without a string `id` and `question`
        (nothing to resume or score)."""
        if not isinstance(value.get("id"), str) or not isinstance(value.get("question"), str):
            return None

        def items(key: str) -> tuple[Any, ...] | None:
            return tuple(value[key]) if value.get(key) is not None else None

        return cls(
            id=value["id"], question=value["question"], answer=value.get("answer", ""),
            answerable=bool(value.get("answerable")),
            citations=tuple(Citation.from_json(c) for c in items("citations") or ()),
            retrieved=tuple(Retrieved.from_json(r) for r in items("retrieved") or ()),
            notes=items("notes"),
            model=value.get("model", ""), timings=dict(value.get("timings") or {}),
            error=value.get("error"), draft=value.get("draft"), evidence=items("evidence"),
            choice=value.get("choice"), choice_index=value.get("choice_index"),
            choice_rule=value.get("choice_rule"), wall_s=value.get("wall_s"),
            extra={k: v for k, v in value.items() if k not in _KEYS},
        )

    @classmethod
    def of_answer(cls, question_id: str, answer: Answer) -> AnswerRecord:
        evidence = [{"article_id": e.article.id, "start": e.start, "end": e.end,
                     "score": round(e.score, 6), "text": e.text} for e in answer.evidence]
        record = cls.from_json({"id": question_id, **answer.to_json(), "draft": answer.draft,
                                "evidence": evidence})
        assert record is not None  # an Answer always has its question
        return record

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in _KEYS:
            value = getattr(self, key)
            if value is None and key in _OPTIONAL:
                continue
            if isinstance(value, tuple):
                value = [v.to_json() if isinstance(v, Citation | Retrieved) else v for v in value]
            out[key] = value
        return {**out, **self.extra}

    @property
    def prediction(self) -> str:
        """The answer as scored: citations removed; a refusal is the empty answer."""
        return strip_citations(self.answer) if self.answerable else ""

    @property
    def latency_s(self) -> float:
        return float(self.wall_s or self.timings.get("total_s", 0))

    @property
    def ranked_articles(self) -> list[str]:
        """The retrieved articles, best first, each once."""
        return distinct(r.article_id for r in self.retrieved)

    @property
    def cited_articles(self) -> list[str]:
        return [c.article_id for c in self.citations]
