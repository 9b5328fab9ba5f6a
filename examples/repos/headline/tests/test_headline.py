from headline import format_headline


def test_headline_is_tidied_and_title_cased():
    assert format_headline("  rain   in the   north ") == "Rain in the North"


def test_long_headline_is_cut():
    assert format_headline("word " * 30, limit=20).endswith("…")
