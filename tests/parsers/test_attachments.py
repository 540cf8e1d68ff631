"""Attachments: hostile names made safe, types read from the bytes, size limits, photo GPS, TNEF noted."""

from __future__ import annotations

import io
from email.message import EmailMessage

import pytest
from PIL import Image

from parsers.attachments import AttachmentLimits, exif_gps, safe_filename, sniff_type
from parsers.email import parse_email
from tests.parsers.email_fixtures import EMAIL, read_bytes


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
        ("/absolute/path/report.pdf", "report.pdf"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override removed: the real extension shows
        ("bell\x07\x00name\r\n.txt", "bellname.txt"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ('what?<>:"|*.png', "what_______.png"),
        ("...", "attachment-3.jpg"),
        ("", "attachment-3.jpg"),
        (None, "attachment-3.jpg"),
        ("  .hidden  ", "hidden"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name, "image/jpeg", 3) == expected


def test_long_names_are_cut_keeping_the_extension() -> None:
    name = safe_filename("á" * 400 + ".jpeg", "image/jpeg", 1)
    assert name.endswith(".jpeg") and len(name.encode()) <= 150


@pytest.mark.parametrize(
    ("data", "declared", "expected"),
    [
        (b"\xff\xd8\xff\xe0rest", "application/octet-stream", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "image/jpeg", "image/png"),
        (b"%PDF-1.7", "application/octet-stream", "application/pdf"),
        (b"MZ\x90\x00", "image/jpeg", "application/x-msdownload"),  # an .exe dressed as a photo
        (b"\x00\x00\x00\x18ftypheic", "application/octet-stream", "image/heic"),
        (b"PK\x03\x04", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (b"PK\x03\x04", "image/png", "application/zip"),
        (b"hello", "text/plain", "text/plain"),
    ],
)  # fmt: skip
def test_type_is_sniffed_from_bytes(data: bytes, declared: str, expected: str) -> None:
    assert sniff_type(data, declared) == expected


def _with_gps(jpeg: bytes, lat: tuple[float, float, float], lat_ref: str, lon: tuple[float, float, float],
              lon_ref: str) -> bytes:  # fmt: skip
    image = Image.open(io.BytesIO(jpeg))
    exif = image.getexif()
    exif.get_ifd(0x8825).update({1: lat_ref, 2: lat, 3: lon_ref, 4: lon})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_gps_is_read_from_a_camera_photo() -> None:
    photo = _with_gps(read_bytes("piexif", "r_canon.jpg"), (41.0, 29.0, 24.0), "N", (71.0, 18.0, 36.0), "W")
    point = exif_gps(photo)
    assert point is not None
    assert point.lat == pytest.approx(41.49, abs=1e-4) and point.lon == pytest.approx(-71.31, abs=1e-4)


@pytest.mark.parametrize("file", ["r_canon.jpg", "01.jpg"])
def test_photos_without_usable_gps_give_none(file: str) -> None:
    assert exif_gps(read_bytes("piexif", file)) is None  # 01.jpg has a GPS block with out-of-range values


def _mail_with(*files: tuple[str, bytes, str]) -> bytes:
    message = EmailMessage()
    message["From"] = "jane@example.org"
    message["To"] = "reports@city.example"
    message["Subject"] = "Pothole with photos"
    message.set_content("See the photos.")
    for name, data, kind in files:
        maintype, subtype = kind.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(message)


def test_photo_attachment_carries_gps_and_a_safe_name() -> None:
    photo = _with_gps(read_bytes("piexif", "r_canon.jpg"), (41.0, 29.0, 24.0), "N", (71.0, 18.0, 36.0), "W")
    parsed = parse_email(_mail_with(("../IMG_0001.JPG", photo, "application/octet-stream")))
    (attachment,) = parsed.attachments
    assert attachment.filename == "IMG_0001.JPG"
    assert attachment.content_type == "image/jpeg"
    assert attachment.gps is not None and attachment.gps.lat == pytest.approx(41.49, abs=1e-4)


def test_size_limits_drop_and_note_what_is_too_big() -> None:
    raw = _mail_with(("a.pdf", b"%PDF-" + b"a" * 3000, "application/pdf"), ("b.pdf", b"%PDF-" + b"b" * 600,
                     "application/pdf"), ("c.pdf", b"%PDF-" + b"c" * 600, "application/pdf"))  # fmt: skip
    parsed = parse_email(raw, limits=AttachmentLimits(max_file_bytes=2000, max_total_bytes=1000, max_count=10))
    assert [item.filename for item in parsed.attachments] == ["b.pdf"]
    assert "attachment-too-large:a.pdf" in parsed.defects
    assert "attachments-over-total:c.pdf" in parsed.defects


def test_tnef_winmail_dat_is_kept_and_noted() -> None:
    parsed = parse_email(_mail_with(("winmail.dat", b"\x78\x9f\x3e\x22\x00\x00rest", "application/ms-tnef")))
    assert parsed.attachments[0].content_type == "application/ms-tnef"
    assert "tnef-not-decoded" in parsed.defects and ("tnef", "winmail.dat") in parsed.extra


def test_forwarded_message_is_kept_with_its_photo_and_text() -> None:
    inner = _mail_with(("hole.jpg", read_bytes("piexif", "r_canon.jpg"), "image/jpeg"))
    outer = EmailMessage()
    outer["From"] = "councillor@example.org"
    outer["Subject"] = "Fwd: Pothole with photos"
    outer.set_content("Please handle.")
    outer.add_attachment(inner, maintype="message", subtype="rfc822")
    parsed = parse_email(bytes(outer))
    kinds = [item.content_type for item in parsed.attachments]
    assert kinds == ["message/rfc822", "image/jpeg"]
    assert "See the photos." in parsed.body_text and "Forwarded message" in parsed.body_text
    assert parsed.body_new == parsed.body_text


def test_rfc2231_and_encoded_word_filenames_from_real_mail() -> None:
    names = {
        item.filename
        for path in sorted((EMAIL / "imap_tools" / "messages" / "attachment_emails").glob("*.eml"))
        for item in parse_email(path.read_bytes()).attachments
    }
    assert all("/" not in name and "\\" not in name and name for name in names)
    assert any(not name.isascii() for name in names)  # non-ASCII names decoded, not left as =?utf-8?...
