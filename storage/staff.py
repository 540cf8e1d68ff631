"""Queries on staff accounts: create, find, record login outcomes (lockout), read marks, and the site's secrets."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import conflict_insert
from storage.models import SiteSecret, StaffUser, TicketView, utcnow
from storage.roles import ROLES


class StaffExists(Exception):
    """An account with this email address exists already."""


async def create_staff_user(
    *, session: AsyncSession, email: str, password_hash: str, role: str, name: str | None = None
) -> StaffUser:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    email = email.strip().lower()
    if await get_staff_by_email(session=session, email=email) is not None:
        raise StaffExists(email)
    user = StaffUser(email=email, password_hash=password_hash, role=role, name=name)
    session.add(user)
    await session.flush()
    return user


async def get_staff_by_email(*, session: AsyncSession, email: str) -> StaffUser | None:
    found = await session.execute(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    return found.scalar_one_or_none()


async def get_staff(*, session: AsyncSession, staff_id: int) -> StaffUser | None:
    return await session.get(StaffUser, staff_id)


async def list_staff(*, session: AsyncSession, active_only: bool = True) -> list[StaffUser]:
    stmt = select(StaffUser).order_by(StaffUser.email)
    if active_only:
        stmt = stmt.where(StaffUser.active.is_(True))
    return list((await session.execute(stmt)).scalars())


async def set_staff_password(*, session: AsyncSession, staff_id: int, password_hash: str) -> None:
    await session.execute(
        update(StaffUser)
        .where(StaffUser.id == staff_id)
        .values(password_hash=password_hash, failed_logins=0, locked_until=None)
    )


async def set_staff_role(*, session: AsyncSession, staff_id: int, role: str, active: bool = True) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    await session.execute(update(StaffUser).where(StaffUser.id == staff_id).values(role=role, active=active))


async def record_login_failure(
    *, session: AsyncSession, staff_id: int, max_failures: int, lockout: timedelta, lockout_max: timedelta
) -> datetime | None:
    """Count a failed login; from the `max_failures`-th in a row on, lock the account (doubling). Returns the lock."""
    user = await session.get(StaffUser, staff_id, with_for_update=session.bind.dialect.name == "postgresql")
    if user is None:
        return None
    user.failed_logins += 1
    over = user.failed_logins - max_failures
    if over >= 0:
        user.locked_until = utcnow() + min(lockout * (2 ** min(over, 20)), lockout_max)
    return user.locked_until


async def record_login_success(*, session: AsyncSession, staff_id: int) -> None:
    await session.execute(update(StaffUser).where(StaffUser.id == staff_id).values(failed_logins=0, locked_until=None))


async def end_staff_sessions(*, session: AsyncSession, staff_id: int) -> None:
    """Every session cookie issued to this account so far stops working (logout)."""
    await session.execute(
        update(StaffUser).where(StaffUser.id == staff_id).values(session_epoch=StaffUser.session_epoch + 1)
    )


async def mark_ticket_seen(*, session: AsyncSession, staff_id: int, ticket_id: int) -> None:
    now = utcnow()
    await session.execute(
        conflict_insert(session.bind.dialect.name)(TicketView)
        .values(staff_id=staff_id, ticket_id=ticket_id, seen_at=now)
        .on_conflict_do_update(index_elements=["staff_id", "ticket_id"], set_={"seen_at": now})
    )


async def get_or_create_site_secret(*, session: AsyncSession, name: str) -> str:
    """A random secret made the first time any instance asks, then the same for everyone."""
    await session.execute(
        conflict_insert(session.bind.dialect.name)(SiteSecret)
        .values(name=name, value=secrets.token_urlsafe(48), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    found = await session.execute(select(SiteSecret.value).where(SiteSecret.name == name))
    return found.scalar_one()
