"""Staff actions beyond reply and status: merge (both reporters told the surviving number), split (the message's
sender gets a new number), canned replies, internal notes, assignment, category, bulk actions and the list views."""

from __future__ import annotations

import re

import aiosmtplib
import httpx

from gateway.app import Inbox311
from storage.tickets import get_ticket, list_events, list_messages, list_tickets
from tests.gateway.conftest import report
from tests.gateway.web.conftest import csrf_of
from tests.smtp_sink import SmtpSink


async def _send(service: Inbox311, sink: SmtpSink, **kw: str) -> None:
    host, port = service.smtp_address
    await aiosmtplib.send(report(**kw), hostname=host, port=port)
    await service.worker.drain()


async def _tickets(service: Inbox311) -> dict[str, int]:
    async with service.db.read() as session:
        return {t.summary: t.id for t in await list_tickets(session=session)}


async def test_merge_tells_both_reporters_the_surviving_number(
    web_service: Inbox311, sink: SmtpSink, agent_client: httpx.AsyncClient
) -> None:
    await _send(
        web_service, sink, subject="Light out on Elm", sender="ana@resident.example", message_id="<a1@r.example>"
    )
    await _send(
        web_service, sink, subject="Elm St lamp dark", sender="bo@resident.example", message_id="<b1@r.example>"
    )
    await sink.handler.wait_for(2)
    ids = await _tickets(web_service)
    first, second = ids["Light out on Elm"], ids["Elm St lamp dark"]
    async with web_service.db.read() as session:
        survivor = await get_ticket(session=session, ticket_id=first)
    page = await agent_client.get(f"/inbox/tickets/{second}")
    merged = await agent_client.post(
        f"/inbox/tickets/{second}/merge", data={"csrf_token": csrf_of(page.text), "into": survivor.tracking_number}
    )
    assert merged.status_code == 303
    *_, one, other = await sink.handler.wait_for(4)
    by_to = {m["To"]: m.get_payload(decode=True).decode() for m in (one, other)}
    assert survivor.tracking_number in by_to["bo@resident.example"]  # the duplicate's reporter: follow this one
    assert "merged into yours" in by_to["ana@resident.example"]
    async with web_service.db.read() as session:
        duplicate = await get_ticket(session=session, ticket_id=second)
    assert duplicate.status == "duplicate" and duplicate.duplicate_of_id == first
    survivor_page = await agent_client.get(f"/inbox/tickets/{first}")
    assert f"on {duplicate.tracking_number}" in survivor_page.text  # both conversations on the survivor's page
    own = await agent_client.post(
        f"/inbox/tickets/{first}/merge", data={"csrf_token": csrf_of(page.text), "into": survivor.tracking_number}
    )
    assert own.status_code == 400 and "cannot be merged into itself" in own.text

    # staff disagree: the duplicate becomes a ticket of its own again, and its reporter hears so
    dup_page = await agent_client.get(f"/inbox/tickets/{second}")
    assert "Unlink: a ticket of its own" in dup_page.text
    unlinked = await agent_client.post(f"/inbox/tickets/{second}/unlink", data={"csrf_token": csrf_of(dup_page.text)})
    assert unlinked.status_code == 303 and unlinked.headers["location"].endswith("done=unlinked")
    async with web_service.db.read() as session:
        alone = await get_ticket(session=session, ticket_id=second)
    assert alone.status == "acknowledged" and alone.duplicate_of_id is None
    *_, notice = await sink.handler.wait_for(5)
    assert notice["To"] == "bo@resident.example" and alone.tracking_number in notice["Subject"]
    again = await agent_client.post(f"/inbox/tickets/{second}/unlink", data={"csrf_token": csrf_of(dup_page.text)})
    assert again.status_code == 400 and "not linked" in again.text


async def test_split_gives_the_sender_a_new_number(
    web_service: Inbox311, sink: SmtpSink, agent_client: httpx.AsyncClient
) -> None:
    await _send(web_service, sink, subject="Pothole on Main St", message_id="<p1@r.example>")
    [ack] = await sink.handler.wait_for(1)
    follow = report(
        subject="Re: " + ack["Subject"], body="Also: the hydrant at 14 Main St leaks.", message_id="<p2@r.example>"
    )
    follow["In-Reply-To"] = ack["Message-ID"]
    host, port = web_service.smtp_address
    await aiosmtplib.send(follow, hostname=host, port=port)
    await web_service.worker.drain()
    [ticket_id] = (await _tickets(web_service)).values()
    async with web_service.db.read() as session:
        messages = await list_messages(session=session, ticket_id=ticket_id)
    followup = next(m for m in messages if m.external_id == "p2@r.example")
    page = await agent_client.get(f"/inbox/tickets/{ticket_id}")
    assert f"/inbox/messages/{followup.id}/split" in page.text
    split = await agent_client.post(
        f"/inbox/messages/{followup.id}/split",
        data={"csrf_token": csrf_of(page.text), "ticket_id": str(ticket_id)},
        follow_redirects=True,
    )
    assert split.status_code == 200 and "split out into a new ticket" in split.text
    new_number = re.search(r'<span class="number">([^<]+)</span>', split.text).group(1)
    *_, new_ack = await sink.handler.wait_for(3)
    assert new_number in new_ack["Subject"] and new_ack["In-Reply-To"] == "<p2@r.example>"
    async with web_service.db.read() as session:
        left = await list_messages(session=session, ticket_id=ticket_id)
    assert followup.id not in [m.id for m in left]


async def test_canned_reply_note_assign_and_fields(
    web_service: Inbox311, sink: SmtpSink, agent_client: httpx.AsyncClient
) -> None:
    await _send(web_service, sink)
    await sink.handler.wait_for(1)
    [ticket_id] = (await _tickets(web_service)).values()
    canned = await agent_client.get(f"/inbox/tickets/{ticket_id}?canned=need-more-info")
    async with web_service.db.read() as session:
        number = (await get_ticket(session=session, ticket_id=ticket_id)).tracking_number
    reply_box = re.search(r'<textarea id="reply-body"[^>]*>([^<]*)</textarea>', canned.text).group(1)
    assert f"Thank you for your report {number}" in reply_box and "Alex Agent" in reply_box
    assert "Ask for the exact location" in canned.text  # the picker lists it by its title

    csrf = csrf_of(canned.text)
    await agent_client.post(f"/inbox/tickets/{ticket_id}/note", data={"csrf_token": csrf, "body": "Crew 7 knows."})
    await agent_client.post(f"/inbox/tickets/{ticket_id}/assign", data={"csrf_token": csrf, "assignee": "me"})
    await agent_client.post(
        f"/inbox/tickets/{ticket_id}/fields",
        data={"csrf_token": csrf, "category": "sidewalk", "department": "streets", "priority": "high"},
    )
    page = await agent_client.get(f"/inbox/tickets/{ticket_id}")
    assert "Crew 7 knows." in page.text and "Internal note" in page.text
    async with web_service.db.read() as session:
        ticket = await get_ticket(session=session, ticket_id=ticket_id)
        actions = [e.action for e in await list_events(session=session, ticket_id=ticket_id)]
    assert (ticket.category, ticket.department, ticket.priority) == ("sidewalk", "streets", "high")
    assert ticket.category_decided_by == "staff:agent@city.example" and ticket.assignee_id is not None
    assert {"note", "assigned", "fields-changed"} <= set(actions)
    mine = await agent_client.get("/inbox?view=mine")
    assert f"/inbox/tickets/{ticket_id}" in mine.text
    assert len(sink.handler.envelopes) == 1  # a note, an assignment and a category change send nothing


async def test_bulk_status_views_and_search(
    web_service: Inbox311, sink: SmtpSink, agent_client: httpx.AsyncClient
) -> None:
    for n, (subject, sender) in enumerate(
        [("Graffiti on bridge", "g@r.example"), ("Noise at night", "n@r.example"), ("Dead raccoon", "d@r.example")]
    ):
        await _send(web_service, sink, subject=subject, sender=sender, message_id=f"<m{n}@r.example>", body=subject)
    await sink.handler.wait_for(3)
    ids = await _tickets(web_service)
    listing = await agent_client.get("/inbox")
    unread = re.findall(r'<tr class="unread"', listing.text)
    assert len(unread) == 3
    await agent_client.get(f"/inbox/tickets/{ids['Noise at night']}")
    assert len(re.findall(r'<tr class="unread"', (await agent_client.get("/inbox?view=unread")).text)) == 2

    found = await agent_client.get("/inbox?q=raccoon")
    assert "Dead raccoon" in found.text and "Graffiti on bridge" not in found.text
    by_number = await agent_client.get(f"/inbox?q=SR-{found.text.split('SR-')[1][:11]}")
    assert "Dead raccoon" in by_number.text

    done = await agent_client.post(
        "/inbox/bulk",
        data={
            "csrf_token": csrf_of(listing.text),
            "action": "status",
            "status": "resolved",
            "ticket_id": [str(ids["Graffiti on bridge"]), str(ids["Dead raccoon"])],
            "back": "/inbox",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/inbox?msg=bulk-2"
    await sink.handler.wait_for(5)
    assert {m["To"] for m in sink.handler.messages[3:]} == {"g@r.example", "d@r.example"}
    open_now = await agent_client.get("/inbox")
    assert "Noise at night" in open_now.text and "Dead raccoon" not in open_now.text
    closed = await agent_client.get("/inbox?view=closed")
    assert "Dead raccoon" in closed.text and "Graffiti on bridge" in closed.text


def _shown(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'<tr class="[^"]*" data-ticket="(\d+)">', html)}


async def test_bulk_assign_and_category_then_every_filter(
    web_service: Inbox311, sink: SmtpSink, agent_client: httpx.AsyncClient
) -> None:
    reports = [
        ("Graffiti on bridge", "Spray paint graffiti all over the bridge.", "g@r.example"),
        ("Pothole on Oak", "Deep pothole on Oak Ave near 5th.", "p@r.example"),
        ("Something odd", "There is a thing. Please look.", "o@r.example"),
    ]
    for n, (subject, body, sender) in enumerate(reports):
        await _send(web_service, sink, subject=subject, body=body, sender=sender, message_id=f"<f{n}@r.example>")
    ids = await _tickets(web_service)
    graffiti, pothole, odd = ids["Graffiti on bridge"], ids["Pothole on Oak"], ids["Something odd"]
    async with web_service.db.read() as session:
        tickets = {i: await get_ticket(session=session, ticket_id=i) for i in (graffiti, pothole, odd)}
    assert tickets[odd].category in (None, "uncategorised")  # nothing to go on: needs triage
    listing = await agent_client.get("/inbox")
    agent_id = re.search(r'<option value="(\d+)">Alex Agent</option>', listing.text).group(1)
    csrf = csrf_of(listing.text)

    async def shown(query: str) -> set[int]:
        page = await agent_client.get(f"/inbox?{query}")
        assert page.status_code == 200
        return _shown(page.text)

    assert await shown("view=triage") == {odd}
    assigned = await agent_client.post(
        "/inbox/bulk",
        data={"csrf_token": csrf, "action": "assign", "assignee": agent_id, "ticket_id": [graffiti, pothole]},
    )
    recategorised = await agent_client.post(
        "/inbox/bulk", data={"csrf_token": csrf, "action": "category", "category": "other", "ticket_id": [odd]}
    )
    assert assigned.headers["location"] == "/inbox?msg=bulk-2"
    assert recategorised.headers["location"] == "/inbox?msg=bulk-1"

    assert await shown("") == {graffiti, pothole, odd}
    assert await shown(f"assignee={agent_id}") == {graffiti, pothole}
    assert await shown("assignee=none") == await shown("view=unassigned") == {odd}
    assert await shown("view=mine") == {graffiti, pothole}
    assert await shown("category=graffiti") == {graffiti}
    assert await shown("category=other") == {odd}
    assert await shown(f"department={tickets[pothole].department}") == {pothole}
    assert await shown("channel=email") == {graffiti, pothole, odd}
    assert await shown("channel=sms") == set()
    assert await shown("view=triage") == set()  # a person chose the category of the odd one: triaged
    assert await shown("status=acknowledged&category=pothole") == {pothole}
    assert await shown("q=bridge") == {graffiti}
