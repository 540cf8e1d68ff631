"""Keyword expansion: a keyword in its base form matches its plurals and verb forms, "=word" only itself."""

from __future__ import annotations

import pytest

from rules.wordforms import fold, keyword_forms, phrases_of, word_forms, words_of


@pytest.mark.parametrize(
    ("keyword", "form"),
    [
        ("leak", "leaking"),
        ("leak", "leaked"),
        ("leak", "leaks"),
        ("pothole", "potholes"),
        ("mattress", "mattresses"),
        ("dump", "dumped"),
        ("freeze", "frozen"),
        ("fall", "fell"),
        ("bury", "buried"),
        ("stop", "stopped"),
        ("street light", "street lights"),
        ("fallen tree", "fallen trees"),
        ("mouse", "mice"),
    ],
)
def test_keyword_matches_its_forms(keyword: str, form: str) -> None:
    assert form in keyword_forms(keyword)


def test_expansion_never_goes_from_a_longer_word_to_a_shorter_one() -> None:
    assert "park" not in keyword_forms("parking")
    assert "parked" in keyword_forms("park")


def test_exact_keyword_matches_only_as_written() -> None:
    assert keyword_forms("=park") == frozenset({"park"})
    assert keyword_forms("=Dead") == frozenset({"dead"})


def test_keyword_without_words_is_refused() -> None:
    with pytest.raises(ValueError, match="no words"):
        keyword_forms(" -- ")


def test_fold_strips_case_accents_and_apostrophes() -> None:
    assert fold("Driver’s CAFÉ isn't") == "drivers cafe isnt"
    assert words_of("Pot-hole on 5th Ave!") == ("pot", "hole", "on", "5th", "ave")


def test_short_and_numeric_words_are_left_alone() -> None:
    assert word_forms("5th") == frozenset({"5th"})
    assert word_forms("ox") == frozenset({"ox"})


def test_phrases_are_built_only_where_a_known_phrase_starts() -> None:
    words = ("big", "pothole", "on", "main", "street")
    everything = phrases_of(words, 3)
    assert "on main street" in everything and "big pothole on" in everything
    limited = phrases_of(words, 3, frozenset({"main"}))
    assert "main street" in limited and "big pothole" not in limited
    assert set(words) <= limited
