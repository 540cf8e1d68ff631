"""SMS keywords (CTIA Messaging Principles): STOP and its synonyms opt out, START opts back in, HELP gets help,
STATUS asks after a report. English and Spanish.

A keyword is the whole message, compared without case, accents, spaces or closing punctuation ("Stop", " STOP ALL ",
"parar.", "Ayúda"); a report that merely contains the word ("stop sign knocked over") is a report, never a keyword.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from rules.threading import find_tracking_numbers


class KeywordAction(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


@dataclass(frozen=True, slots=True)
class Keyword:
    action: KeywordAction
    word: str  # as normalised: "stopall", "parar"
    language: str  # the language of the keyword itself, for the confirmation


# Twilio's default opt-out, opt-in and help words (the CTIA list), and their Spanish counterparts.
KEYWORDS: dict[str, tuple[KeywordAction, str]] = {
    **{
        w: (KeywordAction.STOP, "en")
        for w in ("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke")
    },
    **{w: (KeywordAction.STOP, "es") for w in ("parar", "pare", "detener", "cancelar", "baja")},
    **{w: (KeywordAction.START, "en") for w in ("start", "unstop", "optin")},
    **{w: (KeywordAction.START, "es") for w in ("comenzar", "iniciar", "reanudar")},
    **{w: (KeywordAction.HELP, "en") for w in ("help", "info")},
    **{w: (KeywordAction.HELP, "es") for w in ("ayuda", "informacion")},
}
# What Twilio's Advanced Opt-Out reports in `OptOutType` when it recognised a keyword configured there.
PROVIDER_OPT_OUT_TYPES = {"STOP": KeywordAction.STOP, "START": KeywordAction.START, "HELP": KeywordAction.HELP}

# Texts that still go to a number that opted out: the one confirmation of STOP, and answers to HELP (CTIA).
KINDS_SENT_WHEN_OPTED_OUT = ("stop", "help")

STATUS_WORDS = {"status": "en", "estado": "es", "estatus": "es"}
_SPACES_AND_MARKS = re.compile(r"[\s\-_*]+")
_CLOSING_PUNCTUATION = ".!?¡¿'\"()"


def normalise_keyword(text: str) -> str:
    """`" Stop All! "` -> `stopall`; `Ayúda` -> `ayuda`."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in folded if not unicodedata.combining(c) and unicodedata.category(c) != "Cf")
    return _SPACES_AND_MARKS.sub("", bare.strip().strip(_CLOSING_PUNCTUATION))


def classify_keyword(body: str, *, provider_opt_out_type: str | None = None) -> Keyword | None:
    """The keyword `body` is, or None for an ordinary message."""
    if len(body) > 40:  # keywords are single words; this also keeps long reports cheap
        return _provider_keyword(provider_opt_out_type, body)
    word = normalise_keyword(body)
    found = KEYWORDS.get(word)
    if found is not None:
        return Keyword(action=found[0], word=word, language=found[1])
    return _provider_keyword(provider_opt_out_type, body)


def _provider_keyword(opt_out_type: str | None, body: str) -> Keyword | None:
    # A city may configure extra keywords at Twilio; Twilio then tells us which kind it matched.
    action = PROVIDER_OPT_OUT_TYPES.get((opt_out_type or "").strip().upper())
    if action is None:
        return None
    return Keyword(action=action, word=normalise_keyword(body[:40]), language="en")


@dataclass(frozen=True, slots=True)
class StatusQuery:
    tracking_number: str | None  # None: "the latest report from this number"
    language: str


def parse_status_query(body: str, *, prefix: str) -> StatusQuery | None:
    """`STATUS SR-2026-000042`, `estado sr 2026 000042`, a bare tracking number, or a bare `STATUS`; else None."""
    text = body.strip()
    if len(text) > 60:
        return None
    numbers = find_tracking_numbers(text, prefix=prefix)
    if len(numbers) > 1:
        return None
    rest = text
    if numbers:
        rest = _without_tracking_number(text, prefix=prefix)
    word = normalise_keyword(rest)
    if word == "" and numbers:
        return StatusQuery(tracking_number=numbers[0], language="en")
    if word in STATUS_WORDS:
        return StatusQuery(tracking_number=numbers[0] if numbers else None, language=STATUS_WORDS[word])
    return None


def _without_tracking_number(text: str, *, prefix: str) -> str:
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(prefix)}[-\s]?\d{{4}}[-\s]?\d{{6}}(?!\d)", re.IGNORECASE)
    return pattern.sub(" ", text).replace("#", " ").replace(":", " ")
