"""Is a new report one we already have? Same category, near in space (or the same address) and in time.

Pure: the caller hands over the new report and the open tickets it could join, as the small values below, and
gets back the ticket to link to (and why), or None. Order of evidence: a point within `max_distance_m` (the
nearest wins), else the same normalised address or corner, else — only when the new report has no location at
all — wording close enough to an open ticket's (word overlap, stop words ignored).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from parsers.types import GeoPoint
from rules.formtext import resident_words
from rules.taxonomy import UNCATEGORISED
from rules.wordforms import words_of

DEFAULT_DISTANCE_M = 50.0
DEFAULT_WINDOW = timedelta(days=14)
DEFAULT_TEXT_SIMILARITY = 0.8
MIN_SHARED_WORDS = 4  # two short texts ("pothole", "big pothole") say nothing about being the same pothole
# "other" holds unrelated things: two "other" reports on one corner are not one problem
NEVER_LINKED = frozenset({UNCATEGORISED, "other"})
_STOPWORDS_TEXT = (
    "a an and are as at be been but by for from has have i in is it its my of on or our please so that "
    "the there this to was were will with you your me we they them he she his her not no can could would "
    "should very just been also again still now here"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """What dedupe needs of a report or a ticket. `address_key` is `parsers.location.address_key(location)`."""

    category: str
    created_at: datetime
    point: GeoPoint | None = None
    address_key: str | None = None
    text: str = ""
    ticket_id: int | None = None  # set on open tickets


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    ticket_id: int
    reason: str  # "distance" | "address" | "text"
    distance_m: float | None = None
    similarity: float | None = None


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance in metres (haversine)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(min(1.0, h)))


@lru_cache(maxsize=2048)  # an open ticket's text is compared with every new report near it in category and time
def content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in words_of(resident_words(text)) if w not in _STOPWORDS and len(w) > 1)


def text_similarity(a: str, b: str) -> float:
    """Overlap of content words (cosine over word sets): 1.0 for the same words, 0.0 for too few in common."""
    wa, wb = content_words(a), content_words(b)
    shared = len(wa & wb)
    if shared < MIN_SHARED_WORDS:
        return 0.0
    return shared / math.sqrt(len(wa) * len(wb))


def find_duplicate(
    candidate: ReportFacts,
    open_tickets: Iterable[ReportFacts],
    *,
    max_distance_m: float = DEFAULT_DISTANCE_M,
    window: timedelta = DEFAULT_WINDOW,
    min_text_similarity: float = DEFAULT_TEXT_SIMILARITY,
) -> DuplicateMatch | None:
    """The open ticket this report duplicates, or None. Tickets without `ticket_id` are ignored."""
    if candidate.category in NEVER_LINKED:
        return None
    near: list[tuple[float, datetime, int]] = []
    same_address: list[tuple[datetime, int]] = []
    similar: list[tuple[float, datetime, int]] = []
    has_location = candidate.point is not None or candidate.address_key is not None
    for ticket in open_tickets:
        if ticket.ticket_id is None or ticket.category != candidate.category:
            continue
        if abs(candidate.created_at - ticket.created_at) > window:
            continue
        if candidate.point is not None and ticket.point is not None:
            gap = distance_m(candidate.point, ticket.point)
            if gap <= max_distance_m:
                near.append((gap, ticket.created_at, ticket.ticket_id))
                continue
        if candidate.address_key and candidate.address_key == ticket.address_key:
            same_address.append((ticket.created_at, ticket.ticket_id))
        elif not has_location and candidate.text:
            score = text_similarity(candidate.text, ticket.text)
            if score >= min_text_similarity:
                similar.append((score, ticket.created_at, ticket.ticket_id))
    if near:
        gap, _, ticket_id = min(near, key=lambda n: (n[0], -n[1].timestamp()))
        return DuplicateMatch(ticket_id, "distance", distance_m=round(gap, 1))
    if same_address:
        _, ticket_id = max(same_address)  # the most recent report of that place
        return DuplicateMatch(ticket_id, "address")
    if similar:
        score, _, ticket_id = max(similar, key=lambda s: (s[0], s[1].timestamp()))
        return DuplicateMatch(ticket_id, "text", similarity=round(score, 3))
    return None
