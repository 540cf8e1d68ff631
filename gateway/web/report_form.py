"""Reading and checking a `/report` submission: text lengths, contact details, coordinates, and photos (count,
size, and type sniffed from the bytes: a browser's declared type is not trusted)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData, UploadFile

from gateway.settings import Settings
from parsers.attachments import exif_gps, safe_filename, sniff_type
from parsers.phone import normalise_phone

MIN_DESCRIPTION = 10
MAX_DESCRIPTION = 5000
CHUNK = 64 * 1024


class ReportProblem(Exception):
    """What is wrong with a submission, as codes the form template explains in the resident's language."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


def report_categories(settings: Settings) -> list[tuple[str, str]]:
    """(slug, label) of the rules file's categories, for the optional category menu."""
    from gateway.open311.services import load_catalog  # the categories of the configured rules file

    catalog = load_catalog(settings.rules.file)
    return sorted(((s.category, s.name) for s in catalog.services), key=lambda pair: pair[1].lower())


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


def _coordinate(form: FormData, name: str, bound: float) -> float | None:
    value = form.get(name)
    try:
        number = float(value) if isinstance(value, str) and value.strip() else None
    except ValueError:
        return None
    return number if number is not None and -bound <= number <= bound else None


async def _read_limited(upload: UploadFile, limit: int) -> bytes | None:
    """The file's bytes, or None when it is larger than `limit` (read no further than that)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def read_photos(uploads: list[UploadFile], settings: Settings) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    web = settings.web
    problems: list[str] = []
    if len(uploads) > web.report_max_photos:
        return [], ["too-many-photos"]
    photos = []
    for index, upload in enumerate(uploads):
        data = await _read_limited(upload, web.report_max_photo_bytes)
        if data is None:
            problems.append("photo-too-large")
            continue
        kind = sniff_type(data, "application/octet-stream")  # only what the bytes are counts
        if kind not in web.report_photo_types:
            problems.append("photo-type")
            continue
        photos.append((safe_filename(upload.filename, kind, index), kind, data))
    return photos, problems


async def read_report(form: FormData, uploads: list[UploadFile], settings: Settings) -> dict[str, Any]:
    """The checked fields for `parsers.webform.build_web_report`, or ReportProblem listing everything wrong."""
    problems: list[str] = []
    raw_description = form.get("description")
    description = raw_description.strip()[:MAX_DESCRIPTION] if isinstance(raw_description, str) else ""
    if len(description) < MIN_DESCRIPTION:
        problems.append("description")
    category = _text(form, "category", 64)
    if category and category not in {slug for slug, _ in report_categories(settings)}:
        category = ""
    email = _text(form, "email", 320).lower()
    if email and ("@" not in email or " " in email or email.startswith("@") or email.endswith("@")):
        problems.append("email")
    phone_text = _text(form, "phone", 40)
    phone = normalise_phone(phone_text, default_region=settings.twilio.default_region) if phone_text else None
    if phone_text and phone is None:
        problems.append("phone")
    lat, lon = _coordinate(form, "lat", 90), _coordinate(form, "lon", 180)
    if lat is None or lon is None:
        lat = lon = None
    address = _text(form, "address", 500)
    photos, photo_problems = await read_photos(uploads, settings)
    problems += photo_problems
    if not address and lat is None and not any(exif_gps(data) for _, _, data in photos):
        problems.append("location")  # an address, the browser's location, or a photo that knows where it was taken
    if problems:
        raise ReportProblem(problems)
    return {
        "description": description,
        "category": category,
        "address": address,
        "lat": lat,
        "lon": lon,
        "email": email,
        "phone": phone or "",
        "name": _text(form, "name", 200),
        "photos": photos,
    }
