from qa.answer.shaping import asks_for_source, complete_list, reporting_source
from qa.core.records import Article, Evidence


def _ev(text: str) -> Evidence:
    return Evidence(key=1, article=Article(id="a", text=text), start=0, end=len(text), score=1.0)


def test_outlet_questions_are_answered_from_the_reporting_phrase() -> None:
    assert asks_for_source("Which outlet first reported the request?")
    assert asks_for_source("Which news agency reported the capture of the city?")
    assert not asks_for_source("Which country did Russia ask for help?")
    assert reporting_source("Which outlet first reported it?", [
        _ev("Russia asked Turkey for help, CNN Turk reported on Dec. 9.")]) == "CNN Turk"
    assert reporting_source("Which agency reported it?", [
        _ev("Fighters took the province, Russian state news agency TASS reported.")]) == "TASS"
    assert reporting_source("Which outlet reported it?", [
        _ev("The storm damaged 140 homes.")]) is None


def test_plural_questions_get_the_whole_list() -> None:
    bases = "Which bases does Russia intend to keep?"
    assert complete_list(bases, "Khmeimim", [_ev("It keeps its bases in Tartus and Khmeimim.")]
                         ) == "Tartus and Khmeimim"
    assert complete_list(bases, "Khmeimim", [
        _ev("It keeps the Tartus naval base and the Khmeimim air base.")]
    ) == "Tartus naval base and the Khmeimim air base"
    assert complete_list("Which countries helped?", "Iran", [
        _ev("Egypt, Turkey, and Iran helped.")]) == "Egypt, Turkey, and Iran"
    # A singular question keeps its single answer.
    assert complete_list("Which country helped?", "Iran", [_ev("Turkey and Iran helped.")]
                         ) == "Iran"


def test_a_hedged_figure_keeps_its_hedge() -> None:
    from qa.answer.shaping import keep_hedges

    quote = ("The clerk said the storm, which damaged more than 200 homes, had drawn voters "
             "to the runoff.")
    assert keep_hedges("200 [1].", [quote]) == "more than 200 [1]."
    assert keep_hedges("more than 200 homes [1].", [quote]) == "more than 200 homes [1]."
    assert keep_hedges("Over 3 days [1].", ["It rained for over 3 days."]) == "Over 3 days [1]."
    assert keep_hedges("$12 million [1].", ["The startup raised about $12 million."]) == \
        "about $12 million [1]."
    # Only the figure itself: 20 is not hedged by "over 200", nor 2 by "about 2.5".
    assert keep_hedges("20 [1].", ["Over 200 people came."]) == "20 [1]."
    assert keep_hedges("2 [1].", ["It took about 2.5 hours."]) == "2 [1]."
    # A citation marker is no figure, whatever a quote hedges.
    assert keep_hedges("5 [1].", ["It cost more than 1 million."]) == "5 [1]."
    assert keep_hedges("1 [1] and 2 [2].", ["about 1 in 3", "over 2 days"]) == \
        "about 1 [1] and over 2 [2]."
    # An exact count stays exact.
    assert keep_hedges("212 [1].", ["Inspectors have now counted 212 damaged homes."]) == \
        "212 [1]."
