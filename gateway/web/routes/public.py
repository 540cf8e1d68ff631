"""Public pages: the tracking page residents reach from their acknowledgement. No personal data, ever."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gateway.web.deps import WebContext, web_context
from gateway.web.timeline import public_timeline
from storage.tickets import get_ticket_by_number, list_public_events

router = APIRouter()

STATUS_LABELS = {
    "new": "Received",
    "acknowledged": "Received",
    "in_progress": "In progress",
    "resolved": "Resolved",
    "closed": "Closed",
    "duplicate": "Merged with an earlier report",
    "rejected": "Not accepted",
}


def _not_found(ctx: WebContext, request: Request) -> HTMLResponse:
    # One answer for a wrong token and an unknown number: the page must not reveal which numbers exist.
    return ctx.templates.TemplateResponse(request, "track_missing.html", {}, status_code=404)


@router.get("/track/{tracking_number}", response_class=HTMLResponse)
async def track(
    tracking_number: str, request: Request, t: str = "", ctx: WebContext = Depends(web_context)
) -> HTMLResponse:
    async with ctx.db.read() as session:
        ticket = await get_ticket_by_number(session=session, tracking_number=tracking_number[:32])
        if ticket is None or not t or not hmac.compare_digest(ticket.public_token, t):
            return _not_found(ctx, request)
        events = await list_public_events(session=session, ticket_id=ticket.id)
    view = {
        "tracking_number": ticket.tracking_number,
        "status": STATUS_LABELS.get(ticket.status, ticket.status),
        "category": (ticket.category or "Being reviewed").replace("_", " "),
        "summary": ticket.summary,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "area": _rough_area(ticket.address),
        "timeline": public_timeline(events),
        "token": t,
        "subscribe": request.query_params.get("subscribe", ""),
    }
    response = ctx.templates.TemplateResponse(request, "track.html", {"t": view})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


def _rough_area(address: str | None) -> str | None:
    """The street without the house number: enough to recognise, not enough to find a door."""
    if not address:
        return None
    words = address.split()
    if words and words[0].rstrip(",").isdigit():
        words = words[1:]
    return " ".join(words) or None
