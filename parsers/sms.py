"""Twilio's inbound-message webhook form (SMS, MMS, WhatsApp) -> ParsedMessage.

The stored raw form is exactly the body Twilio posted (`application/x-www-form-urlencoded`, UTF-8). Media are only
referenced here (`MediaUrlN`); the pipeline fetches them. A location shared from the phone (`Latitude`/`Longitude`)
is kept in `extra` and read back with `shared_location()`.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qsl

from parsers.language import guess_language
from parsers.phone import parse_phone_address
from parsers.types import Channel, GeoPoint, Location, MediaRef, ParsedMessage

MAX_MEDIA = 10  # Twilio delivers at most ten media items per message
_SHARED_LOCATION_CONFIDENCE = 0.95  # the phone's own fix, as precise as the resident's GPS


class SmsParseError(ValueError):
    """The stored form is not a Twilio message webhook."""

    def __init__(self, reason_code: str, detail: str = "") -> None:
        super().__init__(f"{reason_code}: {detail}" if detail else reason_code)
        self.reason_code = reason_code
        self.detail = detail


def parse_twilio_form(raw: bytes, *, default_region: str | None = "US") -> ParsedMessage:
    """Parse the posted form of one inbound message."""
    defects: list[str] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        defects.append("form-not-utf8")
    pairs = parse_qsl(text, keep_blank_values=True)
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)  # Twilio sends each key once; a repeat is not Twilio's and is ignored
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    if not sid:
        raise SmsParseError("no-message-sid", "the form has no MessageSid")

    sender = parse_phone_address(form.get("From", ""), default_region=default_region)
    if sender.e164 is None:
        defects.append("sender-not-a-phone-number")  # short codes, alphanumeric ids: machines, never answered
    extra: list[tuple[str, str]] = [("from", sender.raw)]
    if sender.channel_prefix:
        extra.append(("reply_to", sender.reply_address))
    for field, name in (
        ("AccountSid", "account_sid"),
        ("NumSegments", "num_segments"),
        ("OptOutType", "opt_out_type"),
        ("MessagingServiceSid", "messaging_service_sid"),
    ):
        if form.get(field):
            extra.append((name, form[field]))
    extra.extend(_shared_location_fields(form, defects))

    body = form.get("Body", "").replace("\r\n", "\n").replace("\r", "\n").strip()
    return ParsedMessage(
        channel=Channel.SMS,
        sender=sender.e164 or "",
        body_text=body,
        body_new=body,
        message_id=sid,
        recipients=tuple(r for r in (form.get("To", "").strip(),) if r),
        media=_media_refs(form, defects),
        language=guess_language(body) if body else None,
        defects=tuple(defects),
        extra=tuple(extra),
    )


def _media_refs(form: dict[str, str], defects: list[str]) -> tuple[MediaRef, ...]:
    try:
        count = int(form.get("NumMedia", "0") or 0)
    except ValueError:
        defects.append("num-media-not-a-number")
        count = MAX_MEDIA  # still look for the MediaUrlN fields that are there
    refs: list[MediaRef] = []
    for n in range(min(max(count, 0), MAX_MEDIA)):
        url = form.get(f"MediaUrl{n}", "").strip()
        if not url.startswith(("https://", "http://")):
            if url:
                defects.append(f"media-url-{n}-not-http")
            continue
        refs.append(MediaRef(url=url, content_type=form.get(f"MediaContentType{n}", "").strip().lower() or None))
    return tuple(refs)


def _shared_location_fields(form: dict[str, str], defects: list[str]) -> list[tuple[str, str]]:
    if not form.get("Latitude") or not form.get("Longitude"):
        return []
    try:
        lat, lon = float(form["Latitude"]), float(form["Longitude"])
    except ValueError:
        defects.append("shared-location-not-numeric")
        return []
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        defects.append("shared-location-out-of-range")
        return []
    fields = [("latitude", repr(lat)), ("longitude", repr(lon))]
    for field, name in (("Address", "location_address"), ("Label", "location_label")):
        if form.get(field, "").strip():
            fields.append((name, form[field].strip()))
    return fields


def extra_value(parsed: ParsedMessage, name: str) -> str | None:
    """The first value recorded under `name` in `parsed.extra`."""
    return next((value for key, value in parsed.extra if key == name), None)


def shared_location(parsed: ParsedMessage) -> Location | None:
    """The location the resident shared from their phone (WhatsApp and RCS pins), if the message carries one."""
    lat, lon = extra_value(parsed, "latitude"), extra_value(parsed, "longitude")
    if lat is None or lon is None:
        return None
    point = GeoPoint(lat=float(lat), lon=float(lon))
    label = extra_value(parsed, "location_address") or extra_value(parsed, "location_label")
    return Location(
        text=label or f"{point.lat:.6f}, {point.lon:.6f}",
        kind="shared-location",
        confidence=_SHARED_LOCATION_CONFIDENCE,
        point=point,
        source="form",
    )
