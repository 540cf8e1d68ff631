"""SMS keywords and status questions: whole-message matches only, any case, spacing, accents or closing punctuation."""

from __future__ import annotations

import pytest

from rules.sms_keywords import KeywordAction, classify_keyword, normalise_keyword, parse_status_query

STOP, START, HELP = KeywordAction.STOP, KeywordAction.START, KeywordAction.HELP


@pytest.mark.parametrize(
    ("body", "action", "language"),
    [
        ("STOP", STOP, "en"),
        ("stop", STOP, "en"),
        ("  Stop  ", STOP, "en"),
        ("STOP ALL", STOP, "en"),
        ("stopall", STOP, "en"),
        ("Unsubscribe", STOP, "en"),
        ("cancel", STOP, "en"),
        ("END", STOP, "en"),
        ("Quit!", STOP, "en"),
        ("stop.", STOP, "en"),
        ("PARAR", STOP, "es"),
        ("pare", STOP, "es"),
        ("Cancelar", STOP, "es"),
        ("START", START, "en"),
        ("unstop", START, "en"),
        ("Un-Stop", START, "en"),
        ("comenzar", START, "es"),
        ("HELP", HELP, "en"),
        ("help?", HELP, "en"),
        ("Info", HELP, "en"),
        ("AYUDA", HELP, "es"),
        ("ayúda", HELP, "es"),
        ("Información", HELP, "es"),
        ("\u200bSTOP", STOP, "en"),  # a zero-width space some keyboards add is still just STOP
    ],
)
def test_keywords(body: str, action: KeywordAction, language: str) -> None:
    keyword = classify_keyword(body)
    assert keyword is not None
    assert (keyword.action, keyword.language) == (action, language)


@pytest.mark.parametrize(
    "body",
    [
        "stop sign knocked over at Clark and Addison",  # a report that mentions the word
        "please stop the noise",
        "help me, water everywhere",
        "the light at the end of the block is out",
        "STOPP",
        "",
        "yes",  # never an opt-in by itself: answers to our questions must reach the ticket
        "STOP " * 20,
    ],
)
def test_reports_are_not_keywords(body: str) -> None:
    assert classify_keyword(body) is None


def test_the_provider_may_name_the_keyword() -> None:
    # Twilio's Advanced Opt-Out can be given extra words; it then tells us which kind matched.
    keyword = classify_keyword("ALTO", provider_opt_out_type="stop")
    assert keyword is not None and keyword.action == STOP
    assert classify_keyword("ALTO") is None


def test_normalise_keyword() -> None:
    assert normalise_keyword(" Stop All! ") == "stopall"
    assert normalise_keyword("AYÚDA") == "ayuda"


@pytest.mark.parametrize(
    ("body", "number", "language"),
    [
        ("STATUS SR-2026-000042", "SR-2026-000042", "en"),
        ("status sr-2026-000042", "SR-2026-000042", "en"),
        ("Status: SR 2026 000042?", "SR-2026-000042", "en"),
        ("SR-2026-000042", "SR-2026-000042", "en"),
        ("#SR2026000042", "SR-2026-000042", "en"),
        ("ESTADO SR-2026-000042", "SR-2026-000042", "es"),
        ("status", None, "en"),
        ("Estado", None, "es"),
    ],
)
def test_status_queries(body: str, number: str | None, language: str) -> None:
    query = parse_status_query(body, prefix="SR")
    assert query is not None
    assert (query.tracking_number, query.language) == (number, language)


@pytest.mark.parametrize(
    "body",
    [
        "SR-2026-000042 it is getting bigger",  # a follow-up to that ticket, not a question
        "status of the pothole on Main?",
        "SR-2026-000042 SR-2026-000043",
        "pothole",
    ],
)
def test_not_status_queries(body: str) -> None:
    assert parse_status_query(body, prefix="SR") is None


def test_status_query_uses_the_citys_prefix() -> None:
    query = parse_status_query("status CHI-2026-000001", prefix="CHI")
    assert query is not None and query.tracking_number == "CHI-2026-000001"
    assert parse_status_query("status SR-2026-000042", prefix="CHI") is None
