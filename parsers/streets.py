"""The grammar of US street names, for `parsers.location`: what a street looks like, and a key to compare two.

A street is an optional direction, one to four name words and an optional type ("N Clark St", "Bay Ridge
Parkway", "5th", "Belmont"). Types that are also common words ("lane", "way", "walk") only count when the
name is written like a name (capitalised or numbered), so "right lane" is not a street.
"""

from __future__ import annotations

import re

SUFFIX = (
    r"(?:street|st|avenue|ave|av|road|rd|boulevard|blvd|drive|dr|lane|ln|place|pl|court|ct|way|terrace|ter"
    r"|parkway|pkwy|highway|hwy|square|sq|circle|cir|plaza|row|expressway|expy|turnpike|tpke|loop|trail|trl"
    r"|pike|alley|aly|walk|crescent|cres|concourse|broadway)"
)
# types that are never ordinary words, so even "tremont street" or "12 main st" written in lower case count
_UNAMBIGUOUS_TEXT = (
    "street st avenue ave av road rd boulevard blvd pkwy parkway hwy highway expy expressway tpke "
    "turnpike broadway ln dr pl ct ter sq cir trl aly cres concourse"
)
UNAMBIGUOUS = frozenset(_UNAMBIGUOUS_TEXT.split())
# abbreviated types: "12 main st" is an address even in lower case, "2 broken street lights" is prose
_ABBREVIATED_TEXT = "st ave av rd blvd pkwy hwy expy tpke ln dr pl ct ter sq cir trl aly cres"
ABBREVIATED = frozenset(_ABBREVIATED_TEXT.split())
DIR = r"(?:north|south|east|west|[NSEW]\.?|NE|NW|SE|SW)"
_STOP = (
    r"(?:on|in|at|the|of|and|near|from|to|by|for|with|is|was|a|an|my|our|their|this|that|block|corner|between"
    r"|it|its|has|have|there|here|off|into|onto|outside|front|across|along)"
)
NAME_WORD = rf"(?!{_STOP}\b)(?:\d+(?:st|nd|rd|th)?\b|[A-Za-z][A-Za-z'\-]*(?:\.(?=\s))?)"
STREET = rf"(?:{DIR}\s+)?(?:{NAME_WORD}\s+){{0,2}}?{NAME_WORD}(?:\s+{SUFFIX}\b\.?)?(?:\s+{DIR}\b)?"
_STREET_FULL = re.compile(STREET, re.I)
_TYPED_AFTER = re.compile(rf"(?:{DIR}\s+)?(?:{NAME_WORD}\s+){{0,3}}?{SUFFIX}\b\.?(?:\s+{DIR}\b)?", re.I)
_PLAIN_AFTER = re.compile(rf"(?:{DIR}\s+)?(?:[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?\b|\d+(?:st|nd|rd|th)\b)")
_SUFFIX_WORD = re.compile(rf"{SUFFIX}\.?", re.I)
_DIR_WORD = re.compile(rf"{DIR}", re.I)
_ORDINAL = re.compile(r"^\d+(?:st|nd|rd|th)$", re.I)
_NUMBER = re.compile(r"^\d+(?:st|nd|rd|th)?$", re.I)

_KEY_DIRECTIONS = frozenset({"n", "s", "e", "w", "ne", "nw", "se", "sw"})
_KEY_TYPES_TEXT = "st ave rd blvd dr ln pl ct way ter pkwy hwy sq cir plaza row expy tpke loop trl pike aly walk"
_KEY_TYPES = frozenset(_KEY_TYPES_TEXT.split())
_KEY_WORDS = {
    "street": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "boulevard": "blvd",
    "drive": "dr",
    "lane": "ln",
    "place": "pl",
    "court": "ct",
    "terrace": "ter",
    "parkway": "pkwy",
    "highway": "hwy",
    "square": "sq",
    "circle": "cir",
    "expressway": "expy",
    "turnpike": "tpke",
    "trail": "trl",
    "alley": "aly",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "saint": "st",
}


def _name_words(street: str) -> list[str]:
    """The words of a street without its direction and type."""
    words = street.replace(".", " ").split()
    while words and _DIR_WORD.fullmatch(words[0]) and len(words) > 1:
        words = words[1:]
    while len(words) > 1 and (_SUFFIX_WORD.fullmatch(words[-1]) or _DIR_WORD.fullmatch(words[-1])):
        words = words[:-1]
    return words


def is_named(street: str) -> bool:
    """Written like a name: every name word capitalised or a number ("Clark St", "93 avenue", "5th")."""
    words = _name_words(street)
    return bool(words) and all(w[0].isupper() or w[0].isdigit() for w in words)


def is_typed(street: str) -> bool:
    """A street with its type ("Clark St", "tremont street") or a numbered street ("5th"), not any word."""
    words = street.lower().replace(".", " ").split()
    if any(_ORDINAL.match(w) for w in words) or words == ["broadway"]:
        return True
    if len(words) < 2 or not _SUFFIX_WORD.fullmatch(words[-1]):
        return False
    return words[-1] in UNAMBIGUOUS or is_named(street)


def is_numbered(street: str) -> bool:
    return any(_NUMBER.match(w) for w in _name_words(street))


def street_after(text: str, pos: int) -> re.Match[str] | None:
    """The street starting at `pos`: the shortest name that ends in a type, else one name ("Belmont", "5th")."""
    return _TYPED_AFTER.match(text, pos) or _PLAIN_AFTER.match(text, pos)


def street_before(text: str, end: int) -> tuple[int, str] | None:
    """The longest street (up to 5 words) that ends at `end`: (start, name)."""
    best: tuple[int, str] | None = None
    start = end
    for _ in range(5):
        word_end = start
        while word_end > 0 and text[word_end - 1].isspace():
            word_end -= 1
        word_start = word_end
        while word_start > 0 and not text[word_start - 1].isspace():
            word_start -= 1
        if word_start == word_end:
            break
        start = word_start
        candidate = text[start:end].rstrip()
        if _STREET_FULL.fullmatch(candidate):
            best = (start, candidate)
    return best


def street_key(street: str) -> str:
    """A comparable form: lower case, standard abbreviations, no ordinal endings ("West 33rd Street" -> "w 33 st")."""
    words = re.sub(r"[^a-z0-9 ]+", " ", street.lower()).split()
    out = [_KEY_WORDS.get(w, w) for w in words]
    return " ".join(re.sub(r"^(\d+)(?:st|nd|rd|th)$", r"\1", w) for w in out)


def bare_name(street: str) -> str:
    """The name without direction and type: "W Addison St" -> "addison", "E 33rd Street" -> "33"."""
    words = street_key(street).split()
    while len(words) > 1 and words[0] in _KEY_DIRECTIONS:
        words = words[1:]
    while len(words) > 1 and (words[-1] in _KEY_TYPES or words[-1] in _KEY_DIRECTIONS):
        words = words[:-1]
    return " ".join(words)
