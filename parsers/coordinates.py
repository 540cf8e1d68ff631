"""Places written as numbers: decimal and DMS coordinates, map links (Google, Apple, OpenStreetMap), what3words.

Each finder returns `Location`s with the character span they came from; `parsers.location` ranks them with the
addresses and intersections it finds. Coordinates outside the valid range, or 0,0, are not places.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from parsers.types import GeoPoint, Location

_NUM = r"[-+−]?\d{1,3}(?:\.\d+)?"
_DECIMAL = re.compile(
    r"(?<![\w.\-/=@,])(?P<lat>[-+−]?\d{1,2}\.\d{3,})\s*°?\s*(?P<ns>[NS])?\s*[,;/ ]\s*"
    r"(?P<lon>[-+−]?\d{1,3}\.\d{3,})\s*°?\s*(?P<ew>[EW])?(?![\w.])",
    re.IGNORECASE,
)
_DMS_PART = (
    r"(?P<{n}d>\d{{1,3}})\s*[°º]\s*"  # degrees
    r"(?:(?P<{n}m>\d{{1,2}}(?:\.\d+)?)\s*['′’]\s*)?"  # minutes
    r"(?:(?P<{n}s>\d{{1,2}}(?:\.\d+)?)\s*(?:\"|″|''|”)\s*)?"  # seconds
    r"(?P<{n}h>[NSEW])"  # hemisphere
)
_DMS = re.compile(_DMS_PART.format(n="a") + r"\s*[, ]?\s*" + _DMS_PART.format(n="b"), re.IGNORECASE)
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_PAIR = r"(?P<lat>-?\d{1,2}(?:\.\d+)?)(?:,|%2C)\s*(?P<lon>-?\d{1,3}(?:\.\d+)?)"
_MAP_HOSTS = re.compile(
    r"^https?://(?:(?:www\.|maps\.)?google\.[a-z.]+/maps|maps\.google\.[a-z.]+|goo\.gl/maps|maps\.app\.goo\.gl"
    r"|maps\.apple\.com|(?:www\.)?openstreetmap\.org|osm\.org)",
    re.IGNORECASE,
)
_URL_COORDS = (
    re.compile(r"@" + _PAIR),  # google .../@40.7,-73.9,17z
    re.compile(r"!3d(?P<lat>-?\d{1,2}\.\d+)!4d(?P<lon>-?\d{1,3}\.\d+)"),  # google place data
    re.compile(r"[?&#](?:q|query|ll|sll|center|destination|daddr|loc)=(?:loc:)?" + _PAIR, re.IGNORECASE),
    re.compile(r"[?&]mlat=(?P<lat>-?\d{1,2}\.\d+)&mlon=(?P<lon>-?\d{1,3}\.\d+)", re.IGNORECASE),  # osm marker
    re.compile(r"#map=\d{1,2}/(?P<lat>-?\d{1,2}\.\d+)/(?P<lon>-?\d{1,3}\.\d+)"),  # osm view
)
_W3W = re.compile(
    r"(?:https?://(?:w3w\.co|(?:www\.)?what3words\.com)/|(?<![:/\w])///)(?P<words>[a-z]+\.[a-z]+\.[a-z]+)\b",
    re.IGNORECASE,
)


def valid_point(lat: float, lon: float) -> GeoPoint | None:
    if -90 <= lat <= 90 and -180 <= lon <= 180 and not (abs(lat) < 1e-9 and abs(lon) < 1e-9):
        return GeoPoint(round(lat, 7), round(lon, 7))
    return None


def _float(text: str) -> float:
    return float(text.replace("−", "-").replace("+", ""))


def find_map_links(text: str, source: str) -> list[Location]:
    out: list[Location] = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;")
        span = (match.start(), match.start() + len(url))
        w3w = _W3W.match(url)
        if w3w:
            out.append(Location(f"///{w3w.group('words').lower()}", "what3words", 0.5, None, span, source))
            continue
        if not _MAP_HOSTS.match(url):
            continue
        decoded = unquote(url)
        point = None
        for pattern in _URL_COORDS:
            found = pattern.search(decoded)
            if found:
                point = valid_point(_float(found.group("lat")), _float(found.group("lon")))
                if point is not None:
                    break
        out.append(Location(url, "map-link", 0.9 if point else 0.3, point, span, source))
    for match in _W3W.finditer(text):
        if not any(loc.span and loc.span[0] <= match.start() < loc.span[1] for loc in out):
            words = match.group("words").lower()
            out.append(Location(f"///{words}", "what3words", 0.5, None, match.span(), source))
    return out


def _dms_value(match: re.Match[str], n: str) -> float:
    value = (
        float(match.group(f"{n}d")) + float(match.group(f"{n}m") or 0) / 60 + float(match.group(f"{n}s") or 0) / 3600
    )
    return -value if match.group(f"{n}h").upper() in "SW" else value


def find_coordinates(text: str, source: str) -> list[Location]:
    """Decimal pairs ("40.6892, -74.0445", "40.6892° N, 74.0445° W") and DMS ("40°41'21"N 74°2'40"W")."""
    out: list[Location] = []
    for match in _DMS.finditer(text):
        first, second = _dms_value(match, "a"), _dms_value(match, "b")
        lat, lon = (second, first) if match.group("ah").upper() in "EW" else (first, second)
        point = valid_point(lat, lon)
        if point is not None:
            out.append(Location(match.group(0), "coordinates", 0.9, point, match.span(), source))
    for match in _DECIMAL.finditer(text):
        if any(loc.span and loc.span[0] <= match.start() < loc.span[1] for loc in out):
            continue
        lat, lon = _float(match.group("lat")), _float(match.group("lon"))
        if (match.group("ns") or "").upper() == "S":
            lat = -abs(lat)
        if (match.group("ew") or "").upper() == "W":
            lon = -abs(lon)
        point = valid_point(lat, lon)
        if point is not None:
            out.append(Location(match.group(0), "coordinates", 0.9, point, match.span(), source))
    return out


def exif_locations(points: tuple[GeoPoint, ...] | list[GeoPoint]) -> list[Location]:
    """Photo GPS: where the photo was taken, usually where the problem is."""
    out = []
    for point in points:
        valid = valid_point(point.lat, point.lon)
        if valid is not None:
            out.append(Location(f"{valid.lat:.6f},{valid.lon:.6f}", "exif", 0.85, valid, None, "attachment"))
    return out
