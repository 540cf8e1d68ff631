"""SMS segment counting (GSM-7 and UCS-2, 3GPP TS 23.038/23.040) and fitting texts to N segments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.segments import count_segments, fit_to_segments, is_gsm7, to_gsm7

LINK = "https://311.city.example/track/SR-2026-000042?t=Zx3_vQ9-kLmN0pQrStUvWx"


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),
        ("a" * 306, "GSM-7", 2, 306),
        ("a" * 307, "GSM-7", 3, 307),
        ("€" * 80, "GSM-7", 1, 160),  # extension characters cost two septets
        ("€" * 81, "GSM-7", 2, 162),
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 3, 306),  # 306 septets, yet three: the escape pair is not split
        ("Ñandú", "UCS-2", 1, 5),  # ú is not in the GSM alphabet
        ("Ñandu", "GSM-7", 1, 5),
        ("á" * 70, "UCS-2", 1, 70),
        ("á" * 71, "UCS-2", 2, 71),
        ("á" * 134, "UCS-2", 2, 134),
        ("á" * 135, "UCS-2", 3, 135),
        ("😀" * 35, "UCS-2", 1, 70),  # outside the BMP: two UTF-16 code units each
        ("a" * 66 + "😀" + "a" * 66, "UCS-2", 3, 134),  # nor is a surrogate pair
        ("{[~]}|^\\\f€", "GSM-7", 1, 20),
        ("Pothole @ 12 Main St! $5 £3 ¥1 ¿Qué? ¡Sí!", "UCS-2", 1, 41),  # é is GSM-7, í is not
    ],
)
def test_count_segments(text: str, encoding: str, segments: int, units: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.segments, count.units) == (encoding, segments, units)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It’s “big” – really…", 'It\'s "big" - really...'),
        ("número de teléfono", "numero de teléfono"),  # é is in the GSM alphabet, ú is not
        ("Ñandú", "Ñandu"),  # Ñ is GSM-7 and stays
        ("façade", "facade"),
        ("no\u00a0break", "no break"),
        ("Grüße", "Grüße"),  # ü and ß are GSM-7
        ("pothole 😀", "pothole 😀"),  # no GSM spelling: left alone (the text stays UCS-2)
    ],
)
def test_to_gsm7(text: str, expected: str) -> None:
    assert to_gsm7(text) == expected


def test_fitting_prefers_the_gsm_spelling_over_cutting() -> None:
    text = "Su número de seguimiento es SR-2026-000042. " + "á" * 60  # 104 characters: 2 UCS-2 segments
    fitted = fit_to_segments(text, 1)
    assert fitted == to_gsm7(text) and count_segments(fitted).segments == 1 and is_gsm7(fitted)


def test_fitting_cuts_free_text_and_keeps_the_link_whole() -> None:
    text = f"We got your report: {'the pothole is very big ' * 20}. Track it: {LINK} Reply STOP to opt out."
    fitted = fit_to_segments(text, 2, keep=[LINK])
    assert LINK in fitted and count_segments(fitted).segments == 2
    assert fitted.startswith("We got your report: the pothole") and "..." in fitted
    assert len(fitted) > 280  # as little as possible was cut


def test_fitting_never_cuts_into_the_link_even_when_it_comes_last() -> None:
    text = "x" * 150 + " " + LINK
    fitted = fit_to_segments(text, 1, keep=[LINK])
    assert fitted.endswith(LINK) and count_segments(fitted).segments == 1


def test_a_text_that_fits_is_returned_unchanged() -> None:
    text = f"Tracking number SR-2026-000042: {LINK}"
    assert fit_to_segments(text, 1, keep=[LINK]) == text


def test_kept_text_larger_than_the_budget_is_an_error() -> None:
    with pytest.raises(ValueError, match="kept text"):
        fit_to_segments("a" * 10 + LINK * 3, 1, keep=[LINK * 3])


@settings(max_examples=150, deadline=None)
@given(
    before=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400),
    after=st.text(max_size=200),
    budget=st.integers(min_value=1, max_value=4),
)
def test_fitted_text_always_fits_and_keeps_the_link(before: str, after: str, budget: int) -> None:
    fitted = fit_to_segments(f"{before} {LINK} {after}", budget, keep=[LINK])
    assert LINK in fitted
    assert count_segments(fitted).segments <= budget
