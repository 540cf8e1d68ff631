"""Values that cross to and from the parse process pickle (and copy) as their constructor's arguments, and come
back equal, every field of every kind filled in."""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

import pytest

from gateway.pipeline import DuplicateLink, Question, ThreadMatch, WorkItem
from gateway.stage_process import Prepared
from parsers.positional import pickled_by_position
from parsers.types import (
    AttachmentPart,
    AuthVerdicts,
    Bounce,
    Channel,
    Classification,
    GeoPoint,
    Location,
    MediaRef,
    ParsedMessage,
)

WHEN = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


@pickled_by_position
@dataclass(frozen=True)
class OneField:
    a: int


def _every_field_set() -> Prepared:
    """A prepared item with no field left at its default, so that a field dropped or shifted shows."""
    parsed = ParsedMessage(
        channel=Channel.EMAIL,
        sender="jane@resident.example",
        subject="Pothole",
        body_text="A pothole on Main St.\n> quoted",
        body_new="A pothole on Main St.",
        sender_name="Jane Doe",
        message_id="m1@resident.example",
        in_reply_to="ack@city.example",
        references=("a@city.example", "ack@city.example"),
        recipients=("reports@city.example",),
        sent_at=WHEN,
        body_html="<p>A pothole</p>",
        attachments=(AttachmentPart("hole.jpg", "image/jpeg", b"\xff\xd8", "c1", GeoPoint(41.9, -87.6)),),
        media=(MediaRef("https://media.example/1", "image/png"),),
        auto_submitted="auto-replied",
        bounce=Bounce(original_message_id="o1@city.example", recipient="x@y.example", hard=True, reason="5.1.1"),
        auth=AuthVerdicts(spf="pass", dkim="pass", dmarc="fail"),
        language="en",
        defects=("missing-date",),
        extra=(("via", "imap"),),
    )
    point = GeoPoint(41.88, -87.63)
    location = Location(text="123 Main St", kind="address", confidence=0.9, point=point, span=(2, 13), source="subject")
    item = WorkItem(
        raw_id=7,
        channel=Channel.EMAIL,
        source="smtp",
        raw=b"raw bytes",
        received_at=WHEN,
        envelope_from="jane@resident.example",
        envelope_to="reports@city.example",
        parsed=parsed,
        locations=[location],
        location=location,
        classification=Classification("pothole", 0.8, "model", "streets", "high", ("rule:hole",)),
        contact_id=3,
        thread=ThreadMatch(ticket_id=5, rule="in-reply-to", flagged=True),
        ticket_id=5,
        ticket_created=True,
        message_row_id=9,
        bounced_outbox_id=11,
        followup_reopened=True,
        suppress_reply="auto-submitted",
        rule_hits=["hole"],
        rule_misses=["tree"],
        question=Question(field="location", text="Where is it?"),
        duplicate_of="SR-2026-000001",
        duplicate_link=DuplicateLink(1, "SR-2026-000001", 4, "distance", 12.5),
    )
    return Prepared(item, "done", "a reason", error=True)


def _defaults_of(value: object) -> list[str]:
    return [f.name for f in fields(value) if getattr(value, f.name) == f.default]  # type: ignore[arg-type]


def test_every_field_survives_a_pickle_and_a_copy() -> None:
    prepared = _every_field_set()
    assert prepared.item is not None and prepared.item.parsed is not None
    assert _defaults_of(prepared.item) == [] and _defaults_of(prepared.item.parsed) == []
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        again = pickle.loads(pickle.dumps(prepared, protocol=protocol))
        assert again == prepared and again is not prepared
    copied = copy.copy(prepared.item)
    assert copied == prepared.item and copied is not prepared.item
    assert copied.locations is prepared.item.locations  # a shallow copy, as before (the worker copies the lists)


CROSSING = [GeoPoint, AttachmentPart, MediaRef, AuthVerdicts, Bounce, ParsedMessage, Location, Classification,
            ThreadMatch, WorkItem, DuplicateLink, Question, Prepared]  # fmt: skip


@pytest.mark.parametrize("cls", CROSSING)
def test_the_values_that_cross_pickle_by_position(cls: type) -> None:
    reduce = cls.__reduce__
    assert reduce is not object.__reduce__ and reduce.__qualname__.startswith("pickled_by_position")


def test_a_class_whose_init_does_more_is_refused() -> None:
    @dataclass
    class Computed:
        a: int
        b: int = field(init=False, default=0)

    @dataclass
    class Checked:
        a: int

        def __post_init__(self) -> None:
            self.a = abs(self.a)

    for cls in (Computed, Checked):
        with pytest.raises(TypeError):
            pickled_by_position(cls)


def test_a_class_of_one_field() -> None:
    assert pickle.loads(pickle.dumps(OneField(5))) == OneField(5)
