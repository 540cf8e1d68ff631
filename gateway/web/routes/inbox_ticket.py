"""The staff ticket page and its actions: reply, internal note, status, assignment, category/department/priority,
merge, split, canned replies, and attachments (photos as re-encoded thumbnails).

Mail bodies are shown as text, or as sanitised HTML inside a sandboxed frame with its own deny-all policy: nothing a
sender wrote can run or fetch anything.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from PIL import Image

from gateway.signing import Signer
from gateway.staff.actions import PRIORITIES, ActionError, add_note, assign, change_status, mark_seen, reply, set_fields
from gateway.staff.canned import list_canned, render_canned
from gateway.staff.merge import merge, split, unlink
from gateway.web.auth import Staff, get_signer, require_editor, require_staff
from gateway.web.deps import WebContext, web_context
from gateway.web.routes.inbox import actor_of, staff_context
from gateway.web.views import STATUS_LABELS, render
from parsers.body import sanitize_html
from storage.conversation import get_attachment_data, load_ticket_page
from storage.staff import list_staff

router = APIRouter()

INLINE_IMAGES = ("image/jpeg", "image/png", "image/gif", "image/webp")
THUMB_SIZE = (320, 320)
# The sanitised HTML is shown in <iframe sandbox srcdoc>; this policy inside it forbids every fetch and script.
FRAME_POLICY = (
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    "<style>body{font-family:system-ui,sans-serif;font-size:15px;margin:.5rem;color:#1b1b1b}</style>"
)
NOTICES = {
    "replied": "Reply queued; the resident will get it in a moment.",
    "noted": "Internal note added.",
    "status": "Status changed; the resident is being told.",
    "status-same": "The ticket already had that status.",
    "assigned": "Assignment changed.",
    "fields": "Details changed.",
    "merged": "Merged.",
    "unlinked": "Unlinked: this is a ticket of its own again.",
    "split": "Message split out into a new ticket.",
}


async def ticket_page(
    ctx: WebContext,
    request: Request,
    staff: Staff,
    ticket_id: int,
    *,
    error: str = "",
    notice: str = "",
    reply_text: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    async with ctx.db.read() as session:
        page = await load_ticket_page(session=session, ticket_id=ticket_id)
        people = await list_staff(session=session)
    if page is None:
        raise HTTPException(status_code=404, detail="No such ticket.")
    frames = {
        e.message.id: FRAME_POLICY + sanitize_html(e.message.body_html)
        for e in page.conversation
        if e.message.body_html and e.message.direction == "in"
    }
    return render(
        ctx,
        request,
        "inbox/ticket.html",
        staff,
        status_code=status_code,
        p=page,
        t=page.ticket,
        frames=frames,
        people=people,
        statuses=STATUS_LABELS,
        priorities=PRIORITIES,
        canned=list_canned(ctx.services.templates) if ctx.services.templates else [],
        inline_images=INLINE_IMAGES,
        error=error,
        notice=NOTICES.get(notice, ""),
        reply_text=reply_text,
    )


@router.get("/inbox/tickets/{ticket_id}", response_class=HTMLResponse)
async def show_ticket(
    ticket_id: int,
    request: Request,
    canned: str = "",
    done: str = "",
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_staff),
    signer: Signer = Depends(get_signer),
) -> HTMLResponse:
    reply_text = ""
    if canned and ctx.services.templates is not None:
        async with ctx.db.read() as session:
            page = await load_ticket_page(session=session, ticket_id=ticket_id)
        if page is not None:
            reply_text = (
                render_canned(
                    ctx.services.templates,
                    canned,
                    settings=ctx.settings,
                    ticket=page.ticket,
                    reporter=page.reporter,
                    staff_name=staff.name or "",
                )
                or ""
            )
    response = await ticket_page(ctx, request, staff, ticket_id, notice=done, reply_text=reply_text)
    await mark_seen(staff_context(ctx, signer), actor_of(staff), ticket_id)
    return response


def _done(ticket_id: int, what: str) -> RedirectResponse:
    return RedirectResponse(f"/inbox/tickets/{ticket_id}?done={what}", status_code=303)


@router.post("/inbox/tickets/{ticket_id}/reply", response_model=None)
async def post_reply(
    ticket_id: int,
    request: Request,
    body: str = Form("", max_length=20_000),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_editor),
    signer: Signer = Depends(get_signer),
) -> Response:
    try:
        await reply(staff_context(ctx, signer), actor_of(staff), ticket_id, body)
    except ActionError as exc:
        return await ticket_page(ctx, request, staff, ticket_id, error=str(exc), reply_text=body, status_code=400)
    return _done(ticket_id, "replied")


@router.post("/inbox/tickets/{ticket_id}/note", response_model=None)
async def post_note(
    ticket_id: int,
    request: Request,
    body: str = Form("", max_length=20_000),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_editor),
    signer: Signer = Depends(get_signer),
) -> Response:
    try:
        await add_note(staff_context(ctx, signer), actor_of(staff), ticket_id, body)
    except ActionError as exc:
        return await ticket_page(ctx, request, staff, ticket_id, error=str(exc), status_code=400)
    return _done(ticket_id, "noted")


@router.post("/inbox/tickets/{ticket_id}/status", response_model=None)
async def post_status(
    ticket_id: int,
    request: Request,
    status: str = Form(...),
    public_note: str = Form("", max_length=1000),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_editor),
    signer: Signer = Depends(get_signer),
) -> Response:
    try:
        changed = await change_status(staff_context(ctx, signer), actor_of(staff), [ticket_id], status, public_note)
    except ActionError as exc:
        return await ticket_page(ctx, request, staff, ticket_id, error=str(exc), status_code=400)
    return _done(ticket_id, "status" if changed else "status-same")


@router.post("/inbox/tickets/{ticket_id}/assign", response_model=None)
async def post_assign(
    ticket_id: int,
    request: Request,
    assignee: str = Form(""),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_editor),
    signer: Signer = Depends(get_signer),
) -> Response:
    target = staff.id if assignee == "me" else int(assignee) if assignee.isdigit() else None
    try:
        await assign(staff_context(ctx, signer), actor_of(staff), [ticket_id], target)
    except ActionError as exc:
        return await ticket_page(ctx, request, staff, ticket_id, error=str(exc), status_code=400)
    return _done(ticket_id, "assigned")


@router.post("/inbox/tickets/{ticket_id}/fields", response_model=None)
async def post_fields(
    ticket_id: int,
    request: Request,
    category: str = Form("", max_length=64),
    department: str = Form("", max_length=64),
    priority: str = Form(""),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_editor),
    signer: Signer = Depends(get_signer),
) -> Response:
    try:
        await set_fields(
            staff_context(ctx, signer),
            actor_of(staff),
            [ticket_id],
            category=category,
            department=department,
            priority=priority or None,
        )
    except ActionError as exc:
        return await ticket_page(ctx, request, staff, ticket_id, error=str(exc), status_code=400)
    return _done(ticket_id, "fields")


@router.post("/inbox/tickets/{ticket_id}/merge", response_model=None)
async def post_merge(
    ticket_id: int,
    request: Request,
    into: str = Form(..., max_length=32),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_editor),
    signer: Signer = Depends(get_signer),
) -> Response:
    try:
        await merge(staff_context(ctx, signer), actor_of(staff), ticket_id, into)
    except ActionError as exc:
        return await ticket_page(ctx, request, staff, ticket_id, error=str(exc), status_code=400)
    return _done(ticket_id, "merged")


@router.post("/inbox/tickets/{ticket_id}/unlink", response_model=None)
async def post_unlink(
    ticket_id: int,
    request: Request,
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_editor),
    signer: Signer = Depends(get_signer),
) -> Response:
    try:
        await unlink(staff_context(ctx, signer), actor_of(staff), ticket_id)
    except ActionError as exc:
        return await ticket_page(ctx, request, staff, ticket_id, error=str(exc), status_code=400)
    return _done(ticket_id, "unlinked")


@router.post("/inbox/messages/{message_id}/split", response_model=None)
async def post_split(
    message_id: int,
    request: Request,
    ticket_id: int = Form(...),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_editor),
    signer: Signer = Depends(get_signer),
) -> Response:
    try:
        number = await split(staff_context(ctx, signer), actor_of(staff), message_id)
    except ActionError as exc:
        return await ticket_page(ctx, request, staff, ticket_id, error=str(exc), status_code=400)
    return RedirectResponse(f"/inbox/find?number={number}&done=split", status_code=303)


@router.get("/inbox/attachments/{attachment_id}")
async def attachment(
    attachment_id: int,
    thumb: bool = False,
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_staff),
) -> Response:
    async with ctx.db.read() as session:
        found = await get_attachment_data(session=session, attachment_id=attachment_id)
    if found is None:
        raise HTTPException(status_code=404)
    att, data = found
    headers = {
        "Cache-Control": "private, max-age=3600",
        # Whatever the file really is, it may not run script or load anything in our origin.
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
    }
    if att.content_type in INLINE_IMAGES:
        if thumb:
            small = await asyncio.to_thread(_thumbnail, data)
            if small is not None:
                return Response(small, media_type="image/png", headers=headers)
        return Response(data, media_type=att.content_type, headers=headers)
    headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(att.filename, safe='')}"
    return Response(data, media_type="application/octet-stream", headers=headers)


def _thumbnail(data: bytes) -> bytes | None:
    """A small PNG re-encoded from the pixels: only image data reaches the browser, never the sender's bytes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.thumbnail(THUMB_SIZE)
                out = io.BytesIO()
                image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(out, format="PNG")
                return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None
