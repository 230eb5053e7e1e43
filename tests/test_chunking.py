from qa.core.records import Article
from qa.core.text import word_count
from qa.ingest.chunking import ChunkParams, chunk_article

TEXT = " ".join(f"Sentence number {i} has exactly seven words." for i in range(20))


def test_chunks_are_exact_slices_of_whole_sentences() -> None:
    article = Article(id="a1", text=TEXT)
    chunks = chunk_article(article, ChunkParams(max_words=30, overlap_sentences=1))
    assert len(chunks) > 1
    for n, chunk in enumerate(chunks):
        assert chunk.id == f"a1#{n}"
        assert chunk.text == TEXT[chunk.start : chunk.end]
        assert chunk.text.startswith("Sentence") and chunk.text.endswith(".")
        assert word_count(chunk.text) <= 30
    assert chunks[0].start == 0 and chunks[-1].end == len(TEXT)


def test_consecutive_chunks_share_the_overlap_sentence() -> None:
    chunks = chunk_article(Article(id="a", text=TEXT), ChunkParams(max_words=30,
                                                                    overlap_sentences=1))
    for first, second in zip(chunks, chunks[1:], strict=False):
        assert second.start < first.end  # the last sentence of one opens the next
    without = chunk_article(Article(id="a", text=TEXT), ChunkParams(max_words=30,
                                                                     overlap_sentences=0))
    for first, second in zip(without, without[1:], strict=False):
        assert second.start > first.end


def test_a_sentence_longer_than_a_chunk_is_cut_at_whitespace() -> None:
    text = " ".join(["word"] * 75)
    chunks = chunk_article(Article(id="a", text=text), ChunkParams(max_words=30))
    assert [word_count(c.text) for c in chunks] == [30, 30, 15]
    assert all(c.text == text[c.start : c.end] for c in chunks)
