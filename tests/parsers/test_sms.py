"""Twilio's inbound webhook form -> ParsedMessage: real captured bodies, then the edge cases one field at a time."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from parsers.phone import normalise_phone, parse_phone_address
from parsers.sms import SmsParseError, extra_value, parse_twilio_form, shared_location
from parsers.types import Channel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"
WEBHOOKS = {w["id"]: w for w in json.loads((FIXTURES / "webhooks.json").read_text(encoding="utf-8"))["webhooks"]}


def _raw(fixture: str) -> bytes:
    return WEBHOOKS[fixture]["raw"].encode()


def _form(**fields: str) -> bytes:
    base = {"MessageSid": "SM" + "a" * 32, "AccountSid": "AC" + "0" * 32, "From": "+17735550100",
            "To": "+13125550199", "Body": "Pothole", "NumMedia": "0"}  # fmt: skip
    return urlencode({**base, **fields}).encode()


def test_real_us_sms() -> None:
    parsed = parse_twilio_form(_raw("sms-us-plain"))
    assert parsed.channel == Channel.SMS
    assert parsed.sender == "+19253920364"
    assert parsed.message_id == "SM1521fa559fb923c1ed64f56cd1bed8ef"
    assert parsed.body_text == parsed.body_new == "twilio-go testing!"
    assert parsed.recipients == ("+19253920364",)
    assert parsed.media == () and parsed.defects == ()
    assert extra_value(parsed, "account_sid") == "AC58f1e8f2b1c6b88ca90a012a4be0c279"
    assert extra_value(parsed, "num_segments") == "1"
    assert shared_location(parsed) is None


def test_whatsapp_text_keeps_its_channel_address_for_the_answer() -> None:
    parsed = parse_twilio_form(_raw("whatsapp-text"))
    expect = WEBHOOKS["whatsapp-text"]["expect"]
    assert parsed.body_text == expect["text"]
    assert parsed.sender == "+31612345678"  # the person, whatever app they used
    assert extra_value(parsed, "reply_to") == expect["from"] == "whatsapp:+31612345678"


def test_media_message_is_referenced_not_fetched() -> None:
    parsed = parse_twilio_form(_raw("whatsapp-image"))
    [expected] = WEBHOOKS["whatsapp-image"]["expect"]["attachments"]
    [ref] = parsed.media
    assert ref.url == expected["url"] and ref.content_type == expected["content_type"]
    assert parsed.body_text == "" and parsed.attachments == ()
    assert parsed.message_id == "MM21151abfaadc1fb79b782f8460862a52"


def test_shared_location_becomes_a_location() -> None:
    parsed = parse_twilio_form(_raw("whatsapp-location"))
    expect = WEBHOOKS["whatsapp-location"]["expect"]
    location = shared_location(parsed)
    assert location is not None and location.point is not None
    assert location.point.lat == pytest.approx(expect["lat"]) and location.point.lon == pytest.approx(expect["lon"])
    assert location.text == expect["address"]
    assert location.kind == "shared-location" and location.source == "form"


def test_several_media_in_order_and_bounded() -> None:
    fields = {f"MediaUrl{n}": f"https://api.twilio.com/media/ME{n}" for n in range(12)}
    fields |= {f"MediaContentType{n}": "image/PNG" for n in range(12)}
    parsed = parse_twilio_form(_form(NumMedia="12", **fields))
    assert [m.url for m in parsed.media] == [f"https://api.twilio.com/media/ME{n}" for n in range(10)]
    assert {m.content_type for m in parsed.media} == {"image/png"}


def test_media_fields_that_are_not_urls_are_noted_and_skipped() -> None:
    parsed = parse_twilio_form(_form(NumMedia="2", MediaUrl0="file:///etc/passwd", MediaUrl1="https://x.test/1"))
    assert [m.url for m in parsed.media] == ["https://x.test/1"]
    assert "media-url-0-not-http" in parsed.defects
    garbled = parse_twilio_form(_form(NumMedia="lots", MediaUrl0="https://x.test/0"))
    assert [m.url for m in garbled.media] == ["https://x.test/0"] and "num-media-not-a-number" in garbled.defects


def test_short_code_sender_has_no_phone_number() -> None:
    parsed = parse_twilio_form(_form(From="12345"))
    assert parsed.sender == "" and "sender-not-a-phone-number" in parsed.defects
    assert extra_value(parsed, "from") == "12345"


def test_body_line_endings_language_and_opt_out_type() -> None:
    parsed = parse_twilio_form(_form(Body="Hay un bache en la calle\r\nfrente a la escuela ", OptOutType="STOP"))
    assert parsed.body_text == "Hay un bache en la calle\nfrente a la escuela"
    assert parsed.language == "es"
    assert extra_value(parsed, "opt_out_type") == "STOP"


@pytest.mark.parametrize(
    ("lat", "lon", "defect"),
    [("91", "0", "shared-location-out-of-range"), ("nan", "1", "shared-location-out-of-range"),
     ("north", "1", "shared-location-not-numeric")],
)  # fmt: skip
def test_bad_shared_location_is_a_defect(lat: str, lon: str, defect: str) -> None:
    parsed = parse_twilio_form(_form(Latitude=lat, Longitude=lon))
    assert shared_location(parsed) is None and defect in parsed.defects


def test_a_form_without_message_sid_is_refused() -> None:
    with pytest.raises(SmsParseError) as caught:
        parse_twilio_form(b"From=%2B17735550100&Body=hi")
    assert caught.value.reason_code == "no-message-sid"


def test_a_form_that_is_not_utf8_still_parses() -> None:
    parsed = parse_twilio_form(_form(Body="caf") + b"\xe9")
    assert "form-not-utf8" in parsed.defects and parsed.message_id


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+19253920364", None, "+19253920364"),
        ("(773) 555-0100", "US", "+17735550100"),
        ("773.555.0100", "US", "+17735550100"),
        ("55 1234 5678", "MX", "+525512345678"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("773-555-0100", None, None),  # no country code and no region to assume
        ("12345", "US", None),  # a short code is not a phone number
        ("call me", "US", None),
        ("", "US", None),
    ],
)
def test_normalise_phone(text: str, region: str | None, expected: str | None) -> None:
    assert normalise_phone(text, default_region=region) == expected


def test_channel_prefixed_address() -> None:
    address = parse_phone_address("whatsapp:+31612345678")
    assert (address.e164, address.channel_prefix, address.reply_address) == (
        "+31612345678", "whatsapp", "whatsapp:+31612345678",
    )  # fmt: skip
    plain = parse_phone_address("+19253920364")
    assert plain.channel_prefix is None and plain.reply_address == "+19253920364"
