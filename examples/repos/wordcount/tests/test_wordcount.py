from wordcount import count_words, top_words


def test_counts_words_across_odd_spacing():
    assert count_words("one  two\nthree ") == 3


def test_empty_text_has_no_words():
    assert count_words("   ") == 0


def test_top_words():
    assert top_words("a b a c a b") == [("a", 3), ("b", 2), ("c", 1)]
