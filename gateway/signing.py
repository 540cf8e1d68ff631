"""Signed, tamper-proof tokens (session cookies, unsubscribe links): HMAC-SHA256 over a purpose and a JSON payload.

The purpose is part of what is signed, so a token made for one use (an unsubscribe link) is worthless for another
(a session cookie) even under the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.settings import Settings
from storage.staff import get_or_create_site_secret

SITE_KEY_NAME = "web-signing-key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a signing key needs at least 16 bytes")
        self._key = key

    def _mac(self, purpose: str, body: str) -> str:
        digest = hmac.new(self._key, f"{purpose}\x00{body}".encode(), hashlib.sha256).digest()
        return _b64(digest[:24])

    def sign(self, purpose: str, payload: dict[str, Any], *, now: float | None = None) -> str:
        data = {"t": int(now if now is not None else time.time()), **payload}
        body = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def unsign(
        self, purpose: str, token: str, *, max_age: float | None = None, now: float | None = None
    ) -> dict[str, Any] | None:
        """The payload of a valid token for `purpose` not older than `max_age` seconds; None for anything else."""
        body, _, mac = token.partition(".")
        if not body or not mac or len(token) > 4096:
            return None
        if not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            data = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("t"), int):
            return None
        if max_age is not None and (now if now is not None else time.time()) - data["t"] > max_age:
            return None
        return data


async def load_signer(*, session: AsyncSession, settings: Settings) -> Signer:
    """The configured key, or the one kept in the database (made on first use, shared by all instances)."""
    secret = settings.web.secret_key or await get_or_create_site_secret(session=session, name=SITE_KEY_NAME)
    return Signer(hashlib.sha256(secret.encode()).digest())
