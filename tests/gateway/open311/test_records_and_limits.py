"""What a ticket publishes over Open311, per-key rate limits, the upstream client's tolerance, mirror decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.open311.mirror import mirror_target
from gateway.open311.ratelimit import RateLimiter
from gateway.open311.records import request_record, scrub_personal_data, street_only
from gateway.open311.services import load_catalog
from gateway.open311.upstream import _records, parse_open311_json
from gateway.settings import Open311Settings
from storage.models import Ticket
from tests.gateway.open311.spec import assert_schema, example_json

EMAIL_REPORT = """Hi, there is a big pothole outside my house at 12 Elm St.
Call me on 617-555-0123 or mail jane.doe@resident.example.

Jane Doe"""


def ticket(**fields: object) -> Ticket:
    base = dict(
        id=1, tracking_number="SR-2026-000042", public_token="t", reply_token="r", status="acknowledged",
        channel="email", category="pothole", department="streets", summary="Pothole", description=EMAIL_REPORT,
        address="12 Elm St, Springfield", lat=42.3601234, lon=-71.0589876,
        created_at=datetime(2026, 4, 14, 6, 37, 38, tzinfo=UTC), updated_at=datetime(2026, 4, 15, 8, 0, tzinfo=UTC),
    )  # fmt: skip
    return Ticket(**{**base, **fields})


def test_a_record_has_the_spec_fields_in_order_and_no_personal_data() -> None:
    record = request_record(ticket(), catalog=load_catalog(""), settings=Open311Settings(), reporter_name="Jane Doe")
    assert list(record) == list(example_json("get_service_request")[0])
    assert_schema("requests.json", [record])
    assert record["service_request_id"] == "SR-2026-000042" and record["status"] == "open"
    assert record["service_code"] == "pothole" and record["agency_responsible"] == "streets"
    assert record["requested_datetime"] == "2026-04-14T06:37:38+00:00"
    text = str(record)
    for secret in ("555-0123", "jane.doe", "resident.example", "Jane", "Doe", "12 Elm"):
        assert secret not in text
    assert record["address"] == "Elm St, Springfield" and (record["lat"], record["long"]) == (42.36, -71.059)
    assert "big pothole outside my house" in record["description"]


def test_exact_location_and_no_description_when_configured() -> None:
    settings = Open311Settings(public_location="exact", publish_description=False)
    record = request_record(ticket(status="resolved"), catalog=load_catalog(""), settings=settings)
    assert record["address"] == "12 Elm St, Springfield" and record["lat"] == 42.3601234
    assert record["description"] is None
    assert record["status"] == "closed" and record["status_notes"] == "Resolved."


def test_scrubbing_keeps_the_report_and_street_keeps_the_street() -> None:
    text = scrub_personal_data("Jane says: sinkhole on 5th Ave, ring +1 617 555 0123", names=("Jane",))
    assert text == "[name removed] says: sinkhole on 5th Ave, ring [phone removed]"
    assert street_only("1234 5th street") == "5th street"
    assert street_only("Intersection Of Main St & 2nd Ave") == "Intersection Of Main St & 2nd Ave"
    assert street_only(None) is None


def test_rate_limit_is_a_token_bucket_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert limiter.acquire(1) is None and limiter.acquire(1) is None
    wait = limiter.acquire(1)
    assert wait == pytest.approx(1.0)
    assert limiter.acquire(2) is None  # another key has its own bucket
    now[0] = 1.0
    assert limiter.acquire(1) is None


def test_upstream_answers_are_read_tolerantly() -> None:
    # The spec's own examples: numbers with leading zeros, ids as numbers.
    text = '[{"service_request_id":638344,"status":"closed","service_code":006,"zipcode":94122}]'
    [record] = _records(parse_open311_json(text))
    assert record["service_code"] == "006" and record["service_request_id"] == 638344
    assert _records({"service_requests": [{"token": "x"}]}) == [{"token": "x"}]
    assert _records({"token": "x"}) == [{"token": "x"}]


@pytest.mark.parametrize(
    ("ours", "upstream", "last_seen", "expected"),
    [
        ("acknowledged", "closed", None, "closed"),
        ("in_progress", "closed", "open", "closed"),
        ("acknowledged", "open", None, None),
        ("closed", "open", None, None),  # closed here while the upstream never changed: left alone
        ("closed", "open", "closed", "in_progress"),  # the upstream re-opened it
        ("duplicate", "open", "closed", None),
        ("closed", "closed", "closed", None),
    ],
)
def test_mirror_applies_only_upstream_changes(ours: str, upstream: str, last_seen: str | None, expected: str) -> None:
    assert mirror_target(ours, upstream, last_seen) == expected
