"""A stored web-form report read back as a message: the pipeline's view of what a resident typed on `/report`.

Pure: raw bytes (the JSON document the form handler stored) in, frozen values out. The reporter is the email
address, else the phone number (already E.164); the chosen category and the stated location travel in
`ParsedMessage.extra` for the classify and extract hooks. Photos are carried in the document itself.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from parsers.attachments import build_attachment
from parsers.language import guess_language
from parsers.types import AttachmentPart, Channel, GeoPoint, Location, ParsedMessage

FORMAT_VERSION = 1


class WebFormParseError(ValueError):
    """The stored document is not a web-form report (never expected: we wrote it)."""


def build_web_report(
    *,
    description: str,
    category: str = "",
    address: str = "",
    lat: float | None = None,
    lon: float | None = None,
    email: str = "",
    phone: str = "",
    name: str = "",
    language: str = "",
    photos: list[tuple[str, str, bytes]] | None = None,
    submitted_at: str = "",
) -> bytes:
    """The document the form handler stores raw (photos as (filename, content type, bytes))."""
    doc: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "description": description,
        "category": category,
        "address": address,
        "lat": lat,
        "lon": lon,
        "email": email,
        "phone": phone,
        "name": name,
        "language": language,
        "submitted_at": submitted_at,
        "photos": [
            {"filename": f, "content_type": t, "data": base64.b64encode(d).decode("ascii")} for f, t, d in photos or []
        ],
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _document(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebFormParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("v") != FORMAT_VERSION or not isinstance(doc.get("description"), str):
        raise WebFormParseError("not a web report document")
    return doc


def _photos(doc: dict[str, Any]) -> tuple[AttachmentPart, ...]:
    parts = []
    for index, photo in enumerate(doc.get("photos") or []):
        try:
            data = base64.b64decode(photo["data"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            continue
        parts.append(build_attachment(photo.get("filename"), str(photo.get("content_type", "")), data, None, index))
    return tuple(parts)


def parse_web_report(raw: bytes) -> ParsedMessage:
    doc = _document(raw)

    def text(key: str) -> str:
        return str(doc.get(key) or "").strip()

    description = text("description")
    extra = [(key, text(key)) for key in ("category", "address", "phone") if text(key)]
    for key in ("lat", "lon"):
        if isinstance(doc.get(key), int | float):
            extra.append((key, repr(float(doc[key]))))
    return ParsedMessage(
        channel=Channel.WEB,
        sender=text("email").lower() or text("phone"),
        sender_name=text("name") or None,
        subject="",
        body_text=description,
        body_new=description,
        attachments=_photos(doc),
        language=guess_language(description) or text("language"),  # what they wrote, else the form's language
        extra=tuple(extra),
    )


def extra_value(parsed: ParsedMessage, key: str) -> str | None:
    return next((v for k, v in parsed.extra if k == key), None)


def stated_locations(parsed: ParsedMessage) -> list[Location]:
    """The pin from "use my location" (with the typed address as its text), else the typed address alone."""
    address = extra_value(parsed, "address") or ""
    lat, lon = extra_value(parsed, "lat"), extra_value(parsed, "lon")
    if lat and lon:
        point = GeoPoint(lat=float(lat), lon=float(lon))
        if -90 <= point.lat <= 90 and -180 <= point.lon <= 180:
            text = address or f"{point.lat:.6f}, {point.lon:.6f}"
            kind = "address" if address else "coordinates"
            return [Location(text=text, kind=kind, confidence=0.95, point=point, source="form")]
    if address:
        return [Location(text=address, kind="address", confidence=0.9, source="form")]
    return []
