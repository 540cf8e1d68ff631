"""Duplicate detection: same category, near in space (or the same address) and time; wording only without a place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from parsers.types import GeoPoint
from rules.dedupe import DuplicateMatch, ReportFacts, distance_m, find_duplicate, text_similarity

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
CORNER = GeoPoint(41.93975, -87.64937)


def ticket(
    ticket_id: int,
    *,
    category: str = "pothole",
    days_ago: float = 1,
    point: GeoPoint | None = CORNER,
    key: str | None = None,
    text: str = "",
) -> ReportFacts:
    return ReportFacts(category, NOW - timedelta(days=days_ago), point, key, text, ticket_id)


def new(
    *, category: str = "pothole", point: GeoPoint | None = None, key: str | None = None, text: str = ""
) -> ReportFacts:
    return ReportFacts(category, NOW, point, key, text)


def moved(metres_north: float) -> GeoPoint:
    return GeoPoint(CORNER.lat + metres_north / 111_195, CORNER.lon)


def test_distance_is_haversine_metres() -> None:
    assert distance_m(CORNER, moved(30)) == pytest.approx(30, abs=0.5)


def test_nearest_open_ticket_of_the_same_category_within_50_m() -> None:
    tickets = [ticket(1, point=moved(45)), ticket(2, point=moved(10)), ticket(3, point=moved(10), category="noise")]
    assert find_duplicate(new(point=CORNER), tickets) == DuplicateMatch(2, "distance", distance_m=10.0)


def test_too_far_too_old_or_another_category_is_not_a_duplicate() -> None:
    assert find_duplicate(new(point=CORNER), [ticket(1, point=moved(60))]) is None
    assert find_duplicate(new(point=CORNER), [ticket(1, days_ago=15)]) is None
    assert find_duplicate(new(point=CORNER, category="graffiti"), [ticket(1)]) is None
    assert find_duplicate(new(point=CORNER), [ticket(1, point=moved(60))], max_distance_m=100) is not None
    assert find_duplicate(new(point=CORNER), [ticket(1, days_ago=15)], window=timedelta(days=30)) is not None


def test_same_normalised_address_links_without_coordinates() -> None:
    tickets = [
        ticket(1, point=None, key="belmont ave & clark st", days_ago=3),
        ticket(2, point=None, key="belmont ave & clark st", days_ago=1),
    ]
    match = find_duplicate(new(key="belmont ave & clark st"), tickets)
    assert match == DuplicateMatch(2, "address")


def test_wording_links_only_when_the_report_has_no_place() -> None:
    text = "Huge pothole in the right lane of the bridge ramp, cars swerving into traffic"
    similar = "Cars swerving around a huge pothole in the right lane of the bridge ramp"
    tickets = [ticket(7, point=None, text=similar)]
    match = find_duplicate(new(text=text), tickets)
    assert match is not None and (match.ticket_id, match.reason) == (7, "text")
    assert match.similarity is not None and match.similarity >= 0.8
    assert find_duplicate(new(text=text, point=moved(500)), tickets) is None
    assert find_duplicate(new(text="pothole"), [ticket(8, point=None, text="pothole")]) is None  # too few words


def test_other_and_uncategorised_are_never_linked() -> None:
    assert find_duplicate(new(point=CORNER, category="other"), [ticket(1, category="other")]) is None
    assert find_duplicate(new(point=CORNER, category="uncategorised"), [ticket(1, category="uncategorised")]) is None


def test_form_labels_do_not_make_reports_similar() -> None:
    form = "Make of the abandoned car: FORD | Color of the abandoned car: RED | Additional Details/Comments: "
    a, b = form + "flat tires", form + "smashed window"
    assert text_similarity(a, b) == 0.0
