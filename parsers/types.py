"""The typed values that parsers produce and the pipeline passes along.

Everything here is frozen: a stage adds information by building a new value, never by mutating one it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from parsers.positional import pickled_by_position


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEB = "web"
    OPEN311 = "open311"


@pickled_by_position
@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat: float
    lon: float


@pickled_by_position
@dataclass(frozen=True, slots=True)
class AttachmentPart:
    """One attachment as it arrived; `filename` is already made safe to store and show."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    gps: GeoPoint | None = None  # from the photo's EXIF, when it carries one


@pickled_by_position
@dataclass(frozen=True, slots=True)
class MediaRef:
    """A piece of media that is fetched later by the pipeline (MMS `MediaUrlN`, Open311 `media_url`)."""

    url: str
    content_type: str | None = None


@pickled_by_position
@dataclass(frozen=True, slots=True)
class AuthVerdicts:
    """SPF/DKIM/DMARC results from an upstream `Authentication-Results` header ("pass", "fail", "none", ...)."""

    spf: str | None = None
    dkim: str | None = None
    dmarc: str | None = None


@pickled_by_position
@dataclass(frozen=True, slots=True)
class Bounce:
    """A delivery-status report: which of our messages bounced, for whom, and whether it is permanent."""

    original_message_id: str | None
    recipient: str | None
    hard: bool
    reason: str


@pickled_by_position
@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """A message from any channel, reduced to what the rest of the house needs.

    `body_text` is the full text the sender sent (HTML converted to text when there is no text part);
    `body_new` is only the new words of a reply (quoted history and signature removed).
    """

    channel: Channel
    sender: str  # email address (lower-cased) or E.164 phone number; "" when there is none (null sender)
    subject: str = ""
    body_text: str = ""
    body_new: str = ""
    sender_name: str | None = None
    message_id: str | None = None  # without angle brackets
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    sent_at: datetime | None = None
    body_html: str | None = None  # sanitised HTML only, never the raw markup
    attachments: tuple[AttachmentPart, ...] = ()
    media: tuple[MediaRef, ...] = ()
    auto_submitted: str | None = None  # why this is machine-made mail ("auto-submitted", "precedence-bulk"...)
    bounce: Bounce | None = None
    auth: AuthVerdicts | None = None
    language: str | None = None
    defects: tuple[str, ...] = ()  # what was wrong with the input but could be worked around
    extra: tuple[tuple[str, str], ...] = field(default=())  # channel-specific facts worth keeping (name, value)


@pickled_by_position
@dataclass(frozen=True, slots=True)
class Location:
    """A place found in a report, with where it came from and how sure we are."""

    text: str  # as written, or a normalised address
    kind: str  # "address" | "intersection" | "block" | "landmark" | "coordinates" | "map-link" | "exif" | ...
    confidence: float
    point: GeoPoint | None = None
    span: tuple[int, int] | None = None  # character span in the searched text
    source: str = "body"  # "subject" | "body" | "attachment" | "form"


@pickled_by_position
@dataclass(frozen=True, slots=True)
class Classification:
    """The category a report was given, and who decided it (a rule's name, "model", or "triage")."""

    category: str
    confidence: float
    decided_by: str
    department: str | None = None
    priority: str = "normal"
    rule_hits: tuple[str, ...] = ()
