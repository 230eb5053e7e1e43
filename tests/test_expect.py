"""Answers of the asked-for kind: the question's wording names it, verification enforces it."""

import pytest

from qa.answer.expect import (
    Kind,
    asks_exclusion,
    counted_noun,
    expected_kind,
    fits_kind,
    qualifiers,
    restates_question,
)


@pytest.mark.parametrize(("question", "kind"), [
    ("How long did it take him?", Kind.DURATION),
    ("How long had the team waited for the title?", Kind.DURATION),
    ("How many runners finished the full marathon?", Kind.COUNT),
    ("What is the latest count of homes damaged by the storm?", Kind.COUNT),
    ("How much did the bakery's renovation cost?", Kind.AMOUNT),
    ("What percentage of voters turned out?", Kind.PERCENT),
    ("In what year did the library open?", Kind.YEAR),
    ("When will the road reopen?", Kind.TIME),
    ("Who won the women's race?", Kind.PERSON),
    ("Where was the shelter opened?", Kind.PLACE),
    # Quizzes open with context; the last sentence asks.
    ("A ferry line added three winter sailings. Where do they leave from?", Kind.PLACE),
    ("Which bases does Russia intend to keep?", None),
    ("How long is the new bridge?", None),  # a length, not a duration
])
def test_the_kind_comes_from_the_question_that_is_asked(question: str, kind: Kind | None) -> None:
    assert expected_kind(question) is kind


def test_claims_of_the_wrong_kind_do_not_fit() -> None:
    assert fits_kind("2 hours, 21 minutes and 47 seconds", Kind.DURATION)
    assert fits_kind("2:21:47", Kind.DURATION)
    assert not fits_kind("the 12th race", Kind.DURATION)
    assert not fits_kind("Orlin Maddox", Kind.DURATION)
    assert fits_kind("2,840 runners", Kind.COUNT)
    assert fits_kind("eleven", Kind.COUNT)
    assert not fits_kind("the 12th", Kind.COUNT)  # an ordinal is not a count
    assert fits_kind("$12 million", Kind.AMOUNT)
    assert fits_kind("41 percent", Kind.PERCENT) and not fits_kind("41 voters", Kind.PERCENT)
    assert fits_kind("1974", Kind.YEAR) and not fits_kind("188,000 visits", Kind.YEAR)
    assert fits_kind("on Dec. 16", Kind.TIME) and fits_kind("next week", Kind.TIME)
    assert not fits_kind("at the seawall", Kind.TIME)
    assert fits_kind("Sigrid Paulsen", Kind.PERSON) and not fits_kind("the runner", Kind.PERSON)
    assert fits_kind("the Wexley Community Center", Kind.PLACE)
    assert fits_kind("anything at all", None)


def test_qualifiers_are_the_words_that_pick_one_of_several() -> None:
    assert qualifiers("Who won the women's race in the Riverton marathon?") == ["women"]
    assert qualifiers("Who scored first in the half marathon?") == ["first", "half"]
    assert qualifiers("What did the council decide last week?") == []


def test_what_a_how_many_question_counts() -> None:
    assert counted_noun("How many daily sailings does the winter ferry add?") == "sailings"
    assert counted_noun("How many homes were left uninhabitable?") == "homes"
    assert counted_noun("How many people died in the fire?") == "people"
    assert counted_noun("How many did they sell?") is None
    assert counted_noun("Who won the race?") is None


def test_a_claim_that_only_restates_the_asked_for_noun() -> None:
    question = "The museum is showing the 200-year-old hull of which ship?"
    assert restates_question("the restored hull of a 200-year-old ship", question)
    assert not restates_question("the Kestrel Maid", question)
    assert not restates_question("The northern container terminal",
                                 "Which terminal will the port close?")


def test_exclusion_questions() -> None:
    assert asks_exclusion("She sang in all of these operas except:")
    assert asks_exclusion("Which of these is not one of the bakery's new flavours?")
    assert not asks_exclusion("Which of these is a symptom?")
