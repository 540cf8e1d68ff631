"""Who hears about a ticket besides its reporter: email subscriptions from the tracking page (double opt-in), and
contacts that subscribed on another channel (recorded as "subscribed" events, e.g. by text)."""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Contact, Event, Subscription, utcnow


async def request_subscription(
    *, session: AsyncSession, ticket_id: int, email: str, language: str | None
) -> Subscription | None:
    """A pending subscription (new, or the existing unconfirmed one); None when it is already confirmed."""
    email = email.strip().lower()
    found = await session.execute(
        select(Subscription).where(Subscription.ticket_id == ticket_id, Subscription.email == email)
    )
    row = found.scalar_one_or_none()
    if row is not None:
        if row.confirmed_at is not None and row.unsubscribed_at is None:
            return None
        row.token = secrets.token_urlsafe(24)  # a fresh link; the old one stops working
        row.confirmed_at = None
        row.unsubscribed_at = None
        row.language = language
        return row
    row = Subscription(ticket_id=ticket_id, email=email, language=language, token=secrets.token_urlsafe(24))
    session.add(row)
    await session.flush()
    return row


async def get_subscription_by_token(*, session: AsyncSession, token: str) -> Subscription | None:
    found = await session.execute(select(Subscription).where(Subscription.token == token))
    return found.scalar_one_or_none()


async def get_subscription(*, session: AsyncSession, subscription_id: int) -> Subscription | None:
    return await session.get(Subscription, subscription_id)


async def confirm_subscription(*, session: AsyncSession, subscription: Subscription) -> None:
    subscription.confirmed_at = utcnow()
    subscription.unsubscribed_at = None


async def end_subscription(*, session: AsyncSession, subscription_id: int) -> None:
    await session.execute(
        update(Subscription).where(Subscription.id == subscription_id).values(unsubscribed_at=utcnow())
    )


async def confirmed_subscriptions(*, session: AsyncSession, ticket_ids: list[int]) -> list[Subscription]:
    found = await session.execute(
        select(Subscription)
        .where(
            Subscription.ticket_id.in_(ticket_ids),
            Subscription.confirmed_at.is_not(None),
            Subscription.unsubscribed_at.is_(None),
        )
        .order_by(Subscription.id)
    )
    return list(found.scalars())


async def subscribed_contacts(*, session: AsyncSession, ticket_id: int) -> list[Contact]:
    """Contacts with a "subscribed" event on the ticket (actor `contact:<id>`)."""
    actors = await session.execute(
        select(Event.actor).where(Event.ticket_id == ticket_id, Event.action == "subscribed").distinct()
    )
    ids = [int(a.partition(":")[2]) for a in actors.scalars() if a.startswith("contact:") and a[8:].isdigit()]
    if not ids:
        return []
    found = await session.execute(select(Contact).where(Contact.id.in_(ids)).order_by(Contact.id))
    return list(found.scalars())


async def opt_out_contact(*, session: AsyncSession, contact_id: int) -> bool:
    result = await session.execute(
        update(Contact).where(Contact.id == contact_id).values(opted_out=True, updated_at=utcnow())
    )
    return result.rowcount == 1
