"""The offline geocoder over a street-segment list (the shipped Chicago sample)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from parsers.geocode import NoGeocoder, StreetListGeocoder, distance_m
from parsers.types import GeoPoint

SAMPLE = Path(str(resources.files("parsers").joinpath("streets_sample.csv")))
CLARK_AND_BELMONT = GeoPoint(41.9397, -87.6494)  # the corner as a map shows it


@pytest.fixture(scope="module")
def geocoder() -> StreetListGeocoder:
    return StreetListGeocoder.from_csv(SAMPLE)


def test_sample_loads(geocoder: StreetListGeocoder) -> None:
    assert len(geocoder) > 50


@pytest.mark.parametrize(
    ("text", "expected", "within_m"),
    [
        ("Clark & Belmont", CLARK_AND_BELMONT, 60),
        ("N Clark St & W Belmont Ave", CLARK_AND_BELMONT, 60),
        ("W Belmont Ave & N Clark St", CLARK_AND_BELMONT, 60),
        ("Halsted & Addison", GeoPoint(41.9471, -87.6494), 250),
        ("1420 W Addison St", GeoPoint(41.94712, -87.66234), 10),
        ("1420 Addison", GeoPoint(41.94712, -87.66234), 10),
        ("1400 block of W Addison", GeoPoint(41.94712, -87.66308), 10),
        ("3300 N Clark St", GeoPoint(41.9416, -87.6511), 30),
        ("W Addison St between N Racine Ave & N Southport Ave", GeoPoint(41.94712, -87.65942), 10),
        ("41.9397,-87.6494", CLARK_AND_BELMONT, 1),
    ],
)
def test_places_addresses_blocks_and_corners(
    geocoder: StreetListGeocoder, text: str, expected: GeoPoint, within_m: float
) -> None:
    point = geocoder.geocode(text)
    assert point is not None
    assert distance_m(point, expected) <= within_m


@pytest.mark.parametrize("text", ["Main & Elm", "99999 W Addison St", "Astoria Park", "W Addison St"])
def test_unknown_places_give_none(geocoder: StreetListGeocoder, text: str) -> None:
    assert geocoder.geocode(text) is None


def test_a_bad_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "streets.csv"
    path.write_text("street,from_number,to_number,from_lat,from_lon,to_lat,to_lon\nMain St,1,99,41.0,-87.0,41.1,x\n")
    with pytest.raises(ValueError, match=r"streets.csv:2: bad street row"):
        StreetListGeocoder.from_csv(path)


def test_reversed_ranges_are_read_in_order(tmp_path: Path) -> None:
    path = tmp_path / "streets.csv"
    path.write_text(
        "street,from_number,to_number,from_lat,from_lon,to_lat,to_lon\nMain St,98,2,41.1,-87.0,41.0,-87.0\n"
    )
    point = StreetListGeocoder.from_csv(path).geocode("2 Main St")
    assert point == GeoPoint(41.0, -87.0)


def test_without_a_street_list_only_coordinates_pass() -> None:
    assert NoGeocoder().geocode("1420 W Addison St") is None
    assert NoGeocoder().geocode("at 41.9397, -87.6494") == GeoPoint(41.9397, -87.6494)
