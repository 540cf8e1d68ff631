"""The pipeline: a readable tuple of named stages, a typed work item, and outcomes handled in one place.

Stages before `thread` are pure (they look only at the message); `thread`, `ticket` and `notify` run inside one
write transaction, together with settling the raw row, so a ticket, its acknowledgement in the outbox and the
raw row's "done" are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.settings import Settings
from parsers.positional import pickled_by_position
from parsers.types import Channel, Classification, GeoPoint, Location, ParsedMessage

PIPELINE: tuple[str, ...] = ("parse", "extract", "classify", "thread", "ticket", "notify")


class PipelineOutcome(Exception):
    """A decision to stop processing a message, with a stable reason code. Never a crash."""

    state: str = "quarantined"

    def __init__(self, reason_code: str, detail: str = "") -> None:
        super().__init__(f"{reason_code}: {detail}" if detail else reason_code)
        self.reason_code = reason_code
        self.detail = detail


class Reject(PipelineOutcome):
    """The message cannot become a ticket (unparseable, empty, too large); kept as quarantined with the reason."""

    state = "quarantined"


class Discard(PipelineOutcome):
    """Nothing to do (a copy of a message we already have, a bounce for nothing we sent)."""

    state = "discarded"


class Hold(PipelineOutcome):
    """Kept for staff to review before anything happens (e.g. failed DMARC under a hold policy)."""

    state = "held"


@pickled_by_position
@dataclass(frozen=True, slots=True)
class ThreadMatch:
    """Which existing ticket a message belongs to, and the rule that said so ("reply-token", "in-reply-to"...)."""

    ticket_id: int
    rule: str
    flagged: bool = False  # e.g. a different sender than the reporter: added, but staff should look


@pickled_by_position
@dataclass(slots=True)
class WorkItem:
    """One raw message on its way through the stages; each stage fills in its own fields."""

    raw_id: int
    channel: Channel
    source: str
    raw: bytes
    received_at: datetime
    envelope_from: str = ""
    envelope_to: str = ""
    parsed: ParsedMessage | None = None
    locations: list[Location] = field(default_factory=list)
    location: Location | None = None
    classification: Classification | None = None
    contact_id: int | None = None
    thread: ThreadMatch | None = None
    ticket_id: int | None = None
    ticket_created: bool = False
    message_row_id: int | None = None
    bounced_outbox_id: int | None = None  # set by `thread` when the message is a bounce of ours
    followup_reopened: bool = False
    suppress_reply: str | None = None  # why no automatic reply may go out (auto-submitted, opted out, budget ...)
    rule_hits: list[str] = field(default_factory=list)
    rule_misses: list[str] = field(default_factory=list)
    question: Question | None = None  # what the acknowledgement asks (a missing location or category)
    duplicate_of: str | None = None  # tracking number of the open ticket this new report was linked to
    duplicate_link: DuplicateLink | None = None  # found before the new ticket was written (gateway.understanding)

    def answer_context(self) -> dict[str, Any]:
        """What an acknowledgement or receipt template says about this message, whatever its channel."""
        return {
            "reopened": self.followup_reopened,
            "question": self.question.text if self.question else None,
            "duplicate_of": self.duplicate_of,
        }


@pickled_by_position
@dataclass(frozen=True, slots=True)
class DuplicateLink:
    """The open ticket a new report duplicates, and why (`rules.dedupe.DuplicateMatch`)."""

    original_id: int
    original_number: str
    original_reporter_id: int | None
    reason: str
    distance_m: float | None = None
    similarity: float | None = None


@pickled_by_position
@dataclass(frozen=True, slots=True)
class Question:
    """One short question the acknowledgement asks about a field the report left out ("location", "category")."""

    field: str
    text: str


class Classifier(Protocol):
    def classify(self, *, subject: str, body: str, channel: str, sender: str) -> Classification: ...


class Locator(Protocol):
    def locate(self, message: ParsedMessage) -> list[Location]: ...


class Geocoder(Protocol):
    """Address text -> point, without blocking the loop (see gateway.geocoding)."""

    async def geocode_async(self, text: str) -> GeoPoint | None: ...


@dataclass(slots=True)
class Services:
    """What stages may use besides the message: settings and the long-lived, loaded-once helpers."""

    settings: Settings
    classifier: Classifier | None = None
    locator: Locator | None = None
    geocoder: Geocoder | None = None
    templates: Environment | None = None  # reply templates (gateway.outbox.templates)


@dataclass(slots=True)
class StageContext:
    services: Services
    session: AsyncSession | None = None  # set only while the transactional stages run

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def db(self) -> AsyncSession:
        if self.session is None:
            raise RuntimeError("this stage needs the write transaction")
        return self.session


StageFn = Callable[[WorkItem, StageContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    run: StageFn
    transactional: bool
