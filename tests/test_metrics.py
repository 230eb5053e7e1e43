import math

import pytest

from qa.eval.metrics import (
    contains_gold,
    distinct,
    exact_match,
    normalize_answer,
    normalize_url,
    percentile,
    recall_at_k,
    reciprocal_rank,
    strip_citations,
    token_f1,
)


def test_squad_normalisation() -> None:
    assert normalize_answer("The  Tartus naval-base, and an AIR base!") == \
        "tartus navalbase and air base"
    assert strip_citations("Tartus and Khmeimim [1][2, 3].") == "Tartus and Khmeimim."


def test_exact_match_and_f1_by_hand() -> None:
    golds = ["Tartus and Khmeimim", "Tartus naval base and Khmeimim airbase"]
    assert exact_match("tartus and khmeimim.", golds) == 1.0
    assert exact_match("Tartus", golds) == 0.0
    # "Tartus" vs "tartus and khmeimim": p=1, r=1/3 -> F1 = 0.5
    assert token_f1("Tartus", golds) == pytest.approx(0.5)
    # "Khmeimim air base" vs gold 2 (6 tokens): common {khmeimim, base} -> p=2/3, r=2/6
    assert token_f1("Khmeimim air base", golds) == pytest.approx(2 * (2 / 3) * (1 / 3) / 1.0)
    # repeated tokens count once per occurrence on both sides
    assert token_f1("base base base", ["base"]) == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert token_f1("", ["x"]) == 0.0 and token_f1("", [""]) == 1.0
    assert token_f1("anything", []) == 0.0


def test_contains_gold_respects_word_boundaries() -> None:
    assert contains_gold("It was 24 years [1].", ["24 years"]) == 1.0
    assert contains_gold("It was 124 years.", ["24 years"]) == 0.0
    assert contains_gold("Anything", ["", "nope"]) == 0.0


def test_url_normalisation() -> None:
    gold = "https://edition.cnn.com/2022/06/12/tech/usbc/index.html#:~:text=The%20company"
    assert normalize_url(gold) == normalize_url("http://www.cnn.com/2022/06/12/tech/usbc/"
                                                "index.html?utm=x")
    assert normalize_url("https://WWW.Example.com/a/") == "example.com/a"


def test_ranking_metrics_with_ties_duplicates_and_missing_gold() -> None:
    ranked = distinct(["a", "b", "a", "c", "d", "b"])
    assert ranked == ["a", "b", "c", "d"]
    assert recall_at_k(ranked, {"c"}, 1) == 0.0
    assert recall_at_k(ranked, {"c"}, 5) == 1.0
    assert recall_at_k(ranked, {"a", "z"}, 5) == 0.5  # two golds, one retrieved
    assert recall_at_k(ranked, set(), 5) == 0.0  # gold not in the index
    assert reciprocal_rank(ranked, {"c", "d"}, 10) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranked, {"d"}, 3) == 0.0
    assert reciprocal_rank([], {"d"}, 3) == 0.0


def test_percentiles_interpolate_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile([5.0], 90) == 5.0
    assert math.isnan(percentile([], 50))


def test_choice_coverage_counts_the_words_a_choice_adds() -> None:
    from qa.eval.choices import coverage

    passages = ["Orlin Maddox won the marathon.", "Maddox led from the start; Maddox won."]
    scores = coverage("Who won the marathon?", ["Orlin Maddox", "Sigrid Paulsen", "marathon"],
                      passages)
    # Orlin (1 time) and Maddox (3 times) both present: 1 + 0.01 * (1 + 3) / 2
    assert scores[0] == pytest.approx(1.02)
    assert scores[1] == 0.0
    # "marathon" adds nothing to the question, so its own words are all of its words
    assert scores[2] == pytest.approx(1.0 + 0.01 * 1)


def test_a_generator_that_scores_options_is_an_option_scorer() -> None:
    """Multiple choice and candidate ranking ask the generator for likelihoods only when it is
    an `OptionScorer` (llama.cpp's is; a server's and the fake are not)."""
    from typing import Any

    from qa.models.generators import OptionScorer
    from tests.conftest import FakeGenerator

    class Scoring(FakeGenerator):
        def score_options(self, prompt: str, options: Any) -> list[float]:
            return [0.0 for _ in options]

    assert isinstance(Scoring({}), OptionScorer)
    assert not isinstance(FakeGenerator({}), OptionScorer)
