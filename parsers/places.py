"""Places written in words or numbers in one text: addresses, corners, blocks, streets, landmarks, coordinates, links.

The finders behind `parsers.location.extract_locations`, which ranks what they find. Addresses are a house
number, a street name and a street type, normalised with `usaddress`; corners need a cue ("corner of",
"intersection of") or a street type on one side, so that "Tom and Jerry" is not a corner. Patterns that read two
streets are anchored on their joining word and read each street from there: a street pattern tried at every
position of a long mail costs milliseconds, this costs microseconds.
"""

from __future__ import annotations

import re
from functools import cache

import usaddress

from parsers.coordinates import find_coordinates, find_map_links
from parsers.streets import (
    ABBREVIATED,
    DIR,
    NAME_WORD,
    STREET,
    SUFFIX,
    UNAMBIGUOUS,
    is_named,
    is_numbered,
    is_typed,
    street_after,
    street_before,
)
from parsers.types import Location

_ADDRESS = re.compile(
    rf"(?P<num>\d{{1,6}}(?:-\d{{1,4}})?[A-Za-z]?)\s+(?:(?P<pre>{DIR})\s+)?"
    rf"(?P<name>(?:{NAME_WORD}\s+){{0,3}}?{NAME_WORD})\s+(?P<suffix>{SUFFIX})\b\.?(?:\s+(?P<post>{DIR})\b)?",
    re.IGNORECASE,
)
# "1420 W Addison", "309 E 94th": no street type, so only with a direction and a name or number
_ADDRESS_NO_SUFFIX = re.compile(
    r"(?P<num>\d{1,6})\s+(?P<pre>(?i:north|south|east|west|[NSEW]\.?))\s+"
    r"(?P<name>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?|\d+(?i:st|nd|rd|th))\b"
)
# "street light", "road sign": a street type followed by these is a thing, not the end of an address
_COMPOUND = re.compile(r"\s+(?:lights?|lamps?|signs?|cleaning|sweep\w*|vendors?|parking|level|crossings?|work)\b", re.I)
_GENERIC_TEXT = (
    "city side one busy residential same this that a every each our my your quiet private public narrow "
    "wide entire whole back local dead burnout dark"
)
_GENERIC = frozenset(_GENERIC_TEXT.split())
_DIGITS = re.compile(r"(?<![\w$.,/:\-])\d")
_CUE = re.compile(
    r"\b(?:corner\s+of|corner|intersection\s+of|junction\s+of|cross\s*streets?(?:\s+are|\s+of|:)?"
    r"|crossing\s+of)\s+(?:the\s+)?",
    re.I,
)
_CUE_JOIN = re.compile(r"\s*(?:&|/|@|\+|\band\b|\bat\b|\bx\b)\s*", re.I)
_JOINER = re.compile(r"[&/@]|\b[Aa][Nn][Dd]\b")
_BETWEEN_WORD = re.compile(r"\s+(?:between|btwn|b/w|from)\s+", re.I)
_RANGE_JOINER = re.compile(r"\s*(?:&|/|\band\b|\bto\b)\s*", re.I)
_BLOCK = re.compile(rf"(?P<num>\d{{1,5}}00)\s+block\s+of\s+(?P<street>{STREET})", re.I)
_ON_STREET = re.compile(r"\b(?:on|along|down|up|of|at)\s+(?:the\s+)?", re.I)
_PREPOSITION_BEFORE = re.compile(r"\b(?:at|on)\s+$", re.I)
_LANDMARK = re.compile(
    r"\b(?:in front of|outside(?: of)?|near|at|across from|next to|behind|by|opposite)\s+(?:the\s+)?"
    r"(?P<name>(?:[A-Z][\w'&.\-]*\s+){0,4}(?:Park|Playground|School|Library|Station|Church|Hospital|Center|Centre"
    r"|Plaza|Mall|Market|Bridge|Beach|Pier|Field|Stadium|Museum|Cemetery|Garden|Gardens|Houses|Terminal|Academy"
    r"|College|University|Hall|Courthouse|Post Office|YMCA)|P\.?S\.?\s*\d+)\b"
    r"(?!\s+(?i:st|street|ave|avenue|rd|road|blvd|pl|dr|ln|way)\b)"
)
_CUE_WORDS = ("corner", "intersection", "junction", "cross")
_BETWEEN_WORDS = ("between", "btwn", "b/w", " from ")
_STREET_WORDS = (
    "st",
    "av",
    "rd",
    "blvd",
    "dr",
    "ln",
    "pl",
    "ct",
    "way",
    "ter",
    "pkwy",
    "hwy",
    "sq",
    "cir",
    "row",
    "expy",
    "tpke",
    "loop",
    "tr",
    "pike",
    "al",
    "walk",
    "cres",
    "concourse",
    "broadway",
    "plaza",
)
_COORDINATE_HINT = re.compile(r"\d\.\d{3}|°|º")
_LANDMARK_HINTS = (
    "Park",
    "Playground",
    "School",
    "Library",
    "Station",
    "Church",
    "Hospital",
    "Center",
    "Centre",
    "Plaza",
    "Mall",
    "Market",
    "Bridge",
    "Beach",
    "Pier",
    "Field",
    "Stadium",
    "Museum",
    "Cemetery",
    "Garden",
    "Houses",
    "Terminal",
    "Academy",
    "College",
    "University",
    "Hall",
    "Courthouse",
    "Post Office",
    "YMCA",
    "PS",
    "P.S",
)


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(" ,.;")


@cache
def _normalise_address(candidate: str) -> str:
    """usaddress's reading of an address, joined in the usual order; the text itself when it cannot read it."""
    try:
        parts, _kind = usaddress.tag(candidate)
    except usaddress.RepeatedLabelError:
        return candidate
    order = (
        "AddressNumber",
        "StreetNamePreDirectional",
        "StreetNamePreType",
        "StreetName",
        "StreetNamePostType",
        "StreetNamePostDirectional",
    )
    if "AddressNumber" not in parts or "StreetName" not in parts:
        return candidate
    return " ".join(parts[key] for key in order if key in parts)


def _address_matches(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """Matches of an address pattern tried only where a number starts (far cheaper than scanning every position)."""
    found: list[re.Match[str]] = []
    end = 0
    for digits in _DIGITS.finditer(text):
        if digits.start() < end:
            continue
        match = pattern.match(text, digits.start())
        if match:
            found.append(match)
            end = match.end()
    return found


def _addresses(text: str, source: str) -> list[Location]:
    out = []
    for match in _address_matches(_ADDRESS, text):
        name, suffix = match.group("name"), match.group("suffix").lower()
        # "2 broken street lights" is prose; "1319 east 88th st", "12 main st", "211 madison street" and
        # "5 Elm Way" are addresses
        short = len(name.split()) <= 2 and "." not in name
        typed = suffix.rstrip(".") in ABBREVIATED or (suffix in UNAMBIGUOUS and not _COMPOUND.match(text, match.end()))
        if not (is_named(name) or (typed and short)):
            continue
        out.append(Location(_normalise_address(_clean(match.group(0))), "address", 0.9, None, match.span(), source))
    for match in _address_matches(_ADDRESS_NO_SUFFIX, text):
        out.append(Location(_clean(match.group(0)), "address", 0.7, None, match.span(), source))
    return out


def _pair_confidence(a: str, b: str) -> float:
    """How much two streets joined by "and", "&" or "/" look like a corner (0 when they do not)."""
    if not (is_typed(a) or is_typed(b)):
        return 0.0
    if is_named(a) and is_named(b):
        return 0.8
    return 0.7 if is_typed(a) and is_typed(b) else 0.0


def _intersections(text: str, source: str, low: str) -> list[Location]:
    out = []
    for cue in _CUE.finditer(text) if any(w in low for w in _CUE_WORDS) else ():
        a = street_after(text, cue.end())
        join = _CUE_JOIN.match(text, a.end()) if a else None
        b = street_after(text, join.end()) if join else None
        if a and b:
            name = f"{_clean(a.group(0))} & {_clean(b.group(0))}"
            out.append(Location(name, "intersection", 0.85, None, (a.start(), b.end()), source))
    for joiner in _JOINER.finditer(text):
        after = joiner.end()
        while after < len(text) and text[after].isspace():
            after += 1
        b = street_after(text, after)  # the cheaper side first: after most joiners in prose there is no street
        a = street_before(text, joiner.start()) if b is not None else None
        if a is None or b is None:
            continue
        a_text, b_text = _clean(a[1]), _clean(b.group(0))
        confidence = _pair_confidence(a_text, b_text)
        if (
            not confidence
            and is_named(a_text)
            and is_named(b_text)
            and not (is_numbered(a_text) or is_numbered(b_text))
        ):
            # "Pothole at Parsons and Cherry": two names after "at"/"on"
            confidence = 0.6 if _PREPOSITION_BEFORE.search(text, max(0, a[0] - 4), a[0]) else 0.0
        if confidence:
            out.append(Location(f"{a_text} & {b_text}", "intersection", confidence, None, (a[0], b.end()), source))
    return out


def _blocks(text: str, source: str, low: str) -> list[Location]:
    out = [
        Location(f"{m.group('num')} block of {_clean(m.group('street'))}", "block", 0.8, None, m.span(), source)
        for m in (_BLOCK.finditer(text) if "block" in low else ())
    ]
    for word in _BETWEEN_WORD.finditer(text) if any(w in low for w in _BETWEEN_WORDS) else ():
        street = street_before(text, word.start())
        a = street_after(text, word.end())
        joiner = _RANGE_JOINER.match(text, a.end()) if a else None
        b = street_after(text, joiner.end()) if joiner else None
        if street is None or a is None or b is None:
            continue
        names = [_clean(street[1]), _clean(a.group(0)), _clean(b.group(0))]
        if (is_typed(names[0]) and is_named(names[0])) or _pair_confidence(names[1], names[2]) >= 0.8:
            text_ = f"{names[0]} between {names[1]} & {names[2]}"
            out.append(Location(text_, "block", 0.82, None, (street[0], b.end()), source))
    return out


def _streets(text: str, source: str, low: str) -> list[Location]:
    """A street named without a number or a corner ("on Tremont Street"): a place to ask more about."""
    if not any(w in low for w in _STREET_WORDS):
        return []
    out = []
    for on in _ON_STREET.finditer(text):
        street = street_after(text, on.end())
        if street is None or _COMPOUND.match(text, street.end()):
            continue  # "on the street light"
        name = _clean(street.group(0))
        first = name.lower().split()[0]
        # "a city street", "location. street": a kind of street or a sentence break, not a street's name
        if is_typed(name) and not first.isdigit() and first not in _GENERIC and ". " not in street.group(0):
            out.append(Location(name, "street", 0.5, None, street.span(), source))
    return out


def _landmarks(text: str, source: str) -> list[Location]:
    if not any(hint in text for hint in _LANDMARK_HINTS):
        return []
    return [
        Location(_clean(m.group("name")), "landmark", 0.4, None, m.span("name"), source)
        for m in _LANDMARK.finditer(text)
    ]


def find_places(text: str, source: str) -> list[Location]:
    """Every place written in one text (subject or body), unranked and possibly overlapping."""
    if not text:
        return []
    found: list[Location] = []
    if "http" in text or "///" in text:
        found += find_map_links(text, source)
    if _COORDINATE_HINT.search(text):
        found += find_coordinates(text, source)
    low = text.lower()
    found += _blocks(text, source, low) + _addresses(text, source)
    found += _intersections(text, source, low) + _streets(text, source, low) + _landmarks(text, source)
    return found
