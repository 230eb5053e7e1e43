from qa.prompts import REFUSAL
from qa.records import Article, Evidence
from qa.verify import support, verify

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
