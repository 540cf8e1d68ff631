"""Places in report text: addresses, corners, blocks, coordinates, map links, photo GPS; best first, with spans."""

from __future__ import annotations

import pytest

from parsers.location import TextLocator, address_key, best_location, extract_locations, location_is_usable
from parsers.types import AttachmentPart, Channel, GeoPoint, Location, ParsedMessage


def best(text: str, subject: str = "") -> Location | None:
    return best_location(extract_locations(subject, text))


@pytest.mark.parametrize(
    ("text", "kind", "found"),
    [
        ("huge pothole in front of 1420 W Addison St, almost lost a tire", "address", "1420 W Addison St"),
        ("the light on the corner of Clark and Belmont has been out for a week", "intersection", "Clark & Belmont"),
        ("broken glass at the corner of 5th & Main", "intersection", "5th & Main"),
        ("N Clark St / W Belmont Ave: signal out", "intersection", "N Clark St & W Belmont Ave"),
        ("rats all over the 1400 block of W Addison", "block", "1400 block of W Addison"),
        ("pothole on East 9 St between 1st and 2nd Ave", "block", "East 9 St between 1st & 2nd Ave"),
        ("parked in front of 1619 East 33 St Brooklyn ny for 30 days", "address", "1619 East 33 St"),
        ("opposite 30-12 74 st", "address", "30-12 74 st"),
        ("I live at 12 main st apt 3", "address", "12 main st"),
        ("309 E 94th was struck and the sign is down", "address", "309 E 94th"),
        ("Pothole at Parsons and Cherry", "intersection", "Parsons & Cherry"),
        ("commercial van parked at 93 avenue and 214 street overnight", "intersection", "93 avenue & 214 street"),
        ("sidewalk not shoveled on Tremont Street again", "street", "Tremont Street"),
        ("dog waste in front of PS 226 every day", "landmark", "PS 226"),
        ("trash near Astoria Park entrance", "landmark", "Astoria Park"),
        ("at 40.7128° N, 74.0060° W", "coordinates", "40.7128° N, 74.0060° W"),
        ("40°41'21\"N 74°2'40\"W", "coordinates", "40°41'21\"N 74°2'40\"W"),
        ("gps 41.9397,-87.6494 thanks", "coordinates", "41.9397,-87.6494"),
        (
            "see https://www.google.com/maps/@40.7127753,-74.0059728,15z please",
            "map-link",
            "https://www.google.com/maps/@40.7127753,-74.0059728,15z",
        ),
        ("https://maps.apple.com/?ll=40.7,-73.9&q=Pin", "map-link", "https://maps.apple.com/?ll=40.7,-73.9&q=Pin"),
        (
            "https://www.openstreetmap.org/?mlat=41.94&mlon=-87.65#map=17/41.94/-87.65",
            "map-link",
            "https://www.openstreetmap.org/?mlat=41.94&mlon=-87.65#map=17/41.94/-87.65",
        ),
        ("it is at ///filled.count.soap near the gate", "what3words", "///filled.count.soap"),
    ],
)
def test_finds_the_place(text: str, kind: str, found: str) -> None:
    location = best(text)
    assert location is not None
    assert (location.kind, location.text) == (kind, found)
    assert location.source == "body"
    if location.span is not None and kind not in ("intersection", "block"):
        assert text[location.span[0] : location.span[1]].strip(" ,.") in (found, location.text) or kind == "address"


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("see https://www.google.com/maps/@40.7127753,-74.0059728,15z", (40.7127753, -74.0059728)),
        ("https://maps.google.com/?q=41.9397%2C-87.6494", (41.9397, -87.6494)),
        ("https://www.openstreetmap.org/#map=17/41.94/-87.65", (41.94, -87.65)),
        ("40°41'21\"N 74°2'40\"W", (40.6891667, -74.0444444)),
        ("at 33.8688 S, 151.2093 E", (-33.8688, 151.2093)),
    ],
)
def test_coordinates_become_points(text: str, point: tuple[float, float]) -> None:
    location = best(text)
    assert location is not None and location.point is not None
    assert (location.point.lat, location.point.lon) == pytest.approx(point)


@pytest.mark.parametrize(
    "text",
    [
        "2 broken street lights here",
        "Potholes and Street Lights",
        "Tom and Jerry were here",
        "lost 3 hub caps, thanks",
        "for 2 weeks nothing happened",
        "costs $25 Main St deli",
        "Right lane right tire between right lane and exit lane",
        "91.5 and 200.25 dollars",
        "https://goo.gl/photos/abc",
    ],
)
def test_prose_is_not_a_place(text: str) -> None:
    assert [loc for loc in extract_locations("", text) if loc.kind != "street"] == []


def test_short_map_link_without_coordinates_is_kept_as_text() -> None:
    location = best("https://maps.app.goo.gl/Xyz123")
    assert location is not None and (location.kind, location.point, location.confidence) == ("map-link", None, 0.3)


def test_best_first_and_subject_before_body() -> None:
    found = extract_locations("Pothole at 12 Main St", "near Elm Park, see 41.9397,-87.6494")
    assert [loc.kind for loc in found] == ["coordinates", "address", "landmark"]
    assert found[1].source == "subject" and found[1].span == (11, 21)
    assert best_location([]) is None


def test_photo_gps_is_a_location_of_its_own() -> None:
    found = extract_locations("", "big pothole", [GeoPoint(41.94, -87.65), GeoPoint(0.0, 0.0)])
    assert [(loc.kind, loc.source, loc.point) for loc in found] == [("exif", "attachment", GeoPoint(41.94, -87.65))]


def test_usable_means_a_point_or_a_confident_street_location() -> None:
    assert location_is_usable(best("1420 W Addison St"))
    assert location_is_usable(best("41.9397,-87.6494"))
    assert not location_is_usable(best("on Tremont Street"))
    assert not location_is_usable(best("near Astoria Park"))
    assert not location_is_usable(None)


def test_address_keys_match_across_spellings() -> None:
    a = best("corner of Clark St and Belmont Ave")
    b = best("W Belmont Avenue & N Clark Street")
    assert a is not None and b is not None
    assert address_key(a) == address_key(b) == "belmont & clark"
    assert address_key(best("1420 West Addison Street")) == address_key(best("1420 W Addison St"))


def test_locator_reads_new_words_photos_and_a_shared_phone_location() -> None:
    message = ParsedMessage(
        channel=Channel.SMS,
        sender="+13125550100",
        body_text="pothole at 12 Main St",
        body_new="pothole at 12 Main St",
        attachments=(AttachmentPart("p.jpg", "image/jpeg", b"", gps=GeoPoint(41.9, -87.6)),),
        extra=(("latitude", "41.95"), ("longitude", "-87.66")),
    )
    kinds = [loc.kind for loc in TextLocator().locate(message)]
    assert "address" in kinds and "exif" in kinds and len(kinds) == 3
