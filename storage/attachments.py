"""Attachment storage: bytes content-addressed (stored once however often they arrive), metadata per message."""

from __future__ import annotations

import hashlib

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import conflict_insert
from storage.models import Attachment, Blob


async def store_attachment(
    *,
    session: AsyncSession,
    message_id: int,
    filename: str,
    content_type: str,
    data: bytes,
    lat: float | None = None,
    lon: float | None = None,
) -> Attachment:
    digest = hashlib.sha256(data).hexdigest()
    insert = conflict_insert(session.bind.dialect.name)
    await session.execute(
        insert(Blob).values(sha256=digest, data=data, size=len(data)).on_conflict_do_nothing(index_elements=["sha256"])
    )
    attachment = Attachment(
        message_id=message_id,
        filename=filename,
        content_type=content_type,
        size=len(data),
        sha256=digest,
        lat=lat,
        lon=lon,
    )
    session.add(attachment)
    return attachment
