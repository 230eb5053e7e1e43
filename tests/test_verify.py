from dataclasses import replace

from qa.answer.prompts import REFUSAL
from qa.answer.verify import support, verify
from qa.core.records import Article, Evidence

SEED = Article(
    id="seed", title="Russia seeks Turkey's help", source="Outlet", published="2024-12-09",
    text=("Russia has asked Turkey to help withdraw its troops from Syria. However, Moscow "
          "intends to retain its bases in Tartus and Khmeimim. The offensive ended Assad's "
          "24-year rule."),
)


def _evidence(article: Article, sentence: str, key: int) -> Evidence:
    start = article.text.index(sentence)
    return Evidence(key=key, article=article, start=start, end=start + len(sentence), score=1.0)


EVIDENCE = [
    _evidence(SEED, "However, Moscow intends to retain its bases in Tartus and Khmeimim.", 1),
    _evidence(SEED, "The offensive ended Assad's 24-year rule.", 2),
    _evidence(SEED, "Russia has asked Turkey to help withdraw its troops from Syria.", 3),
]
BASES = "Which bases does Russia intend to keep?"


def test_support_needs_the_new_words_in_the_evidence() -> None:
    assert support("Tartus and Khmeimim", BASES, EVIDENCE[0]) == 1.0
    assert support("Tartus and Sevastopol", BASES, EVIDENCE[0]) == 0.0
    assert support("Russia intends to keep bases", BASES, EVIDENCE[0]) == 0.0  # restates
    assert support("24 years", "How long did Assad rule?", EVIDENCE[1]) == 1.0
    assert support("20 years", "How long did Assad rule?", EVIDENCE[1]) == 0.0


def test_names_in_the_question_must_be_in_the_cited_article() -> None:
    question = "What did China's foreign ministry say about the withdrawal?"
    assert support("Russia asked Turkey for help", question, EVIDENCE[2]) == 0.0
    result = verify("China said Russia asked Turkey for help [3].", question, EVIDENCE)
    assert not result.answerable and result.text == REFUSAL and result.citations == ()


def test_a_supported_answer_gets_a_citation_with_an_exact_quote() -> None:
    result = verify("Tartus and Khmeimim", BASES, EVIDENCE)
    assert result.answerable
    assert result.text == "Tartus and Khmeimim [1]."
    (citation,) = result.citations
    assert citation.quote in SEED.text and "Khmeimim" in citation.quote
    assert (citation.article_id, citation.published) == ("seed", "2024-12-09")


def test_wrong_and_invented_citations_are_replaced_or_dropped() -> None:
    # [2] does not support the claim and [9] was never shown: the claim moves to [1].
    result = verify("Moscow keeps Tartus and Khmeimim [2][9].", BASES, EVIDENCE)
    assert result.text == "Moscow keeps Tartus and Khmeimim [1]."
    assert [c.quote for c in result.citations] == [EVIDENCE[0].text]


def test_unsupported_sentences_are_dropped_and_keys_renumbered() -> None:
    draft = ("Russia keeps Tartus and Khmeimim [1]. It also keeps a base in Crimea [1]. "
             "The offensive ended a 24-year rule [2].")
    result = verify(draft, BASES, EVIDENCE)
    assert "Crimea" not in result.text
    assert result.text == "Russia keeps Tartus and Khmeimim [1]. The offensive ended a 24-year " \
                          "rule [2]."
    assert [c.key for c in result.citations] == [1, 2]


def test_a_draft_that_declines_is_a_refusal() -> None:
    for draft in ("Not in the archive.", "The context does not say.", "", "Unknown"):
        result = verify(draft, BASES, EVIDENCE)
        assert not result.answerable and result.text == REFUSAL


def test_numbers_in_the_question_must_be_in_the_cited_article() -> None:
    assert support("Assad", "Who ruled for 24 years?", EVIDENCE[1]) == 1.0
    assert support("Assad", "Who ruled Syria in 2031?", EVIDENCE[1]) == 0.0
    # the article's own date counts
    assert support("Assad", "Whose rule ended in 2024?", EVIDENCE[1]) == 1.0


def test_contradictions_of_the_evidence_are_not_supported() -> None:
    for claim in ("Not Tartus or Khmeimim.", "Russia will abandon its bases in Tartus, "
                  "Khmeimim, Latakia and Hama."):
        assert support(claim, BASES, EVIDENCE[0]) == 0.0, claim


RACE = Article(
    id="race", title="Two winners at the Riverton Winter Marathon", source="Dispatch",
    published="2024-12-02",
    text=("Orlin Maddox won the 12th Riverton Winter Marathon on Sunday, finishing in 2 hours, "
          "21 minutes and 47 seconds. In the women's race, Sigrid Paulsen won in 2:38:10. "
          "About 2,840 runners finished."),
)
STORM = Article(
    id="storm", title="Storm damage count rises", source="Ledger", published="2024-12-02",
    text=("Inspectors have now counted 212 damaged homes, up from the preliminary figure of 140 "
          "reported last week. The fare rose from $1.75 to $2.00 in January."),
)


def _sentences(article: Article) -> list[Evidence]:
    from qa.core.text import sentence_spans

    return [Evidence(key=n, article=article, start=s, end=e, score=1.0)
            for n, (s, e) in enumerate(sentence_spans(article.text), start=1)]


def test_a_number_keeps_its_unit_and_an_ordinal_is_not_a_count() -> None:
    evidence = _sentences(RACE)
    question = "How long did it take Orlin Maddox to win the marathon?"
    assert not verify("12 years", question, evidence).answerable  # "the 12th" is no duration
    assert not verify("2 miles", question, evidence).answerable
    right = verify("2 hours, 21 minutes and 47 seconds", question, evidence)
    assert right.answerable and right.citations[0].quote == evidence[0].text


def test_an_answer_of_the_wrong_kind_is_refused() -> None:
    evidence = _sentences(RACE)
    assert not verify("Orlin Maddox", "How many runners finished the race?", evidence).answerable
    assert not verify("Sunday", "Who won the Riverton Winter Marathon?", evidence).answerable


def test_the_questions_qualifier_must_hold_for_the_cited_sentence() -> None:
    evidence = _sentences(RACE)
    question = "Who won the women's race at the Riverton Winter Marathon?"
    assert not verify("Orlin Maddox", question, evidence).answerable  # the men's winner
    right = verify("Sigrid Paulsen", question, evidence)
    assert right.answerable and "women's race" in right.citations[0].quote


def test_a_figure_the_evidence_revises_does_not_answer() -> None:
    evidence = _sentences(STORM)
    question = "How many homes did the storm damage?"
    assert not verify("140 homes", question, evidence).answerable
    assert verify("212 homes", question, evidence).answerable
    # Unless the earlier figure is what is asked for.
    assert verify("140", "What was the preliminary count of damaged homes?", evidence).answerable
    assert not verify("$1.75", "What is the fare now?", evidence).answerable


def test_a_figure_a_later_report_revises_does_not_answer() -> None:
    first = Article(id="first", title="Storm damage", source="Ledger", published="2024-11-25",
                    text="Eleven homes were judged uninhabitable after the storm.")
    update = Article(id="update", title="Storm update", source="Ledger", published="2024-12-02",
                     text="The number of homes judged uninhabitable has risen from 11 to 19.")
    evidence = [*_sentences(first), *(replace(e, key=2) for e in _sentences(update))]
    question = "How many homes were judged uninhabitable after the storm?"
    assert not verify("11", question, evidence).answerable  # "Eleven" in the first report
    right = verify("19", question, evidence)
    assert right.answerable and right.citations[0].article_id == "update"


FERRY = Article(
    id="ferry", title="Ferry adds winter trips", source="Outlet", published="2024-12-18",
    text=("The ferry company will add three sailings a day from January. The crossing carried "
          "about 186,000 passengers last winter. Six crew members were hired."),
)


def test_a_count_must_count_what_the_question_asks_about() -> None:
    question = "How many daily sailings does the ferry add?"
    trips = _evidence(FERRY, "The ferry company will add three sailings a day from January.", 1)
    riders = _evidence(FERRY, "The crossing carried about 186,000 passengers last winter.", 2)
    assert support("three", question, trips) == 1.0
    assert support("3 sailings", question, trips) == 1.0
    assert support("186,000", question, riders) == 0.0  # a count of passengers
    assert not verify("186,000 [2].", question, [trips, riders]).answerable
    # A number the evidence gives no unit still answers ("the toll rose to 51.").
    crew = _evidence(FERRY, "Six crew members were hired.", 3)
    assert support("6", "How many crew members were hired?", crew) == 1.0
    assert support("6", "How many captains were hired?", crew) == 0.0


BUDGET = Article(
    id="budget", title="Council passes budget", source="Outlet", published="2024-12-17",
    text=("The budget includes $410,000 to add two officers to the police department, $275,000 "
          "for sidewalk repairs and $150,000 toward the library expansion."),
)


def test_a_figure_answers_only_for_what_it_is_next_to() -> None:
    question = "How much money does the budget give the library expansion?"
    sentence = _sentences(BUDGET)[0]
    assert support("$410,000", question, sentence) == 0.0  # the police officers' money
    assert support("$150,000", question, sentence) > 0.0
    assert support("$410,000", "How much will the police department get for officers?",
                   sentence) > 0.0


def test_stripping_a_fake_marker_leaves_no_dangling_words() -> None:
    for draft in ("Moscow keeps Tartus and Khmeimim [1] and cite and [9].",
                  "Moscow keeps Tartus and Khmeimim [1], see [9].",
                  "Moscow keeps Tartus and Khmeimim [1] and cite [9]."):
        assert verify(draft, BASES, EVIDENCE).text == "Moscow keeps Tartus and Khmeimim [1].", \
            draft
    # Words between markers that say something stay.
    result = verify("Moscow keeps Tartus [1] and Khmeimim [1].", BASES, EVIDENCE)
    assert result.text == "Moscow keeps Tartus and Khmeimim [1]."


def test_days_of_a_month_and_clock_times_are_not_figures() -> None:
    race = Article(id="race", title="Marathon results", source="Outlet", published="2024-12-02",
                   text=("Orlin Maddox won the marathon on Sunday, Dec. 1, finishing in 2 hours, "
                         "21 minutes and 47 seconds. The extra boats leave at 6:15 a.m., "
                         "12:30 p.m. and 7 p.m."))
    finish, boats = _sentences(race)
    question = "How long did it take Orlin Maddox to finish the marathon?"
    assert support("2 hours, 21 minutes and 47 seconds", question, finish) > 0.0
    assert support("12", "How many extra boats leave?", boats) == 0.0
