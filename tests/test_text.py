from qa.core.text import (
    content_terms,
    jaccard,
    proper_names,
    sentence_spans,
    terms_match,
    tokens,
    url_words,
)


def test_tokens_fold_possessives_and_thousands() -> None:
    assert tokens("China's 1,000 troops, 3.5 km") == ["china", "1000", "troops", "3.5", "km"]


def test_content_terms_drop_function_words_and_stem() -> None:
    assert content_terms("Which bases does Russia intend to keep?") == [
        "base", "russia", "intend", "keep"]


def test_proper_names_skip_the_first_word() -> None:
    assert proper_names("What did China's foreign ministry say about Russia?") == [
        "china", "russia"]
    assert proper_names("Which bases does Russia intend to keep?") == ["russia"]


def test_terms_match_prefixes_but_not_numbers() -> None:
    assert terms_match("russia", "russian")
    assert not terms_match("war", "warsaw")  # too short to be a prefix match
    assert not terms_match("24", "240")


def test_sentence_spans_are_exact_and_stay_inside_lines() -> None:
    text = "Headline here\nDr. Smith arrived at 5 p.m. on Monday. He left.\n\n  Last one!  "
    spans = sentence_spans(text)
    pieces = [text[s:e] for s, e in spans]
    assert pieces[0] == "Headline here"
    assert pieces[-1] == "Last one!"
    assert "He left." in pieces
    for s, e in spans:
        assert "\n" not in text[s:e]
        assert text[s:e] == text[s:e].strip()


def test_a_long_line_is_segmented_in_windows_with_exact_spans() -> None:
    from qa.core.text import sentence_spans

    text = "Intro line.\n" + "The ferry sails at noon. " * 300 + "\nLast line."
    spans = sentence_spans(text)
    pieces = [text[a:b] for a, b in spans]
    assert pieces[0] == "Intro line." and pieces[-1] == "Last line."
    assert pieces[1:-1] == ["The ferry sails at noon."] * 300  # no sentence cut at a window


def test_url_words_are_the_slug_that_names_the_story() -> None:
    assert url_words("https://news.example/2024/05/02/city/ferry-winter-plan/index.html") == \
        "ferry winter plan"
    # the longest slug wins over section names; long numeric ids and extensions are dropped
    assert url_words("https://paper.example/story/sports/2024/05/02/"
                     "pinecrest-robotics-title-after-12-years/10051729002/") == \
        "pinecrest robotics title after 12 years"
    assert url_words("https://paper.example/a/harbor_ledger_budget.php?id=7") == \
        "harbor ledger budget"
    for nothing in (None, "", "https://paper.example/", "https://paper.example/news/123456.html",
                    "https://paper.example/read?story=ferry-winter-plan"):
        assert url_words(nothing) == ""


def test_jaccard_is_told_what_two_empty_sets_are() -> None:
    assert jaccard({"ferry", "hull"}, {"hull", "mayor"}, empty=0.0) == 1 / 3
    assert jaccard(set(), set(), empty=0.0) == 0.0  # copies: nothing to compare is no copy
    assert jaccard(set(), set(), empty=1.0) == 1.0  # evidence: two empty sentences repeat
    assert jaccard({"opera"}, set(), empty=1.0) == 0.0
