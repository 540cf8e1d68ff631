"""A stored Open311 submission read back as a message: the pipeline's view of a posted service request.

Pure: raw bytes in, frozen values out. The reporter is the email address, else the phone number (E.164); the
service code, location and attributes travel in `ParsedMessage.extra` for the classify and extract hooks.
"""

from __future__ import annotations

import json
import re
from typing import Any

import phonenumbers

from parsers.types import Channel, GeoPoint, Location, MediaRef, ParsedMessage

SUBJECT_CHARS = 120
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]{1,100})\](?:\[\])?$")


class Open311ParseError(ValueError):
    """The stored document is not an Open311 submission (never expected: we wrote it)."""


def _phone_e164(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region or "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _document(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Open311ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("fields"), dict):
        raise Open311ParseError("no fields")
    return doc


def parse_open311(raw: bytes) -> ParsedMessage:
    doc = _document(raw)
    fields: dict[str, list[str]] = doc["fields"]

    def one(name: str) -> str:
        values = fields.get(name) or []
        return str(values[0]).strip() if values else ""

    email = one("email").lower()
    phone = _phone_e164(one("phone"), str(doc.get("region", "US"))) if one("phone") else None
    sender = email or phone or ""
    name = " ".join(p for p in (one("first_name"), one("last_name")) if p) or None
    description = one("description")
    first_line = next((line.strip() for line in description.splitlines() if line.strip()), "")
    extra: list[tuple[str, str]] = [
        (key, one(key))
        for key in ("service_code", "lat", "long", "address_string", "address_id", "device_id", "account_id")
        if one(key)
    ]
    if phone and email:
        extra.append(("phone", phone))  # the reporter is the email address; staff still see the number
    api_key = doc.get("api_key") or {}
    if api_key.get("name"):
        extra.append(("api_key", str(api_key["name"])))
    for key, values in sorted(fields.items()):
        match = _ATTRIBUTE.match(key)
        if match:
            extra.append((f"attribute:{match.group(1)}", ",".join(str(v) for v in values)))
    media = (MediaRef(url=one("media_url")),) if one("media_url") else ()
    token = str(doc.get("token", ""))
    return ParsedMessage(
        channel=Channel.OPEN311,
        sender=sender,
        sender_name=name,
        subject=first_line[:SUBJECT_CHARS],
        body_text=description,
        body_new=description,
        message_id=f"{token}@open311.invalid" if token else None,
        media=media,
        extra=tuple(extra),
    )


def extra_value(parsed: ParsedMessage, key: str) -> str | None:
    return next((v for k, v in parsed.extra if k == key), None)


def stated_locations(parsed: ParsedMessage) -> list[Location]:
    """The location the client stated: lat/long (with the address as its text), else the address alone."""
    address = extra_value(parsed, "address_string") or ""
    lat, lon = extra_value(parsed, "lat"), extra_value(parsed, "long")
    point = None
    if lat and lon:
        try:
            point = GeoPoint(lat=float(lat), lon=float(lon))
        except ValueError:
            point = None
    if point is not None:
        text = address or f"{point.lat:.6f}, {point.lon:.6f}"
        return [
            Location(
                text=text, kind="address" if address else "coordinates", confidence=1.0, point=point, source="form"
            )
        ]
    if address:
        return [Location(text=address, kind="address", confidence=0.9, source="form")]
    address_id = extra_value(parsed, "address_id")
    if address_id:
        return [Location(text=f"address id {address_id}", kind="address-id", confidence=0.9, source="form")]
    return []
