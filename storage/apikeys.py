"""API keys for the Open311 API: created once (the secret is shown then and never again), stored as a hash.

A key is 32 random bytes, so a plain SHA-256 is enough to make the stored value useless to a thief and still
lets a request's key be found with one indexed lookup (a slow password hash would need a scan per request).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ApiKey

KEY_PREFIX = "i311_"


class ApiKeyExists(Exception):
    """A key with this name exists already."""


@dataclass(frozen=True, slots=True)
class NewApiKey:
    id: int
    name: str
    secret: str  # shown to the operator once; only its hash is stored


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


async def create_api_key(*, session: AsyncSession, name: str) -> NewApiKey:
    found = await session.execute(select(ApiKey.id).where(ApiKey.name == name))
    if found.first() is not None:
        raise ApiKeyExists(name)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=hash_api_key(secret), active=True)
    session.add(row)
    await session.flush()
    assert row.id is not None
    return NewApiKey(id=row.id, name=name, secret=secret)


async def find_api_key(*, session: AsyncSession, secret: str) -> ApiKey | None:
    """The active key with this secret, or None (unknown, revoked, or empty)."""
    if not secret:
        return None
    found = await session.execute(
        select(ApiKey).where(ApiKey.key_hash == hash_api_key(secret), ApiKey.active.is_(True))
    )
    return found.scalar_one_or_none()


async def list_api_keys(*, session: AsyncSession) -> list[ApiKey]:
    return list((await session.execute(select(ApiKey).order_by(ApiKey.id))).scalars())


async def revoke_api_key(*, session: AsyncSession, name: str) -> bool:
    result = await session.execute(update(ApiKey).where(ApiKey.name == name).values(active=False))
    return result.rowcount == 1
