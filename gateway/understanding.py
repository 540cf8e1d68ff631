"""Puts the understanding of a report to work on its ticket: coordinates, duplicates, and the one question we ask.

Hooks the `ticket` and `notify` stages call, in the ticket's own transaction:
- a new ticket, before it is written: its address turned into a point (the configured geocoder), then the open
  ticket about the same problem found (`rules.dedupe`), so the row is written once, linked to it; once it is
  written, both timelines record the link, and the reporter is told that ticket's number and hears of its changes;
- its acknowledgement: when the report has no usable location (or no category above the threshold), one short
  question ("Where is it? ..."), recorded as a `question-asked` event that staff see in the audit log;
- a follow-up from the reporter while a question is open: its answer fills in the ticket (`question-answered`).
At most one question per field, ever: a field asked about is never asked about again.
The `ticket` a hook is given is the transaction's own object, so `touch_ticket` updates it too (setting it again
would only make the session write the row a second time).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from gateway.pipeline import DuplicateLink, Question, StageContext, ThreadMatch, WorkItem
from parsers.location import extract_locations, location_is_usable, place_columns
from parsers.types import Channel, GeoPoint, Location
from rules.dedupe import ReportFacts, find_duplicate
from rules.taxonomy import UNCATEGORISED
from storage.duplicates import (
    QUESTION_ANSWERED,
    QUESTION_ASKED,
    Candidate,
    list_open_tickets_of_category,
    questions_of_ticket,
    ticket_awaiting_answer,
)
from storage.models import Ticket, TicketStatus
from storage.sms import subscribe_to_ticket
from storage.tickets import add_event, touch_ticket

log = logging.getLogger(__name__)

GEOCODED_KINDS = ("address", "intersection", "block")
ANSWER_WINDOW = timedelta(days=7)  # a text answers our open question this long after we asked it
ANSWER_MAX_WORDS = 15
QUESTIONS: dict[str, dict[str, str]] = {
    "en": {
        "location": "Where is it? Reply with an address or the nearest cross streets.",
        "category": "What is the problem? Reply with a few words, e.g. pothole, street light out, graffiti.",
    },
    "es": {
        "location": "¿Dónde está? Responda con una dirección o las calles que se cruzan más cerca.",
        "category": "¿Cuál es el problema? Responda con pocas palabras, p. ej. bache, farola apagada, grafiti.",
    },
}


def register_understanding() -> None:
    """Install the hooks into the stages (called once, where the stages are assembled)."""
    from gateway.stages.notify import AFTER_ACK, BEFORE_ACK, ON_TICKET_CREATED
    from gateway.stages.thread import CHANNEL_RULES
    from gateway.stages.ticket import BEFORE_CREATE, ON_FOLLOW_UP

    if place_and_find_original not in BEFORE_CREATE:
        BEFORE_CREATE.insert(0, place_and_find_original)
    if record_link not in ON_TICKET_CREATED:
        ON_TICKET_CREATED.insert(0, record_link)  # first: as the timeline of a duplicate has always begun
    for hooks, hook in (
        (BEFORE_ACK, ask_when_it_matters),
        (AFTER_ACK, settle_duplicate),
        (ON_FOLLOW_UP, fill_from_answer),
    ):
        if hook not in hooks:
            hooks.append(hook)
    sms_rules = CHANNEL_RULES.setdefault(Channel.SMS, [])
    if thread_answer not in sms_rules:
        sms_rules.append(thread_answer)  # after the conversation rule: only texts it did not place


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _facts(ticket: Candidate | SimpleNamespace) -> ReportFacts:
    """What dedupe reads of an open ticket, or of a new one from the values it is about to be written with."""
    point = GeoPoint(ticket.lat, ticket.lon) if ticket.lat is not None and ticket.lon is not None else None
    return ReportFacts(
        category=ticket.category or UNCATEGORISED,
        created_at=_aware(ticket.created_at),
        point=point,
        address_key=ticket.address_key,  # set with the place (parsers.location.place_columns; migration 0006)
        text=f"{ticket.summary}\n{ticket.description}",
        ticket_id=ticket.id,
    )


async def _geocode(ctx: StageContext, values: dict[str, Any], location: Location | None) -> None:
    """Give the new ticket a point when its place is an address, corner or block the geocoder knows."""
    geocoder = ctx.services.geocoder
    if geocoder is None or values.get("lat") is not None or location is None:
        return
    if location.kind not in GEOCODED_KINDS:
        return
    point = await geocoder.geocode_async(location.text)
    if point is not None:
        values["lat"], values["lon"] = point.lat, point.lon


async def place_and_find_original(item: WorkItem, ctx: StageContext, values: dict[str, Any]) -> None:
    """Before a new ticket is written: geocode its place, then find the open ticket it duplicates, if any, which
    it is written linked to (its status "duplicate"; the acknowledgement leaves that alone)."""
    await _geocode(ctx, values, item.location)
    settings = ctx.settings.dedupe
    category = values.get("category")
    if not settings.enabled or not category:
        return
    window = timedelta(days=settings.window_days)
    facts = _facts(SimpleNamespace(**values, id=None))
    near = (facts.point.lat, facts.point.lon) if facts.point is not None else None
    candidates = await list_open_tickets_of_category(
        session=ctx.db(),
        category=category,
        since=facts.created_at - window,
        near=near,
        radius_m=settings.distance_m,
        address_key=facts.address_key,
    )
    match = find_duplicate(
        facts,
        [_facts(t) for t in candidates],
        max_distance_m=settings.distance_m,
        window=window,
        min_text_similarity=settings.text_similarity,
    )
    if match is None:
        return
    original = next(t for t in candidates if t.id == match.ticket_id)
    values["status"], values["duplicate_of_id"] = TicketStatus.DUPLICATE, original.id
    item.duplicate_of = original.tracking_number
    item.duplicate_link = DuplicateLink(
        original.id, original.tracking_number, original.reporter_id, match.reason, match.distance_m, match.similarity
    )


async def record_link(item: WorkItem, ctx: StageContext, ticket: Ticket) -> None:
    """A new ticket written linked to the one it duplicates: both timelines say so, and its reporter hears of the
    original's changes."""
    link = item.duplicate_link
    if link is None or ticket.id is None:
        return
    session = ctx.db()
    evidence = {"reason": link.reason, "distance_m": link.distance_m, "similarity": link.similarity}
    await add_event(
        session=session,
        ticket_id=ticket.id,
        actor="rule:dedupe",
        action="duplicate-linked",
        data={"of": link.original_number, **{k: v for k, v in evidence.items() if v is not None}},
    )
    await add_event(
        session=session,
        ticket_id=link.original_id,
        actor="rule:dedupe",
        action="duplicate-reported",
        data={"from": ticket.tracking_number, "reason": link.reason},
    )
    if item.contact_id is not None and item.contact_id != link.original_reporter_id:
        await subscribe_to_ticket(
            session=session,
            ticket_id=link.original_id,
            contact_id=item.contact_id,
            reporter_id=link.original_reporter_id,
        )
    log.info(
        "raw=%d ticket %s linked to %s (%s)", item.raw_id, ticket.tracking_number, link.original_number, link.reason
    )


async def settle_duplicate(item: WorkItem, ctx: StageContext, ticket: Ticket) -> None:
    """After the acknowledgement: the public timeline of a linked report says it became a duplicate (its status is
    written with the link, by `place_and_find_original`)."""
    if item.duplicate_of is None or ticket.id is None:
        return
    await add_event(
        session=ctx.db(),
        ticket_id=ticket.id,
        actor="rule:dedupe",
        action="status-changed",
        data={"to": TicketStatus.DUPLICATE, "surviving_number": item.duplicate_of},
        public=True,
    )


def missing_field(item: WorkItem, ticket: Ticket) -> str | None:
    """The field worth a question: the place first (a crew cannot go without it), then the category."""
    if ticket.lat is None and not location_is_usable(item.location):
        return "location"
    if not ticket.category or ticket.category == UNCATEGORISED:
        return "category"
    return None


def question_text(field: str, language: str | None) -> str:
    return QUESTIONS.get((language or "en")[:2], QUESTIONS["en"])[field]


async def ask_when_it_matters(item: WorkItem, ctx: StageContext, ticket: Ticket) -> None:
    """Just before the acknowledgement goes out: the one question it should ask, if any."""
    if not ctx.settings.rules.ask_missing or item.duplicate_of is not None or ticket.id is None:
        return
    field = missing_field(item, ticket)
    if field is None:
        return
    if field in await questions_of_ticket(session=ctx.db(), ticket_id=ticket.id):
        return
    item.question = Question(field=field, text=question_text(field, ticket.language))
    await add_event(
        session=ctx.db(),
        ticket_id=ticket.id,
        actor="system",
        action=QUESTION_ASKED,
        data={"field": field, "question": item.question.text, "channel": str(item.channel)},
    )


async def thread_answer(item: WorkItem, ctx: StageContext) -> ThreadMatch | None:
    """SMS: a text from a reporter we asked a question is its answer, even after the conversation window closed."""
    parsed = item.parsed
    if parsed is None or not parsed.sender.startswith("+"):
        return None
    if len(parsed.body_new.split()) > ANSWER_MAX_WORDS:
        return None  # a long text is a report of its own, not "Clark and Belmont"
    since = datetime.now(UTC) - ANSWER_WINDOW
    ticket = await ticket_awaiting_answer(session=ctx.db(), phone=parsed.sender, since=since)
    if ticket is None or ticket.id is None:
        return None
    c = item.classification
    known = ticket.category not in (None, UNCATEGORISED)
    if known and c is not None and c.rule_hits and c.category != ticket.category:
        return None  # a rule says it is about something else: a new report
    return ThreadMatch(ticket_id=ticket.id, rule="question-answer")


def answer_location(item: WorkItem) -> Location | None:
    """The place in an answer to "where is it?": a bare "Clark and Belmont" counts, as the question asked for it."""
    if location_is_usable(item.location):
        return item.location
    parsed = item.parsed
    if parsed is None:
        return None
    answer = (parsed.body_new or "").strip().splitlines()
    if not answer:
        return None
    found = extract_locations("", f"at {answer[0].strip()}")
    return found[0] if found and location_is_usable(found[0]) else None


async def fill_from_answer(item: WorkItem, ctx: StageContext, ticket: Ticket) -> None:
    """A follow-up from the reporter while a question is open: what it says fills in the ticket."""
    parsed = item.parsed
    if parsed is None or ticket.id is None or item.contact_id is None or item.contact_id != ticket.reporter_id:
        return
    session = ctx.db()
    open_fields = [
        f for f, s in (await questions_of_ticket(session=session, ticket_id=ticket.id)).items() if s == "asked"
    ]
    answer = (parsed.body_new or parsed.body_text or "").strip()[:300]
    for field in open_fields:
        filled: dict[str, object] | None = None
        if field == "location":
            filled = await _fill_location(ctx, ticket, answer_location(item))
        elif field == "category":
            filled = await _fill_category(ctx, ticket, item)
        if filled is not None:
            await add_event(
                session=session,
                ticket_id=ticket.id,
                actor="resident",
                action=QUESTION_ANSWERED,
                data={"field": field, "answer": answer, **filled},
            )


async def _fill_location(ctx: StageContext, ticket: Ticket, location: Location | None) -> dict[str, object] | None:
    if location is None or ticket.id is None:
        return None
    fields: dict[str, Any] = place_columns(location)
    await _geocode(ctx, fields, location)
    await touch_ticket(session=ctx.db(), ticket_id=ticket.id, **fields)
    return {"address": location.text, "kind": location.kind, "lat": fields.get("lat"), "lon": fields.get("lon")}


async def _fill_category(ctx: StageContext, ticket: Ticket, item: WorkItem) -> dict[str, object] | None:
    c = item.classification
    if c is None or ticket.id is None or c.category == UNCATEGORISED or c.decided_by == "triage":
        return None
    await touch_ticket(
        session=ctx.db(),
        ticket_id=ticket.id,
        category=c.category,
        category_confidence=c.confidence,
        category_decided_by=c.decided_by,
        department=c.department,
        priority=c.priority,
    )
    return {"category": c.category, "decided_by": c.decided_by, "confidence": round(c.confidence, 4)}
