"""What residents do from the public pages besides reporting: subscribe an address to a report's updates (double
opt-in: nothing is sent to it but the confirmation until its owner confirms) and unsubscribe with one click.

Each call is one write transaction holding the change, its Event and any Outbox row.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from gateway.outbox.compose import compose_email_reply
from gateway.pipeline import Services
from gateway.redact import redact
from gateway.signing import Signer
from gateway.staff.notifications import UNSUBSCRIBE
from storage.db import Database
from storage.outbox import enqueue_outbox
from storage.subscriptions import (
    confirm_subscription,
    end_subscription,
    get_subscription,
    get_subscription_by_token,
    opt_out_contact,
    request_subscription,
)
from storage.tickets import add_event, get_ticket, get_ticket_by_number


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    queued: bool  # a confirmation email is on its way
    already: bool = False  # the address was subscribed and confirmed before


async def subscribe(
    *,
    db: Database,
    services: Services,
    tracking_number: str,
    public_token: str,
    email: str,
    language: str | None,
) -> SubscribeResult | None:
    """Ask `email` to confirm it wants the report's updates; None when the number and token do not match."""
    async with db.write() as session:
        ticket = await get_ticket_by_number(session=session, tracking_number=tracking_number)
        if ticket is None or ticket.id is None or not hmac.compare_digest(ticket.public_token, public_token):
            return None
        row = await request_subscription(session=session, ticket_id=ticket.id, email=email, language=language)
        if row is None:
            return SubscribeResult(queued=False, already=True)
        assert services.templates is not None
        confirm_url = f"{services.settings.http.public_base_url}/subscribe/confirm/{row.token}"
        message_id, payload = compose_email_reply(
            settings=services.settings,
            templates=services.templates,
            ticket=ticket,
            kind="subscribe-confirm",
            to=row.email,
            parsed=None,
            language=language,
            confirm_url=confirm_url,
        )
        payload["headers"]["Auto-Submitted"] = "auto-generated"
        outbox = await enqueue_outbox(
            session=session,
            ticket_id=ticket.id,
            channel="email",
            kind="subscribe-confirm",
            recipient=row.email,
            message_id=message_id,
            payload=payload,
        )
        await add_event(
            session=session,
            ticket_id=ticket.id,
            actor="resident",
            action="subscription-requested",
            data={"subscription_id": row.id, "to": redact(row.email), "outbox_id": outbox.id},
        )
        return SubscribeResult(queued=True)


async def confirm(*, db: Database, token: str) -> str | None:
    """Confirm the subscription with this token; its ticket's tracking number, or None for an unknown token."""
    async with db.write() as session:
        row = await get_subscription_by_token(session=session, token=token)
        if row is None:
            return None
        ticket = await get_ticket(session=session, ticket_id=row.ticket_id)
        assert ticket is not None
        if row.confirmed_at is None or row.unsubscribed_at is not None:
            await confirm_subscription(session=session, subscription=row)
            await add_event(
                session=session,
                ticket_id=row.ticket_id,
                actor="resident",
                action="subscription-confirmed",
                data={"subscription_id": row.id, "to": redact(row.email)},
            )
        return ticket.tracking_number


async def unsubscribe(*, db: Database, signer: Signer, token: str) -> bool:
    """Carry out an unsubscribe link: end that subscription, or opt the contact out of automatic messages."""
    data = signer.unsign(UNSUBSCRIBE, token)
    if data is None:
        return False
    async with db.write() as session:
        if isinstance(data.get("s"), int):
            row = await get_subscription(session=session, subscription_id=data["s"])
            if row is None or row.id is None:
                return False
            await end_subscription(session=session, subscription_id=row.id)
            await add_event(
                session=session,
                ticket_id=row.ticket_id,
                actor="resident",
                action="unsubscribed",
                data={"subscription_id": row.id},
            )
            return True
        if isinstance(data.get("c"), int):
            return await opt_out_contact(session=session, contact_id=data["c"])
    return False
