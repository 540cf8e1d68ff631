"""Geocoders that call a web service (Nominatim, the US Census), and the one `[geocoder]` in the config selects.

Geocoding is best effort: a timeout or an error answer is logged and gives None, never a failed report. Answers
are cached, and requests are spaced by `min_interval_seconds` (public Nominatim allows one a second). Each
geocoder has `geocode()` for scripts and `geocode_async()` for the worker, which must not block its loop. The
offline street-list geocoder is tried first when a street list is configured.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

import httpx

from gateway.settings import ConfigError, GeocoderSettings
from parsers.geocode import Geocoder, NoGeocoder, StreetListGeocoder
from parsers.types import GeoPoint

log = logging.getLogger(__name__)

NOMINATIM_URL = "https://nominatim.openstreetmap.org"
CENSUS_URL = "https://geocoding.geo.census.gov/geocoder"
_BLOCK = re.compile(r"^(\d+)00 block of ", re.I)


class AsyncGeocoder(Geocoder, Protocol):
    async def geocode_async(self, text: str) -> GeoPoint | None: ...


def query_text(text: str, suffix: str = "") -> str:
    """What a search service understands: "1400 block of X" -> "1450 X", "A & B" -> "A and B"."""
    text = _BLOCK.sub(lambda m: f"{m.group(1)}50 ", text.strip())
    return text.replace(" & ", " and ") + suffix


class HttpGeocoder:
    """Shared by the web-service geocoders: caching, spacing of requests, error handling."""

    def __init__(self, settings: GeocoderSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self._cache: OrderedDict[str, GeoPoint | None] = OrderedDict()
        self._lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        self._last = 0.0
        self._client = httpx.Client(timeout=settings.timeout_seconds, headers=self._headers(), transport=transport)

    def _headers(self) -> dict[str, str]:
        return {"User-Agent": self.settings.user_agent, "Accept": "application/json"}

    def request(self, query: str) -> tuple[str, dict[str, str]]:
        raise NotImplementedError

    def parse(self, payload: Any) -> GeoPoint | None:
        raise NotImplementedError

    def _cached(self, key: str) -> tuple[bool, GeoPoint | None]:
        if key in self._cache:
            self._cache.move_to_end(key)
            return True, self._cache[key]
        return False, None

    def _remember(self, key: str, point: GeoPoint | None) -> None:
        if self.settings.cache_size:
            self._cache[key] = point
            while len(self._cache) > self.settings.cache_size:
                self._cache.popitem(last=False)

    def _wait(self) -> float:
        return max(0.0, self._last + self.settings.min_interval_seconds - time.monotonic())

    def _answer(self, response: httpx.Response) -> GeoPoint | None:
        response.raise_for_status()
        return self.parse(response.json())

    def geocode(self, text: str) -> GeoPoint | None:
        query = query_text(text, self.settings.query_suffix)
        hit, point = self._cached(query)
        if hit:
            return point
        url, params = self.request(query)
        with self._lock:
            time.sleep(self._wait())
            self._last = time.monotonic()
            try:
                point = self._answer(self._client.get(url, params=params))
            except (httpx.HTTPError, ValueError, KeyError, TypeError, IndexError) as exc:
                log.warning("geocoder %s failed: %s", type(self).__name__, exc)
                return None
        self._remember(query, point)
        return point

    async def geocode_async(self, text: str) -> GeoPoint | None:
        query = query_text(text, self.settings.query_suffix)
        hit, point = self._cached(query)
        if hit:
            return point
        url, params = self.request(query)
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        async with self._async_lock:
            await asyncio.sleep(self._wait())
            self._last = time.monotonic()
            try:
                async with httpx.AsyncClient(timeout=self.settings.timeout_seconds, headers=self._headers()) as client:
                    point = self._answer(await client.get(url, params=params))
            except (httpx.HTTPError, ValueError, KeyError, TypeError, IndexError) as exc:
                log.warning("geocoder %s failed: %s", type(self).__name__, exc)
                return None
        self._remember(query, point)
        return point

    def close(self) -> None:
        self._client.close()


class NominatimGeocoder(HttpGeocoder):
    """OpenStreetMap's Nominatim `/search` (or any server speaking its API)."""

    def request(self, query: str) -> tuple[str, dict[str, str]]:
        params = {"q": query, "format": "jsonv2", "limit": "1"}
        if self.settings.country_codes:
            params["countrycodes"] = self.settings.country_codes
        if self.settings.viewbox:
            params["viewbox"] = self.settings.viewbox
        if self.settings.email:
            params["email"] = self.settings.email
        return f"{(self.settings.url or NOMINATIM_URL).rstrip('/')}/search", params

    def parse(self, payload: Any) -> GeoPoint | None:
        if not payload:
            return None
        return GeoPoint(float(payload[0]["lat"]), float(payload[0]["lon"]))


class CensusGeocoder(HttpGeocoder):
    """The US Census Bureau's one-line address geocoder (addresses only, no intersections)."""

    def request(self, query: str) -> tuple[str, dict[str, str]]:
        params = {"address": query, "benchmark": "Public_AR_Current", "format": "json"}
        return f"{(self.settings.url or CENSUS_URL).rstrip('/')}/locations/onelineaddress", params

    def parse(self, payload: Any) -> GeoPoint | None:
        matches = payload["result"]["addressMatches"]
        if not matches:
            return None
        coordinates = matches[0]["coordinates"]
        return GeoPoint(float(coordinates["y"]), float(coordinates["x"]))


class ChainGeocoder:
    """The street list first (free, instant), then a web service for what it does not know."""

    def __init__(self, offline: Geocoder, online: HttpGeocoder | None) -> None:
        self.offline = offline
        self.online = online

    def geocode(self, text: str) -> GeoPoint | None:
        point = self.offline.geocode(text)
        if point is None and self.online is not None:
            point = self.online.geocode(text)
        return point

    async def geocode_async(self, text: str) -> GeoPoint | None:
        point = self.offline.geocode(text)
        if point is None and self.online is not None:
            point = await self.online.geocode_async(text)
        return point


def build_geocoder(settings: GeocoderSettings, *, transport: httpx.BaseTransport | None = None) -> ChainGeocoder:
    """The geocoder `[geocoder]` describes. Raises ConfigError for a street list that cannot be read."""
    offline: Geocoder = NoGeocoder()
    if settings.kind == "none":
        return ChainGeocoder(offline, None)
    if settings.streets_file:
        try:
            offline = StreetListGeocoder.from_csv(settings.streets_file)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"config key geocoder.streets_file: {exc}") from None
    online: HttpGeocoder | None = None
    if settings.kind == "nominatim":
        online = NominatimGeocoder(settings, transport=transport)
    elif settings.kind == "census":
        online = CensusGeocoder(settings, transport=transport)
    return ChainGeocoder(offline, online)
