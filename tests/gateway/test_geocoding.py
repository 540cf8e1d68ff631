"""The web-service geocoders against a real HTTP server on loopback speaking Nominatim's and the Census's API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlparse

import pytest

from gateway.geocoding import CensusGeocoder, NominatimGeocoder, build_geocoder, query_text
from gateway.settings import ConfigError, GeocoderSettings
from parsers.types import GeoPoint

SAMPLE = str(resources.files("parsers").joinpath("streets_sample.csv"))


class GeocodingServer(ThreadingHTTPServer):
    requests: list[tuple[str, dict[str, list[str]], str]]


class Handler(BaseHTTPRequestHandler):
    server: GeocodingServer

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.server.requests.append((url.path, query, self.headers.get("User-Agent", "")))
        if url.path == "/search":
            found = "Main" in query["q"][0]
            body: object = [{"lat": "41.88", "lon": "-87.63", "display_name": "Main St"}] if found else []
        elif url.path == "/locations/onelineaddress":
            matches = [{"coordinates": {"x": -77.0365, "y": 38.8977}}] if "Pennsylvania" in query["address"][0] else []
            body = {"result": {"addressMatches": matches}}
        else:
            self.send_response(500)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[GeocodingServer]:
    httpd = GeocodingServer(("127.0.0.1", 0), Handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def settings_for(server: GeocodingServer, **extra: object) -> GeocoderSettings:
    base = {"url": f"http://127.0.0.1:{server.server_address[1]}", "min_interval_seconds": 0, "user_agent": "test-ua"}
    return GeocoderSettings.model_validate({**base, **extra})


def test_nominatim_finds_caches_and_identifies_itself(server: GeocodingServer) -> None:
    geocoder = NominatimGeocoder(settings_for(server, kind="nominatim", query_suffix=", Chicago", viewbox="1,2,3,4"))
    assert geocoder.geocode("12 Main St") == GeoPoint(41.88, -87.63)
    assert geocoder.geocode("12 Main St") == GeoPoint(41.88, -87.63)
    assert geocoder.geocode("Nowhere Lane") is None
    geocoder.close()
    assert len(server.requests) == 2  # the second lookup came from the cache
    path, query, agent = server.requests[0]
    assert path == "/search" and agent == "test-ua"
    assert query["q"] == ["12 Main St, Chicago"] and query["format"] == ["jsonv2"] and query["viewbox"] == ["1,2,3,4"]


async def test_nominatim_async_path(server: GeocodingServer) -> None:
    geocoder = NominatimGeocoder(settings_for(server, kind="nominatim"))
    assert await geocoder.geocode_async("Main & Elm") == GeoPoint(41.88, -87.63)
    assert server.requests[0][1]["q"] == ["Main and Elm"]
    geocoder.close()


def test_census_reads_address_matches(server: GeocodingServer) -> None:
    geocoder = CensusGeocoder(settings_for(server, kind="census"))
    assert geocoder.geocode("1600 Pennsylvania Ave NW, Washington DC") == GeoPoint(38.8977, -77.0365)
    assert geocoder.geocode("1 Nowhere Rd") is None
    assert server.requests[0][1]["benchmark"] == ["Public_AR_Current"]
    geocoder.close()


def test_a_failing_service_gives_none(server: GeocodingServer) -> None:
    settings = settings_for(server, kind="nominatim", url=f"http://127.0.0.1:{server.server_address[1]}/broken")
    geocoder = NominatimGeocoder(settings)
    assert geocoder.geocode("12 Main St") is None
    geocoder.close()


def test_the_street_list_answers_before_the_service(server: GeocodingServer) -> None:
    chain = build_geocoder(settings_for(server, kind="nominatim", streets_file=SAMPLE))
    assert chain.geocode("1420 W Addison St") is not None
    assert server.requests == []
    assert chain.geocode("12 Main St") == GeoPoint(41.88, -87.63)
    assert len(server.requests) == 1


def test_config_choices() -> None:
    assert build_geocoder(GeocoderSettings()).online is None
    assert build_geocoder(GeocoderSettings(kind="none", streets_file=SAMPLE)).geocode("1420 W Addison St") is None
    assert build_geocoder(GeocoderSettings(streets_file=SAMPLE)).geocode("1420 W Addison St") is not None
    with pytest.raises(ConfigError, match=r"geocoder\.streets_file"):
        build_geocoder(GeocoderSettings(streets_file="/nonexistent/streets.csv"))


def test_query_text_speaks_the_services_language() -> None:
    assert query_text("1400 block of W Addison") == "1450 W Addison"
    assert query_text("Clark & Belmont", ", Chicago, IL") == "Clark and Belmont, Chicago, IL"
