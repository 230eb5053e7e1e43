"""Sentence-aware chunks with character offsets back into the article."""

from __future__ import annotations

from collections.abc import Sequence

from qa.core.records import Article, Chunk
from qa.core.settings import ChunkParams as ChunkParams  # defined with the other settings
from qa.core.text import sentence_spans, word_count


def _split_long(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """Cut a span that is longer than a chunk at whitespace, `max_words` words a piece."""
    pieces: list[tuple[int, int]] = []
    words = 0
    piece_start = start
    i = start
    while i < end:
        while i < end and text[i].isspace():
            i += 1
        if i >= end:
            break
        if words == max_words:
            pieces.append((piece_start, _rstrip(text, piece_start, i)))
            piece_start, words = i, 0
        while i < end and not text[i].isspace():
            i += 1
        words += 1
    if piece_start < end:
        pieces.append((piece_start, end))
    return pieces


def _rstrip(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def chunk_article(article: Article, params: ChunkParams) -> list[Chunk]:
    """Group whole sentences into chunks of at most `params.max_words` words.

    Consecutive chunks share `overlap_sentences` sentences so that a fact stated across a
    sentence boundary is whole in at least one chunk.
    """
    text = article.text
    spans: list[tuple[int, int]] = []
    for start, end in sentence_spans(text):
        if word_count(text[start:end]) > params.max_words:
            spans.extend(_split_long(text, start, end, params.max_words))
        else:
            spans.append((start, end))

    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    words = 0
    for span in spans:
        n = word_count(text[span[0] : span[1]])
        if current and words + n > params.max_words:
            groups.append(current)
            keep = current[-params.overlap_sentences :] if params.overlap_sentences else []
            if len(current) <= params.overlap_sentences:
                keep = []
            current = list(keep)
            words = sum(word_count(text[s:e]) for s, e in current)
        current.append(span)
        words += n
    if current:
        groups.append(current)

    return spanned(article, [(group[0][0], group[-1][1]) for group in groups])


def spanned(article: Article, spans: Sequence[tuple[int, int]]) -> list[Chunk]:
    """The chunks of `article` with these (start, end) spans, numbered in order: how
    `chunk_article` makes them, and how a chunking done in another process comes back."""
    return [Chunk(id=f"{article.id}#{n}", article_id=article.id, n=n, start=start, end=end,
                  text=article.text[start:end])
            for n, (start, end) in enumerate(spans)]
