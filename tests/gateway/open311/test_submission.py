"""A posted form: checked at the edge, stored with a stable token, read back by the pipeline as a message."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from gateway.open311.formats import Open311Error
from gateway.open311.inbound import extra_value, parse_open311, stated_locations
from gateway.open311.services import load_catalog
from gateway.open311.submission import build_submission, check_request_form
from parsers.types import Channel
from tests.gateway.open311.spec import example_post_body


def spec_form(**changes: str) -> dict[str, list[str]]:
    """The spec's own POST example, for one of our services."""
    form = parse_qs(example_post_body(), keep_blank_values=True)
    form["service_code"] = ["pothole"]
    for key, value in changes.items():
        form[key] = [value]
    return form


def test_the_spec_example_is_accepted_and_read_back() -> None:
    form = spec_form()
    check_request_form(form, load_catalog(""))
    submission = build_submission(form, api_key_id=7, api_key_name="seeclickfix", region="US")
    stored = json.loads(submission.raw.raw)
    assert "api_key" not in stored["fields"] and stored["api_key"] == {"id": 7, "name": "seeclickfix"}
    assert submission.raw.channel == "open311" and submission.raw.idempotency_key == f"open311:{submission.token}"

    parsed = parse_open311(submission.raw.raw)
    assert parsed.channel is Channel.OPEN311
    assert parsed.sender == "smit333@sfgov.edu" and parsed.sender_name == "john smith"
    assert parsed.body_text == "A large sinkhole is destroying the street"
    assert parsed.subject == "A large sinkhole is destroying the street"
    assert parsed.media[0].url == "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg"
    assert extra_value(parsed, "service_code") == "pothole"
    assert extra_value(parsed, "attribute:WHISPAWN") == "123456"
    assert extra_value(parsed, "api_key") == "seeclickfix"
    [location] = stated_locations(parsed)
    assert location.text == "1234 5th street" and location.source == "form"
    assert location.point is not None and (location.point.lat, location.point.lon) == (37.76524078, -122.4212043)


def test_token_is_stable_per_key_and_body_or_per_client_key() -> None:
    a = build_submission(spec_form(), api_key_id=1, api_key_name="a", region="US")
    again = build_submission(spec_form(), api_key_id=1, api_key_name="a", region="US")
    other_key = build_submission(spec_form(), api_key_id=2, api_key_name="b", region="US")
    other_body = build_submission(spec_form(description="Another hole"), api_key_id=1, api_key_name="a", region="US")
    assert a.token == again.token and len(a.token) == 32
    assert len({a.token, other_key.token, other_body.token}) == 3
    c1 = build_submission(spec_form(), api_key_id=1, api_key_name="a", region="US", client_key="abc")
    c2 = build_submission(
        spec_form(description="edited"), api_key_id=1, api_key_name="a", region="US", client_key="abc"
    )
    assert c1.token == c2.token != a.token


def test_a_phone_only_reporter_is_their_e164_number() -> None:
    form = {"service_code": ["graffiti"], "address_string": ["Main St & 2nd Ave"], "phone": ["(617) 555-0123"]}
    parsed = parse_open311(build_submission(form, api_key_id=1, api_key_name="a", region="US").raw.raw)
    assert parsed.sender == "+16175550123"
    [location] = stated_locations(parsed)
    assert location.point is None and location.kind == "address"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"service_code": ""}, "service_code was not provided"),
        ({"service_code": "DMV66"}, "service_code 'DMV66' is not a known service"),
        ({"lat": "", "long": "", "address_string": ""}, "a location is required"),
        ({"lat": "north"}, "lat must be a decimal number"),
        ({"long": "200"}, "long must be between -180 and 180"),
        ({"long": ""}, "lat and long must be given together"),
        ({"email": "not-an-address"}, "email is not a valid email address"),
        ({"media_url": "javascript:alert(1)"}, "media_url must be an http or https URL"),
        ({"description": "x" * 4001}, "description is longer than 4000 characters"),
    ],
)
def test_bad_forms_are_refused_with_a_400_that_says_why(changes: dict[str, str], message: str) -> None:
    with pytest.raises(Open311Error) as caught:
        check_request_form(spec_form(**changes), load_catalog(""))
    assert caught.value.code == 400 and caught.value.description.startswith(message)


def test_address_id_alone_is_a_location() -> None:
    form = spec_form(lat="", long="", address_string="", address_id="545483")
    check_request_form(form, load_catalog(""))
    parsed = parse_open311(build_submission(form, api_key_id=1, api_key_name="a", region="US").raw.raw)
    assert [loc.text for loc in stated_locations(parsed)] == ["address id 545483"]
