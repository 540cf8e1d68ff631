"""Text -> coordinates without a network: the `Geocoder` protocol and the offline geocoder over a city's street list.

The street list is a CSV of street segments with their address ranges, as city GIS departments publish them
(centreline files), one row per segment:

    street,from_number,to_number,from_lat,from_lon,to_lat,to_lon
    W Belmont Ave,800,998,41.93988,-87.64728,41.93988,-87.65700

An address is placed by interpolating along the segment whose range holds its number; "N00 block of X" at the
middle of the block; an intersection where the two streets' segments cross (or come within 40 m of each other).
Streets are matched by their full name and, failing that, by the name alone ("Addison" for "W Addison St").
HTTP geocoders (Nominatim, the US Census) live in `gateway.geocoding`: parsers never use the network.
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from parsers.coordinates import find_coordinates
from parsers.streets import bare_name, street_key
from parsers.types import GeoPoint

NEAR_METRES = 40.0
_ADDRESS = re.compile(r"^\s*(?P<num>\d{1,6})[A-Za-z]?(?:-\d+)?\s+(?P<street>.+?)\s*$")
_BLOCK = re.compile(r"^\s*(?P<num>\d{1,5}00)\s+block\s+of\s+(?P<street>.+?)\s*$", re.I)
_BETWEEN = re.compile(r"^\s*(?P<street>.+?)\s+between\s+(?P<a>.+?)\s*&\s*(?P<b>.+?)\s*$", re.I)


class Geocoder(Protocol):
    def geocode(self, text: str) -> GeoPoint | None: ...


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance in metres (haversine)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(min(1.0, h)))


@dataclass(frozen=True, slots=True)
class Segment:
    street: str
    low: int
    high: int
    start: GeoPoint  # at `low`
    end: GeoPoint  # at `high`

    def at(self, number: int) -> GeoPoint:
        share = 0.5 if self.high == self.low else (number - self.low) / (self.high - self.low)
        return GeoPoint(
            round(self.start.lat + share * (self.end.lat - self.start.lat), 7),
            round(self.start.lon + share * (self.end.lon - self.start.lon), 7),
        )


def _crossing(p: Segment, q: Segment) -> GeoPoint | None:
    """Where two segments cross (flat-earth maths is fine at street scale), else None."""
    x1, y1, x2, y2 = p.start.lon, p.start.lat, p.end.lon, p.end.lat
    x3, y3, x4, y4 = q.start.lon, q.start.lat, q.end.lon, q.end.lat
    den = (x1 - x2) * (y3 - y4) - (y1 - y2) * (x3 - x4)
    if abs(den) < 1e-15:
        return None
    t = ((x1 - x3) * (y3 - y4) - (y1 - y3) * (x3 - x4)) / den
    u = ((x1 - x3) * (y1 - y2) - (y1 - y3) * (x1 - x2)) / den
    if -0.05 <= t <= 1.05 and -0.05 <= u <= 1.05:
        return GeoPoint(round(y1 + t * (y2 - y1), 7), round(x1 + t * (x2 - x1), 7))
    return None


class StreetListGeocoder:
    """The offline geocoder: addresses, blocks and intersections from a street-segment list."""

    def __init__(self, segments: Iterable[Segment]) -> None:
        self._by_key: dict[str, list[Segment]] = defaultdict(list)
        self._by_name: dict[str, list[Segment]] = defaultdict(list)
        for segment in segments:
            self._by_key[street_key(segment.street)].append(segment)
            self._by_name[bare_name(segment.street)].append(segment)

    @classmethod
    def from_csv(cls, path: str | Path) -> StreetListGeocoder:
        """Read a street list; raises ValueError naming the line of a bad row."""
        segments = []
        with open(path, newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    low, high = sorted((int(row["from_number"]), int(row["to_number"])))
                    start = GeoPoint(float(row["from_lat"]), float(row["from_lon"]))
                    end = GeoPoint(float(row["to_lat"]), float(row["to_lon"]))
                    if int(row["from_number"]) > int(row["to_number"]):
                        start, end = end, start
                except (KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"{path}:{line}: bad street row ({exc})") from None
                segments.append(Segment(row["street"].strip(), low, high, start, end))
        return cls(segments)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values())

    def segments(self, street: str) -> list[Segment]:
        return self._by_key.get(street_key(street)) or self._by_name.get(bare_name(street), [])

    def geocode(self, text: str) -> GeoPoint | None:
        coordinates = find_coordinates(text, "text")
        if coordinates:
            return coordinates[0].point
        if " & " in text and not _BETWEEN.match(text):
            a, _, b = text.partition(" & ")
            return self.intersection(a, b)
        for pattern, offset in ((_BLOCK, 50), (_ADDRESS, 0)):
            match = pattern.match(text)
            if match:
                return self.address(int(match.group("num")) + offset, match.group("street"))
        between = _BETWEEN.match(text)
        if between:
            ends = [self.intersection(between.group("street"), between.group(k)) for k in ("a", "b")]
            if ends[0] and ends[1]:
                return GeoPoint(round((ends[0].lat + ends[1].lat) / 2, 7), round((ends[0].lon + ends[1].lon) / 2, 7))
        return None

    def address(self, number: int, street: str) -> GeoPoint | None:
        candidates = [s for s in self.segments(street) if s.low <= number <= s.high]
        return candidates[0].at(number) if candidates else None

    def intersection(self, a: str, b: str) -> GeoPoint | None:
        first, second = self.segments(a), self.segments(b)
        best: tuple[float, GeoPoint] | None = None
        for p in first:
            for q in second:
                crossing = _crossing(p, q)
                if crossing is not None:
                    return crossing
                for u in (p.start, p.end):
                    for v in (q.start, q.end):
                        gap = distance_m(u, v)
                        if gap <= NEAR_METRES and (best is None or gap < best[0]):
                            best = (gap, GeoPoint(round((u.lat + v.lat) / 2, 7), round((u.lon + v.lon) / 2, 7)))
        return best[1] if best else None


class NoGeocoder:
    """Coordinates written in the text pass through; nothing else is placed."""

    def geocode(self, text: str) -> GeoPoint | None:
        found = find_coordinates(text, "text")
        return found[0].point if found else None
