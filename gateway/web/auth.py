"""Staff authentication: argon2 password hashes, signed session cookies, CSRF tokens, and role checks.

The session cookie is signed, not encrypted; it holds the user id, a CSRF token, a fingerprint of the password
hash and the account's session epoch, so changing a password, deactivating the account or logging out ends every
session of that user, including copies of the cookie. Anonymous visitors of
the login page get a session too: the login form is CSRF-protected like every other form.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response

from gateway.signing import Signer, load_signer
from gateway.web.deps import WebContext, web_context
from storage.models import StaffUser
from storage.staff import get_staff

COOKIE = "inbox311_session"
PURPOSE = "staff-session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong address costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify_sync(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists; argon2 runs off the event loop."""
    return await asyncio.to_thread(_verify_sync, password_hash or _DUMMY_HASH, password) and password_hash is not None


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SessionData:
    csrf: str
    uid: int | None = None
    fp: str = ""
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Staff:
    """The signed-in staff member, as route handlers see them."""

    id: int
    email: str
    name: str | None
    role: str
    csrf: str

    @property
    def can_edit(self) -> bool:
        return self.role in ("admin", "agent")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        return f"staff:{self.email}"


async def get_signer(request: Request) -> Signer:
    """The site's signer, loaded once per app (from the config or the database)."""
    signer: Signer | None = getattr(request.app.state, "signer", None)
    if signer is None:
        ctx: WebContext = request.app.state.ctx
        async with ctx.db.write() as session:
            signer = await load_signer(session=session, settings=ctx.settings)
        request.app.state.signer = signer
    return signer


def read_session(request: Request, signer: Signer, ctx: WebContext) -> SessionData | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    data = signer.unsign(PURPOSE, token, max_age=ctx.settings.web.session_hours * 3600)
    if data is None or not isinstance(data.get("c"), str):
        return None
    uid, epoch = data.get("u"), data.get("e", 0)
    return SessionData(
        csrf=data["c"],
        uid=uid if isinstance(uid, int) else None,
        fp=str(data.get("f", "")),
        epoch=epoch if isinstance(epoch, int) else -1,
    )


def write_session(response: Response, signer: Signer, ctx: WebContext, session: SessionData) -> None:
    signed_in = {"u": session.uid, "f": session.fp, "e": session.epoch} if session.uid is not None else {}
    payload = {"c": session.csrf, **signed_in}
    web = ctx.settings.web
    secure = web.cookie_secure == "always" or (
        web.cookie_secure == "auto" and ctx.settings.http.public_base_url.startswith("https://")
    )
    response.set_cookie(
        COOKIE,
        signer.sign(PURPOSE, payload),
        max_age=int(web.session_hours * 3600),
        path="/",
        httponly=True,
        secure=secure,
        samesite="lax",
    )


def new_session(user: StaffUser | None = None) -> SessionData:
    if user is None:
        return SessionData(csrf=secrets.token_urlsafe(24))
    assert user.id is not None
    return SessionData(
        csrf=secrets.token_urlsafe(24),
        uid=user.id,
        fp=password_fingerprint(user.password_hash),
        epoch=user.session_epoch,
    )


def login_redirect(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(status_code=303, headers={"Location": f"/inbox/login?next={quote(target, safe='')}"})


async def require_staff(
    request: Request, ctx: WebContext = Depends(web_context), signer: Signer = Depends(get_signer)
) -> Staff:
    """The signed-in staff member; anyone else is sent to the login page. POSTs must carry the CSRF token."""
    session = read_session(request, signer, ctx)
    if session is None or session.uid is None:
        raise login_redirect(request)
    async with ctx.db.read() as db_session:
        user = await get_staff(session=db_session, staff_id=session.uid)
    if (
        user is None
        or not user.active
        or password_fingerprint(user.password_hash) != session.fp
        or user.session_epoch != session.epoch  # logged out since this cookie was made
    ):
        raise login_redirect(request)
    if request.method not in SAFE_METHODS:
        await check_csrf(request, session)
    assert user.id is not None
    return Staff(id=user.id, email=user.email, name=user.name, role=user.role, csrf=session.csrf)


async def check_csrf(request: Request, session: SessionData | None) -> None:
    """The token from the form field or the htmx header must equal the session's (synchronizer token pattern)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()  # Starlette caches the parsed form for the handler's own Form() parameters
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if session is None or not sent or not secrets.compare_digest(sent, session.csrf):
        raise HTTPException(status_code=403, detail="The form expired or did not come from this site; reload it.")


async def require_editor(staff: Staff = Depends(require_staff)) -> Staff:
    """Agents and admins; viewers may look but not change anything."""
    if not staff.can_edit:
        raise HTTPException(status_code=403, detail="Your role may view tickets but not change them.")
    return staff


async def require_admin(staff: Staff = Depends(require_staff)) -> Staff:
    if not staff.is_admin:
        raise HTTPException(status_code=403, detail="Only administrators may do this.")
    return staff
