"""Plugs the Open311 channel into the pipeline's hooks: how its raw rows parse, classify, locate and are answered,
and what every new ticket owes an upstream Open311 system.

Importing this module registers the hooks (the web route and the upstream sender import it).
"""

from __future__ import annotations

from gateway.ack_events import record_answer_queued
from gateway.open311.forward import enqueue_forward
from gateway.open311.inbound import extra_value, parse_open311, stated_locations
from gateway.open311.services import load_catalog
from gateway.outbox.compose import compose_email_reply
from gateway.pipeline import Services, StageContext, WorkItem
from gateway.stages.classify import PRESET_CLASSIFIERS
from gateway.stages.extract import STATED_LOCATIONS
from gateway.stages.notify import ACKNOWLEDGERS, ON_TICKET_CREATED
from gateway.stages.parse import register_parser
from parsers.types import Channel, Classification, ParsedMessage
from storage.models import Ticket
from storage.outbox import enqueue_outbox


def classify_by_service_code(parsed: ParsedMessage, services: Services) -> Classification | None:
    """The client chose the service; a code the rules file no longer has falls back to the classifier."""
    code = extra_value(parsed, "service_code")
    if not code:
        return None
    return load_catalog(services.settings.rules.file).classification(code)


async def acknowledge_open311(item: WorkItem, ctx: StageContext, ticket: Ticket, kind: str) -> None:
    """The API client has its answer already; a reporter who left an email address also gets the usual email."""
    parsed = item.parsed
    assert parsed is not None and ticket.id is not None
    session = ctx.db()
    outbox_id = None
    if "@" in parsed.sender and ctx.services.templates is not None:
        message_id, payload = compose_email_reply(
            settings=ctx.settings, templates=ctx.services.templates, ticket=ticket, kind=kind, to=parsed.sender,
            parsed=None, language=ticket.language, reopened=item.followup_reopened,
        )  # fmt: skip
        payload["subject"] = f"Your report {ticket.tracking_number}: {ticket.summary}"[:250]  # not a reply to mail
        row = await enqueue_outbox(session=session, ticket_id=ticket.id, channel="email", kind=kind,
                                   recipient=parsed.sender, message_id=message_id, payload=payload)  # fmt: skip
        outbox_id = row.id
    if kind == "ack" or outbox_id is not None:
        await record_answer_queued(session=session, ticket=ticket, kind=kind, outbox_id=outbox_id,
                                   channel="open311")  # fmt: skip


def register() -> None:
    """Idempotent: the registries are module-level, so registering twice must change nothing."""
    register_parser(Channel.OPEN311, parse_open311)
    PRESET_CLASSIFIERS[Channel.OPEN311] = classify_by_service_code
    STATED_LOCATIONS[Channel.OPEN311] = stated_locations
    ACKNOWLEDGERS[Channel.OPEN311] = acknowledge_open311
    if enqueue_forward not in ON_TICKET_CREATED:
        ON_TICKET_CREATED.append(enqueue_forward)


register()
