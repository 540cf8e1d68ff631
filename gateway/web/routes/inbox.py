"""The staff inbox list: views, filters, search, keyset paging, and bulk actions (assign, status, category).

Every page is plain HTML that works without JavaScript; htmx (when it loads) swaps the list in place as filters
change. Reads go through `storage.inbox`, changes through `gateway.staff.actions`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.signing import Signer
from gateway.staff.actions import ActionError, Actor, StaffContext, assign, change_status, set_fields
from gateway.web.auth import Staff, get_signer, require_editor, require_staff
from gateway.web.deps import WebContext, web_context
from gateway.web.views import STATUS_LABELS, render
from storage.inbox import Cursor, InboxFilter, distinct_values, list_inbox
from storage.models import TicketStatus
from storage.staff import list_staff
from storage.tickets import get_ticket_by_number

router = APIRouter()

CLOSED = ("resolved", "closed", "duplicate", "rejected")
VIEWS = {
    "open": "Open",
    "mine": "Assigned to me",
    "unassigned": "Unassigned",
    "triage": "Needs triage",
    "unread": "Unread",
    "closed": "Closed",
    "all": "All",
}
CHANNELS = ("email", "sms", "web", "open311")


def staff_context(ctx: WebContext, signer: Signer) -> StaffContext:
    return StaffContext(db=ctx.db, services=ctx.services, signer=signer)


def actor_of(staff: Staff) -> Actor:
    return Actor(id=staff.id, email=staff.email)


def safe_back(target: str | None, default: str = "/inbox") -> str:
    return target if target and target.startswith("/inbox") and not target.startswith("//") else default


def build_filter(
    staff: Staff, view: str, status: str, category: str, department: str, channel: str, assignee: str, q: str
) -> InboxFilter:
    statuses: tuple[str, ...] = TicketStatus.OPEN_STATES
    if view == "closed":
        statuses = CLOSED
    elif view == "all" or q.strip():  # a search looks everywhere unless a status is chosen
        statuses = ()
    if status in TicketStatus.ALL:
        statuses = (status,)
    assignee_id = int(assignee) if assignee.isdigit() else None
    return InboxFilter(
        statuses=statuses,
        category=category or None,
        department=department or None,
        channel=channel if channel in CHANNELS else None,
        assignee_id=staff.id if view == "mine" else assignee_id,
        unassigned=view == "unassigned" or assignee == "none",
        needs_triage=view == "triage",
        unread_for=staff.id if view == "unread" else None,
        query=q[:200],
    )


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request,
    view: str = "open",
    status: str = "",
    category: str = "",
    department: str = "",
    channel: str = "",
    assignee: str = "",
    q: str = "",
    after: str = "",
    msg: str = "",
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_staff),
) -> HTMLResponse:
    view = view if view in VIEWS else "open"
    filters = build_filter(staff, view, status, category, department, channel, assignee, q)
    params = {
        k: v
        for k, v in {
            "view": view,
            "status": status,
            "category": category,
            "department": department,
            "channel": channel,
            "assignee": assignee,
            "q": q,
        }.items()
        if v
    }
    if filters.query.strip():
        await ctx.db.catch_up_search()  # a ticket made a second ago is found too
    async with ctx.db.read() as session:
        page = await list_inbox(
            session=session, filters=filters, after=Cursor.decode(after), limit=ctx.settings.web.page_size
        )
        menus = await distinct_values(session=session)
        people = await list_staff(session=session)
    here = "/inbox?" + urlencode({**params, **({"after": after} if after else {})})
    return render(
        ctx,
        request,
        "inbox/list.html",
        staff,
        page=page,
        views=VIEWS,
        view=view,
        params=params,
        first_page="/inbox?" + urlencode(params),
        next_page="/inbox?" + urlencode({**params, "after": page.next_cursor.encode()}) if page.next_cursor else None,
        here=here,
        statuses=STATUS_LABELS,
        channels=CHANNELS,
        categories=menus["category"],
        departments=menus["department"],
        people=people,
        msg=msg,
    )


@router.post("/inbox/bulk", response_model=None)
async def bulk(
    request: Request,
    action: str = Form(...),
    ticket_id: list[int] = Form(default_factory=list),
    status: str = Form(""),
    assignee: str = Form(""),
    category: str = Form(""),
    back: str = Form("/inbox"),
    ctx: WebContext = Depends(web_context),
    staff: Staff = Depends(require_editor),
    signer: Signer = Depends(get_signer),
) -> Response:
    target = safe_back(back)
    if not ticket_id:
        return RedirectResponse(_with_msg(target, "none-selected"), status_code=303)
    sc = staff_context(ctx, signer)
    ids = ticket_id[:500]
    try:
        if action == "status":
            n = await change_status(sc, actor_of(staff), ids, status)
        elif action == "assign":
            n = await assign(sc, actor_of(staff), ids, int(assignee) if assignee.isdigit() else None)
        elif action == "category":
            n = await set_fields(sc, actor_of(staff), ids, category=category)
        else:
            return RedirectResponse(_with_msg(target, "unknown-action"), status_code=303)
    except ActionError as exc:
        return render(ctx, request, "inbox/error.html", staff, status_code=400, error=str(exc), back=target)
    return RedirectResponse(_with_msg(target, f"bulk-{n}"), status_code=303)


@router.get("/inbox/find")
async def find(
    number: str = "", done: str = "", ctx: WebContext = Depends(web_context), staff: Staff = Depends(require_staff)
) -> RedirectResponse:
    """A tracking number to its ticket page (from split, or typed into the address bar)."""
    async with ctx.db.read() as session:
        ticket = await get_ticket_by_number(session=session, tracking_number=number.strip()[:32])
    if ticket is None:
        return RedirectResponse("/inbox?" + urlencode({"view": "all", "q": number[:32]}), status_code=303)
    suffix = f"?{urlencode({'done': done})}" if done else ""
    return RedirectResponse(f"/inbox/tickets/{ticket.id}{suffix}", status_code=303)


def _with_msg(url: str, msg: str) -> str:
    """`url` with its `msg` parameter (the note shown above the list) set to `msg`."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "msg"] + [("msg", msg)]
    return urlunsplit(("", "", parts.path, urlencode(query), ""))
