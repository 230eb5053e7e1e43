"""Finding the passages that bear on a question (dense and lexical, fused, filtered)."""
