"""Content words: what the text model reads of a report, the same in training and in use."""

from __future__ import annotations

from rules.contentwords import content_words, stop_words


def test_stop_words_links_and_case_go_and_digits_fold_to_zero() -> None:
    text = "The STREET LIGHT at 1420 W Addison has been out since 11pm, see https://maps.example/x?q=1 or mail me@x.org"
    assert content_words(text) == "street light 0 w addison 0pm mail"


def test_two_reports_that_differ_only_in_numbers_and_function_words_read_the_same() -> None:
    assert content_words("There is a pothole on 5th Ave near 221") == content_words("pothole on 12th ave, near #9")


def test_apostrophes_keep_a_word_whole_and_curly_ones_read_as_straight() -> None:
    assert content_words("Car hasn\u2019t moved") == content_words("car hasn't moved") == "car hasn't moved"


def test_stop_words_follow_the_language_and_an_unknown_one_drops_none() -> None:
    assert "the" in stop_words("en") and "el" in stop_words("es")
    assert content_words("el bache en la calle", "es") == "bache calle"
    assert stop_words("zz") == frozenset()
    assert content_words("the pothole", "zz") == "the pothole"
