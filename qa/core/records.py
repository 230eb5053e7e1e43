"""Plain frozen records that flow through the pipeline; each has one meaning."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from qa.core.text import headline


@dataclass(frozen=True)
class Article:
    """One news article as read from a file. `text` is what quotes and offsets refer to."""

    id: str
    text: str
    url: str | None = None
    title: str = ""
    published: str | None = None  # ISO date or datetime
    source: str | None = None  # the outlet
    authors: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def date(self) -> str | None:
        return self.published[:10] if self.published else None

    @property
    def headline(self) -> str:
        """The title, or the words of the URL's slug when there is none
        (`qa.core.text.headline`)."""
        return headline(self.title, self.url)


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences of one article: `text == article.text[start:end]`."""

    id: str  # "<article_id>#<n>"
    article_id: str
    n: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the article it belongs to."""

    chunk: Chunk
    article: Article
    score: float


@dataclass(frozen=True)
class Evidence:
    """A sentence shown to the generator under the number `key`."""

    key: int
    article: Article
    start: int
    end: int
    score: float

    @property
    def text(self) -> str:
        return self.article.text[self.start : self.end]


@dataclass(frozen=True)
class Carrier:
    """Another outlet's (or a repost's) copy of a stored article, folded into it."""

    article_id: str
    url: str | None
    title: str
    source: str | None
    published: str | None

    def to_json(self) -> dict[str, Any]:
        return {"article_id": self.article_id, "url": self.url, "title": self.title,
                "source": self.source, "published": self.published}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Carrier:
        return cls(article_id=value["article_id"], url=value.get("url"),
                   title=value.get("title", ""), source=value.get("source"),
                   published=value.get("published"))


@dataclass(frozen=True)
class Citation:
    key: int
    article_id: str
    url: str | None
    title: str
    source: str | None
    published: str | None
    quote: str  # always an exact substring of the cited article's text
    carried_by: tuple[Carrier, ...] = ()  # copies of the cited article from other outlets

    def to_json(self) -> dict[str, Any]:
        """The `--json` shape fixed in DESIGN.md."""
        return {"key": self.key, "article_id": self.article_id, "url": self.url,
                "title": self.title, "source": self.source, "published": self.published,
                "quote": self.quote,
                "also_carried_by": [k.to_json() for k in self.carried_by]}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Citation:
        """A citation as `to_json` wrote it (a saved eval answer, say)."""
        return cls(key=value.get("key", 0), article_id=value["article_id"],
                   url=value.get("url"), title=value.get("title", ""),
                   source=value.get("source"), published=value.get("published"),
                   quote=value["quote"],
                   carried_by=tuple(Carrier.from_json(k)
                                    for k in value.get("also_carried_by") or ()))


@dataclass(frozen=True)
class Filters:
    """Restrictions on which articles may be used as evidence (dates are ISO `YYYY-MM-DD`)."""

    since: str | None = None
    until: str | None = None
    source: str | None = None

    def active(self) -> bool:
        return bool(self.since or self.until or self.source)

    def ending(self, until: str | None) -> Filters:
        """These filters, ending no later than `until` (an as-of date) as well."""
        if until is None or (self.until is not None and self.until <= until):
            return self
        return replace(self, until=until)


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    answerable: bool
    citations: tuple[Citation, ...]
    retrieved: tuple[Hit, ...]
    model: str
    timings: dict[str, float]
    draft: str = ""  # what the generator wrote, before verification
    evidence: tuple[Evidence, ...] = ()  # the numbered sentences the generator was shown
    # What the reader should know beside the answer, citing like it: the newest report for a
    # "latest" question, another outlet's different figure (see qa/answer/news.py).
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The `--json` shape fixed in DESIGN.md."""
        return {
            "question": self.question,
            "answer": self.answer,
            "answerable": self.answerable,
            "citations": [c.to_json() for c in self.citations],
            "retrieved": [
                {"article_id": h.article.id, "chunk_id": h.chunk.id, "score": round(h.score, 6)}
                for h in self.retrieved
            ],
            "notes": list(self.notes),
            "model": self.model,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def content_hash(article: Article) -> str:
    """What an article says, hashed: a stored article whose hash is unchanged is not written
    again."""
    payload = json.dumps(
        [article.url, article.title, article.text, article.published, article.source,
         list(article.authors)],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
