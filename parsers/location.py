"""Where a report is: street addresses, intersections, block ranges, landmarks, coordinates, map links, photo GPS.

`extract_locations(subject, body, attachments_gps)` returns every place found (by `parsers.places`), best first,
each with a confidence, the span it came from and its source ("subject", "body", "attachment"); where two finds
overlap in the text, the better one is kept. Nothing here geocodes: points come only from coordinates, map links,
photos and a phone's shared location (see parsers.geocode for turning text into points).
"""

from __future__ import annotations

from collections.abc import Iterable

from parsers.coordinates import exif_locations
from parsers.places import find_places
from parsers.sms import shared_location
from parsers.streets import bare_name, street_key
from parsers.types import GeoPoint, Location, ParsedMessage

_KIND_ORDER = {
    "coordinates": 0,
    "map-link": 1,
    "address": 2,
    "exif": 3,
    "intersection": 4,
    "block": 5,
    "street": 6,
    "what3words": 7,
    "landmark": 8,
}


def _overlaps(a: Location, b: Location) -> bool:
    return (
        a.source == b.source
        and a.span is not None
        and b.span is not None
        and a.span[0] < b.span[1]
        and b.span[0] < a.span[1]
    )


def _rank(loc: Location) -> tuple[float, int, int, int]:
    return (
        -loc.confidence,
        _KIND_ORDER.get(loc.kind, 9),
        0 if loc.source == "subject" else 1,
        loc.span[0] if loc.span else 0,
    )


def extract_locations(subject: str, body: str, attachments_gps: Iterable[GeoPoint] = ()) -> list[Location]:
    """Every place in the report, best first; where two finds overlap in the text, the better one is kept."""
    candidates = sorted(
        find_places(subject, "subject") + find_places(body, "body") + exif_locations(list(attachments_gps)), key=_rank
    )
    kept: list[Location] = []
    for loc in candidates:
        if not any(_overlaps(loc, other) for other in kept):
            kept.append(loc)
    return kept


def best_location(locations: list[Location]) -> Location | None:
    return locations[0] if locations else None


def address_key(location: Location) -> str | None:
    """A normalised key for "the same place" when there is no point: same address, or same two corner streets."""
    if location.kind == "intersection":
        return " & ".join(sorted(bare_name(part) for part in location.text.split(" & ")))
    if location.kind == "address":
        number, _, street = location.text.partition(" ")
        return f"{number} {bare_name(street)}" if street else street_key(location.text)
    if location.kind in ("block", "street", "landmark"):
        return street_key(location.text)
    return None


def place_columns(location: Location | None) -> dict[str, object]:
    """The ticket's place columns for `location` (None clears them): text, kind, confidence, point and the
    normalised key that finds other reports of the same place without reading every ticket."""
    if location is None:
        fields: dict[str, object] = dict.fromkeys(
            ("address", "location_source", "location_confidence", "lat", "lon", "address_key")
        )
        return fields
    key = address_key(location)
    return {
        "address": location.text[:500],
        "location_source": location.kind,
        "location_confidence": location.confidence,
        "lat": location.point.lat if location.point else None,
        "lon": location.point.lon if location.point else None,
        "address_key": key[:200] if key else None,
    }


def location_is_usable(location: Location | None, *, minimum: float = 0.6) -> bool:
    """Good enough to send a crew: a point, or an address/intersection/block confident enough to geocode."""
    if location is None:
        return False
    return location.point is not None or (
        location.kind in ("address", "intersection", "block") and location.confidence >= minimum
    )


class TextLocator:
    """`gateway.pipeline.Locator`: the places in a message's subject, new words, photos and shared phone location."""

    def locate(self, message: ParsedMessage) -> list[Location]:
        gps = [a.gps for a in message.attachments if a.gps is not None]
        found = extract_locations(message.subject, message.body_new or message.body_text, gps)
        shared = shared_location(message)
        return sorted([shared, *found], key=_rank) if shared is not None else found
