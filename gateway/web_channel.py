"""The web form channel in the pipeline: how a stored `/report` submission is read, which category and location
the resident stated, and how the ticket is acknowledged (email, or a text when only a phone number was given).
`register_web_channel()` plugs these into the stages' channel hooks; registering twice changes nothing.
"""

from __future__ import annotations

from gateway.ack_events import record_answer_queued
from gateway.outbox.compose import compose_email_reply
from gateway.outbox.sms_compose import compose_sms
from gateway.pipeline import Reject, Services, StageContext, WorkItem
from parsers.types import Channel, Classification, ParsedMessage
from parsers.webform import WebFormParseError, extra_value, parse_web_report, stated_locations
from rules.routing import route_category
from storage.models import Ticket
from storage.outbox import enqueue_outbox

DECIDED_BY = "resident-choice"  # shown to staff: the category was picked on the form, not found by a rule


def register_web_channel() -> None:
    # Imported here: `gateway.stages` calls this while it is being imported itself.
    from gateway.stages.classify import PRESET_CLASSIFIERS
    from gateway.stages.extract import STATED_LOCATIONS
    from gateway.stages.notify import ACKNOWLEDGERS
    from gateway.stages.parse import register_parser

    register_parser(Channel.WEB, parse_stored_report)
    PRESET_CLASSIFIERS[Channel.WEB] = classify_chosen_category
    STATED_LOCATIONS[Channel.WEB] = stated_locations
    ACKNOWLEDGERS[Channel.WEB] = acknowledge_web


def parse_stored_report(raw: bytes) -> ParsedMessage:
    try:
        return parse_web_report(raw)
    except WebFormParseError as exc:
        raise Reject("parse-web-form", str(exc)) from exc


def classify_chosen_category(parsed: ParsedMessage, services: Services) -> Classification | None:
    """The category the resident picked, routed like any other; none picked (or unknown): the rules decide."""
    from gateway.open311.services import load_catalog  # the rules file's categories, loaded once per process

    chosen = extra_value(parsed, "category")
    if not chosen:
        return None
    ruleset = load_catalog(services.settings.rules.file).ruleset
    if chosen not in ruleset.categories:
        return None
    route = route_category(ruleset, chosen)
    return Classification(
        category=chosen,
        confidence=1.0,
        decided_by=DECIDED_BY,
        department=route.department,
        priority=route.priority,
        rule_hits=(DECIDED_BY,),
    )


async def acknowledge_web(item: WorkItem, ctx: StageContext, ticket: Ticket, kind: str) -> None:
    """The form showed the tracking number already; the reporter also gets it by email or text to keep."""
    parsed = item.parsed
    assert parsed is not None and ticket.id is not None
    templates = ctx.services.templates
    assert templates is not None
    session = ctx.db()
    language = ticket.language or parsed.language
    if parsed.sender.startswith("+"):
        channel = "sms"
        message_id = None
        payload = compose_sms(
            settings=ctx.settings,
            templates=templates,
            kind=kind,
            language=language,
            ticket=ticket,
            max_segments=ctx.settings.twilio.ack_max_segments,
            **item.answer_context(),
        )
    else:
        channel = "email"
        message_id, payload = compose_email_reply(
            settings=ctx.settings,
            templates=templates,
            ticket=ticket,
            kind=kind,
            to=parsed.sender,
            parsed=None,
            language=language,
            **item.answer_context(),
        )
        payload["subject"] = f"Your report {ticket.tracking_number}: {ticket.summary}"[:250]  # not a reply to mail
    row = await enqueue_outbox(
        session=session,
        ticket_id=ticket.id,
        channel=channel,
        kind=kind,
        recipient=parsed.sender,
        message_id=message_id,
        payload=payload,
    )
    await record_answer_queued(session=session, ticket=ticket, kind=kind, outbox_id=row.id, channel=channel)
