"""Where the third-party email fixtures live, and how a bare reply body becomes a message to parse."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

EMAIL = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def load_expected(folder: str, name: str = "expected.json") -> Any:
    return json.loads((EMAIL / folder / name).read_text(encoding="utf-8"))


def read_bytes(folder: str, relative: str) -> bytes:
    return (EMAIL / folder / relative).read_bytes()


def wrap_body(text: str, subject: str = "Re: Pothole on Main Street") -> bytes:
    """A reply fixture is a body only: give it the envelope a mail client would."""
    message = EmailMessage()
    message["From"] = "Resident <resident@example.org>"
    message["To"] = "reports@city.example"
    message["Subject"] = subject
    message["Date"] = "Mon, 05 Jan 2026 10:00:00 -0500"
    message["Message-ID"] = "<reply-1@example.org>"
    message.set_content(text)
    return bytes(message)


def all_message_files() -> list[Path]:
    return sorted(path for path in EMAIL.rglob("*.eml") if path.is_file())
