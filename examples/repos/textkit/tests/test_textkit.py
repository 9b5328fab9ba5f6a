from textkit import collapse_spaces, title_case


def test_runs_of_whitespace_become_one_space():
    assert collapse_spaces("  many   spaces\there \n") == "many spaces here"


def test_title_case_keeps_small_words_low():
    assert title_case("the fall of the house") == "The Fall of the House"
