"""Queue what a resident is owed after a staff action, on the channel their contact is (email or text), in the
caller's transaction: rendered from the per-kind templates in their language, threaded on their last email, and
with a one-click unsubscribe (RFC 8058) on automatic notifications. Opted-out and bounced contacts get nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.outbox.compose import compose_email_reply
from gateway.outbox.sms_compose import compose_sms
from gateway.pipeline import Services
from gateway.signing import Signer
from parsers.types import Channel, ParsedMessage
from storage.conversation import latest_inbound_email
from storage.models import Contact, Outbox, Subscription, Ticket
from storage.outbox import enqueue_outbox
from storage.subscriptions import confirmed_subscriptions, subscribed_contacts
from storage.tickets import add_event, add_message, get_contact

log = logging.getLogger(__name__)

UNSUBSCRIBE = "unsubscribe"
SMS_REPLY_SEGMENTS = 6  # a staff reply by text may run longer than an automatic one


@dataclass(frozen=True, slots=True)
class Recipient:
    channel: str  # "email" | "sms"
    address: str
    language: str | None
    contact: Contact | None = None
    subscription: Subscription | None = None


def recipient_for(contact: Contact, language: str | None) -> Recipient:
    channel = "sms" if contact.kind == "phone" else "email"
    return Recipient(channel=channel, address=contact.address, language=contact.language or language, contact=contact)


def suppression(recipient: Recipient) -> str | None:
    contact = recipient.contact
    if contact is not None and contact.opted_out:
        return "opted-out"
    if contact is not None and contact.bounced:
        return "bounced"
    return None


def unsubscribe_url(services: Services, signer: Signer, recipient: Recipient) -> str | None:
    """A link that stops these messages: for a subscription, that subscription; for a contact, all automatic mail."""
    base = services.settings.http.public_base_url
    if recipient.subscription is not None and recipient.subscription.id is not None:
        return f"{base}/unsubscribe/{signer.sign(UNSUBSCRIBE, {'s': recipient.subscription.id})}"
    if recipient.contact is not None and recipient.contact.id is not None:
        return f"{base}/unsubscribe/{signer.sign(UNSUBSCRIBE, {'c': recipient.contact.id})}"
    return None


async def ticket_audience(*, session: AsyncSession, ticket: Ticket) -> list[Recipient]:
    """The reporter, confirmed email subscribers, and contacts subscribed by other channels; each address once."""
    audience: list[Recipient] = []
    if ticket.reporter_id is not None:
        reporter = await get_contact(session=session, contact_id=ticket.reporter_id)
        if reporter is not None:
            audience.append(recipient_for(reporter, ticket.language))
    assert ticket.id is not None
    for contact in await subscribed_contacts(session=session, ticket_id=ticket.id):
        audience.append(recipient_for(contact, ticket.language))
    for sub in await confirmed_subscriptions(session=session, ticket_ids=[ticket.id]):
        audience.append(Recipient(channel="email", address=sub.email, language=sub.language, subscription=sub))
    seen: set[tuple[str, str]] = set()
    unique = []
    for r in audience:
        if (r.channel, r.address) not in seen:
            seen.add((r.channel, r.address))
            unique.append(r)
    return unique


async def _threading(session: AsyncSession, ticket: Ticket, recipient: Recipient) -> ParsedMessage | None:
    """The recipient's last email on the ticket, as the message our mail answers (In-Reply-To, References, Re:)."""
    if recipient.contact is None or recipient.contact.id is None or ticket.id is None:
        return None
    last = await latest_inbound_email(session=session, ticket_id=ticket.id, contact_id=recipient.contact.id)
    if last is None or not last.external_id:
        return None
    refs = (last.in_reply_to,) if last.in_reply_to else ()
    return ParsedMessage(
        channel=Channel.EMAIL,
        sender=recipient.address,
        subject=last.subject,
        message_id=last.external_id,
        references=refs,
    )


async def enqueue_notice(
    *,
    session: AsyncSession,
    services: Services,
    signer: Signer,
    ticket: Ticket,
    recipient: Recipient,
    kind: str,
    actor: str,
    staff_id: int | None = None,
    automatic: bool = True,
    **context: Any,
) -> Outbox | None:
    """Render `<channel>/<kind>` for `recipient` and queue it; also recorded as an outbound message on the ticket.

    None (and a `notification-suppressed` event) when the recipient must not be written to.
    """
    assert ticket.id is not None
    reason = suppression(recipient)
    if reason is not None:
        await add_event(
            session=session,
            ticket_id=ticket.id,
            actor=actor,
            action="notification-suppressed",
            data={"kind": kind, "reason": reason, "channel": recipient.channel},
        )
        return None
    settings = services.settings
    templates = services.templates
    assert templates is not None
    unsubscribe = unsubscribe_url(services, signer, recipient) if automatic else None
    message_id: str | None = None
    if recipient.channel == "email":
        thread_on = await _threading(session, ticket, recipient)
        message_id, payload = compose_email_reply(
            settings=settings,
            templates=templates,
            ticket=ticket,
            kind=kind,
            to=recipient.address,
            parsed=thread_on,
            language=recipient.language,
            unsubscribe_url=unsubscribe,
            **context,
        )
        headers = payload["headers"]
        if automatic:
            headers["Auto-Submitted"] = "auto-generated"  # RFC 3834: a notification, not an answer to a message
            if unsubscribe:
                headers["List-Unsubscribe"] = f"<{unsubscribe}>"
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
        else:
            headers.pop("Auto-Submitted", None)  # written by a person: out-of-office replies are welcome
        text, subject = payload["text"], payload["subject"]
    else:
        payload = compose_sms(
            settings=settings,
            templates=templates,
            kind=kind,
            language=recipient.language,
            ticket=ticket,
            max_segments=settings.twilio.ack_max_segments if automatic else SMS_REPLY_SEGMENTS,
            **context,
        )
        text, subject = payload["body"], ""
    row = await enqueue_outbox(
        session=session,
        ticket_id=ticket.id,
        channel=recipient.channel,
        kind=kind,
        recipient=recipient.address,
        message_id=message_id,
        payload=payload,
    )
    await add_message(
        session=session,
        ticket_id=ticket.id,
        direction="out",
        channel=recipient.channel,
        contact_id=recipient.contact.id if recipient.contact else None,
        external_id=message_id,
        subject=subject[:1000],
        body=text,
        body_full=text,
        kind="notification" if automatic else "reply",
        outbox_id=row.id,
        staff_id=staff_id,
    )
    return row
