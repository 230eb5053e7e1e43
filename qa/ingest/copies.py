"""Syndicated copies: the same wire story carried by several outlets, or reposted, with small edits.

An article is a copy of a stored one when the sets of its three-word shingles overlap by at
least `COPY_JACCARD` (exact Jaccard, computed on both texts), and, when both come from the same
outlet, their headlines agree too: one outlet printing the same body under different headlines
is page furniture (a paywall notice, a scraped template), not one story.

Candidates come from MinHash locality-sensitive hashing: a 120-permutation signature cut into
20 bands of 6 rows, each band hashed to one 64-bit key stored in SQLite. Two texts share a band
with probability 1 - (1 - J**6)**20: 0.998 at J = 0.8, 0.27 at J = 0.5, 0.015 at J = 0.3, so
near-copies are found and unrelated stories rarely cost an exact comparison.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from qa.core.records import Article
from qa.core.text import STOPWORDS, jaccard, tokens

SHINGLE_WORDS = 3
COPY_JACCARD = 0.8
HEADLINE_JACCARD = 0.5
MIN_WORDS = 50  # shorter texts (briefs, summaries) are too generic to call copies
BANDS = 20
ROWS = 6
_SEED = 7


def shingles(text: str) -> set[str]:
    words = tokens(text)
    return {" ".join(words[i : i + SHINGLE_WORDS])
            for i in range(len(words) - SHINGLE_WORDS + 1)}


def eligible(text: str) -> bool:
    return len(tokens(text)) >= MIN_WORDS


def band_keys(text: str) -> list[int]:
    """The LSH keys of `text`, one per band; none for a text too short to be compared."""
    if not eligible(text):
        return []
    from datasketch import MinHash

    signature = MinHash(num_perm=BANDS * ROWS, seed=_SEED)
    signature.update_batch([s.encode("utf-8") for s in shingles(text)])
    values = signature.hashvalues
    keys = []
    for band in range(BANDS):
        digest = hashlib.blake2b(values[band * ROWS : (band + 1) * ROWS].tobytes(),
                                 digest_size=8, person=band.to_bytes(2, "little")).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def _headline_words(title: str) -> set[str]:
    return {t for t in tokens(title) if t not in STOPWORDS}


def copy_similarity(new: Article, stored: Article, new_shingles: set[str] | None = None
                    ) -> float | None:
    """The shingle Jaccard of two articles if one is a copy of the other, else None."""
    if not (eligible(new.text) and eligible(stored.text)):
        return None
    # Empty sets are 0.0 here: texts with nothing to compare are no evidence of a copy.
    similarity = jaccard(new_shingles if new_shingles is not None else shingles(new.text),
                         shingles(stored.text), empty=0.0)
    if similarity < COPY_JACCARD:
        return None
    same_outlet = (new.source or "").strip().lower() == (stored.source or "").strip().lower()
    if same_outlet and new.title and stored.title and jaccard(
            _headline_words(new.title), _headline_words(stored.title),
            empty=0.0) < HEADLINE_JACCARD:
        return None
    return similarity


def best_copy_match(new: Article, candidates: Iterable[Article]) -> tuple[Article, float] | None:
    """The candidate `new` is a copy of (the most similar one), if any."""
    best: tuple[Article, float] | None = None
    new_shingles = shingles(new.text)
    for candidate in candidates:
        if candidate.id == new.id:
            continue
        similarity = copy_similarity(new, candidate, new_shingles)
        if similarity is not None and (best is None or similarity > best[1]):
            best = (candidate, similarity)
    return best


def preferred(a: Article, b: Article) -> bool:
    """Whether `a` should stand for the story rather than its copy `b`: it was published
    earlier, or the same day with a headline where `b` has none (an undated article is never
    earlier)."""
    if a.date and b.date and a.date != b.date:
        return a.date < b.date
    return bool(a.title.strip() and not b.title.strip() and (a.date or not b.date))
