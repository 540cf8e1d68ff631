"""Attachments made safe to store and show: a harmless file name, a type read from the bytes, size limits, and the
GPS position a photo's EXIF carries (the location stage uses it).

File names come from the sender and are hostile until proven otherwise: path separators, `..`, control and
bidirectional-override characters (`invoice\u202egpj.exe`), Windows device names and endless lengths are removed.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass

from PIL import Image

from parsers.types import AttachmentPart, GeoPoint

MAX_FILENAME_BYTES = 150
_RESERVED = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_WINDOWS_DEVICES = re.compile(r"^(?:con|prn|aux|nul|com\d|lpt\d)(?:\..*)?$", re.IGNORECASE)
_EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp", "image/heic": ".heic",
    "image/tiff": ".tif", "image/bmp": ".bmp", "application/pdf": ".pdf", "message/rfc822": ".eml",
    "text/plain": ".txt", "text/html": ".html", "video/mp4": ".mp4", "video/quicktime": ".mov",
    "audio/mpeg": ".mp3", "application/zip": ".zip", "application/ms-tnef": ".dat", "text/calendar": ".ics",
}  # fmt: skip
# Magic numbers of the types residents send (photos, videos, documents) and the ones staff must be warned about.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
    (b"BM", 0, "image/bmp"),
    (b"%PDF-", 0, "application/pdf"),
    (b"\x78\x9f\x3e\x22", 0, "application/ms-tnef"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "application/x-ole-storage"),
    (b"MZ", 0, "application/x-msdownload"),
    (b"\x7fELF", 0, "application/x-executable"),
    (b"\x1f\x8b", 0, "application/gzip"),
    (b"Rar!\x1a\x07", 0, "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", 0, "application/x-7z-compressed"),
    (b"ID3", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
    (b"{\\rtf", 0, "application/rtf"),
    (b"BEGIN:VCALENDAR", 0, "text/calendar"),
)
_FTYP_BRANDS = {
    b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif", b"msf1": "image/heif",
    b"avif": "image/avif", b"qt  ": "video/quicktime", b"3gp4": "video/3gpp", b"3gp5": "video/3gpp",
}  # fmt: skip
# Zip containers whose declared type is more precise than "zip" (Office documents, OpenDocument, EPUB).
_ZIP_FAMILY = ("application/vnd.openxmlformats", "application/vnd.oasis", "application/epub", "application/vnd.ms-")
_GPS_IFD = 0x8825


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    """How much of a message's attachments is kept; what is over a limit is dropped and noted as a defect."""

    max_file_bytes: int = 25 * 1024 * 1024
    max_total_bytes: int = 50 * 1024 * 1024
    max_count: int = 100


def safe_filename(name: str | None, content_type: str, index: int) -> str:
    """A file name with no directories, control or format characters, reserved characters or device names."""
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[/\\]", text)[-1]  # keep only the last path component
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")  # Cc, Cf (bidi overrides), Cs, Co
    text = _RESERVED.sub("_", text).strip(" .")
    if _WINDOWS_DEVICES.match(text):
        text = f"_{text}"
    if not text:
        text = f"attachment-{index}{_EXTENSIONS.get(content_type, '.bin')}"
    stem, dot, extension = text.rpartition(".")
    if not dot or len(extension) > 16:
        stem, extension = text, ""
    suffix = f".{extension}" if extension else ""
    budget = MAX_FILENAME_BYTES - len(suffix.encode())
    while len(stem.encode()) > budget:
        stem = stem[:-1]
    return (stem.rstrip(" .") or "attachment") + suffix


def sniff_type(data: bytes, declared: str) -> str:
    """The content type the bytes show, else the declared one (senders label photos application/octet-stream)."""
    head = data[:32]
    for magic, offset, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    if head[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(head[8:12], declared)
    if head[:4] == b"PK\x03\x04":
        return declared if declared.startswith(_ZIP_FAMILY) else "application/zip"
    return declared or "application/octet-stream"


def _degrees(values: object, ref: object) -> float | None:
    try:
        degrees, minutes, seconds = (float(value) for value in values)  # type: ignore[union-attr]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    result = degrees + minutes / 60 + seconds / 3600
    return -result if str(ref).strip("\x00 ").upper() in ("S", "W") else result


def exif_gps(data: bytes) -> GeoPoint | None:
    """Latitude/longitude from an image's EXIF GPS tags, or None (no tags, bad values, or not an image)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            gps = image.getexif().get_ifd(_GPS_IFD)
    except Exception:  # Pillow raises many types (and decompression-bomb warnings) on bad images
        return None
    if not gps:
        return None
    lat, lon = _degrees(gps.get(2), gps.get(1)), _degrees(gps.get(4), gps.get(3))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None  # 0,0 is what broken cameras write when they had no fix
    return GeoPoint(round(lat, 7), round(lon, 7))


def build_attachment(
    name: str | None, declared_type: str, data: bytes, content_id: str | None, index: int
) -> AttachmentPart:
    kind = sniff_type(data, declared_type)
    gps = exif_gps(data) if kind in ("image/jpeg", "image/tiff", "image/webp", "image/png") else None
    return AttachmentPart(
        filename=safe_filename(name, kind, index),
        content_type=kind,
        data=data,
        content_id=content_id.strip().strip("<>") or None if content_id else None,
        gps=gps,
    )
