"""Applies a status the upstream reported through the staff service, so the resident hears of it like any change.

`gateway.staff.actions.apply_status` sets the status, writes the public `status-changed` event and queues the
`status-<status>` notification to the reporter and subscribers, all in the mirror's transaction. The actor in the
audit log is the upstream system, not a staff member.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.open311.mirror import StatusChanger
from gateway.pipeline import Services
from gateway.signing import load_signer
from gateway.staff.actions import Actor, StaffContext, apply_status, lock_ticket
from storage.db import Database
from storage.open311 import ForwardedTicket


class SystemActor(Actor):
    """A system acting on tickets; named as itself in the audit log (staff actors are `staff:<email>`)."""

    @property
    def name(self) -> str:
        return self.email


def staff_status_changer(db: Database, services: Services) -> StatusChanger:
    async def change(session: AsyncSession, ticket: ForwardedTicket, status: str, note: str | None, actor: str) -> bool:
        current = await lock_ticket(session, ticket.id)
        if current.status != ticket.status:
            return False  # changed here since the mirror read it: that newer decision stands
        signer = await load_signer(session=session, settings=services.settings)
        staff = StaffContext(db=db, services=services, signer=signer)
        return await apply_status(session, staff, SystemActor(id=0, email=actor), current, status, note or "")

    return change
