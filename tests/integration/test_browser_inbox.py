"""Real Chromium, real service: reports arrive by email, by text (signed Twilio webhook) and through the web form
(filled in the browser, "use my location" included); staff log in, find them, reply and change status, and the
resident's messages arrive at the relay sink and at the Twilio mock. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import asyncio
import re

import aiosmtplib
import httpx
from playwright.async_api import BrowserContext, Page, expect

from gateway.app import Inbox311
from storage.outbox import list_outbox
from tests.gateway.conftest import report
from tests.gateway.web.conftest import add_staff, base_url
from tests.integration.conftest import RequestLog, artifact, log_in
from tests.smtp_sink import SmtpSink
from tests.twilio_support import RESIDENT, SMS_PATH, PrismRecorder, inbound, post_signed

REPORTS = [
    (
        "Streetlight out on Elm Ave",
        "The street light in front of 44 Elm Ave has been dark for a week.",
        "ana@resident.example",
    ),
    (
        "Graffiti on the library wall",
        "Someone sprayed graffiti on the north wall of the Main St library.",
        "li@resident.example",
    ),
    (
        "Bache en la calle Oak",
        "Hay un bache enorme en la calle Oak y Fifth, por favor arréglenlo. Gracias.",
        "rosa@resident.example",
    ),
    (
        "Pothole on Main St",
        "Big pothole in front of 12 Main St. A car lost a hubcap this morning.",
        "jane@resident.example",
    ),
]
TEXT = "Overflowing trash can at the bus stop on 5th Ave and Pine St, it is all over the sidewalk"


async def _send_reports(service: Inbox311, sink: SmtpSink) -> None:
    host, port = service.smtp_address
    for n, (subject, body, sender) in enumerate(REPORTS):
        await aiosmtplib.send(
            report(subject=subject, body=body, sender=sender, message_id=f"<r{n}@resident.example>"),
            hostname=host,
            port=port,
        )
    await sink.handler.wait_for(len(REPORTS))  # every report acknowledged


async def _send_text(service: Inbox311) -> None:
    async with httpx.AsyncClient(base_url=base_url(service)) as client:
        answer = await post_signed(client, SMS_PATH, inbound(TEXT))
    assert answer.status_code == 200
    await service.worker.drain()


async def _report_on_the_web(page: Page) -> str:
    await page.goto("/report")
    await page.fill("#description", "A tree branch hangs over the bike lane on Addison, low enough to hit riders.")
    await page.select_option("#category", "tree")
    await page.click("#locate")  # the context grants geolocation: report.js fills the hidden lat/lon
    await expect(page.locator("#locate-status")).to_contain_text("Location set")
    await page.fill("#email", "kim@resident.example")
    await page.screenshot(path=artifact("report-form.png"), full_page=True)
    await page.click("button.send")
    number = page.locator("#tracking-number")
    await expect(number).to_have_text(re.compile(r"SR-\d{4}-\d{6}"), timeout=10_000)
    return await number.inner_text()


async def _reply_and_set_status(page: Page, summary: str, reply: str, status_label: str, note: str) -> None:
    await page.goto("/inbox")
    await page.locator("table.tickets a.open", has_text=summary).click()
    await expect(page.locator("#ticket-summary")).to_contain_text(summary[:30])
    await page.fill("#reply-body", reply)
    await page.click("#reply-form button[type=submit]")
    await expect(page.locator("#notice")).to_contain_text("Reply queued")
    await expect(page.locator(".msg.dir-out", has_text=reply)).to_be_visible()
    await page.select_option("#status", label=status_label)
    await page.fill("#public-note", note)
    await page.click("form[action$='/status'] button[type=submit]")
    await expect(page.locator("#ticket-status")).to_have_text(status_label)


async def test_email_text_and_web_reports_are_worked_and_the_residents_hear_back(
    browser_service: Inbox311,
    sink: SmtpSink,
    prism: PrismRecorder,
    context: BrowserContext,
    requests_seen: RequestLog,
) -> None:
    await _send_reports(browser_service, sink)
    await _send_text(browser_service)
    resident_page = await context.new_page()
    web_number = await _report_on_the_web(resident_page)
    assert web_number.startswith("SR-")

    page = await context.new_page()
    await log_in(page)
    await expect(page.locator("table.tickets tbody tr")).to_have_count(len(REPORTS) + 2)
    await expect(page.locator("table.tickets tr", has_text="Text")).to_have_count(1)
    await expect(page.locator("table.tickets tr", has_text="Web form")).to_have_count(1)
    await page.screenshot(path=artifact("inbox-list.png"), full_page=True)

    await page.keyboard.press("/")  # keyboard: "/" jumps to search
    await expect(page.locator("#q")).to_be_focused()
    await page.keyboard.type("hubcap")
    await expect(page.locator("table.tickets tbody tr")).to_have_count(1)

    await _reply_and_set_status(
        page, "Pothole on Main St", "Thank you, Jane. A crew will fill it on Tuesday.", "In progress", "Crew booked"
    )
    await page.select_option("#assignee", label="Dana Ortiz")
    await page.click("form[action$='/assign'] button[type=submit]")
    await expect(page.locator("#notice")).to_contain_text("Assignment changed")
    await page.screenshot(path=artifact("inbox-ticket.png"), full_page=True)
    await _reply_and_set_status(page, "Overflowing trash can", "We will empty it today.", "Resolved", "Emptied")

    messages = await sink.handler.wait_for(len(REPORTS) + 1 + 2)  # acks (email and web) + reply + status
    _ack, answer, notice = [m for m in messages if m["To"] == "jane@resident.example"]
    assert answer["In-Reply-To"] == "<r3@resident.example>"
    assert "A crew will fill it on Tuesday" in answer.get_payload(decode=True).decode()
    assert "Crew booked" in notice.get_payload(decode=True).decode()
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert any(web_number in m["Subject"] and m["To"] == "kim@resident.example" for m in messages)

    texts = await _texts_to(browser_service, prism, RESIDENT, 3)  # the acknowledgement, the reply, the status update
    assert "We will empty it today." in texts[1]
    assert "resolved" in texts[2].lower() and "Emptied" in texts[2]

    await page.goto("/inbox?view=all")
    await expect(page.locator("table.tickets tr", has_text="Dana Ortiz")).to_have_count(1)
    await page.screenshot(path=artifact("inbox-list-worked.png"), full_page=True)

    phone = await context.new_page()
    await phone.set_viewport_size({"width": 390, "height": 844})
    await phone.goto("/inbox?view=all")
    await expect(phone.locator("table.tickets a.open").first).to_be_visible()
    await phone.screenshot(path=artifact("inbox-phone.png"), full_page=True)
    assert requests_seen.foreign == []


async def _texts_to(service: Inbox311, prism: PrismRecorder, number: str, count: int) -> list[str]:
    """The texts to `number` that the Twilio mock accepted (our outbox rows marked sent), in order."""
    for _ in range(200):
        async with service.db.read() as session:
            rows = await list_outbox(session=session, limit=50)
        sent = sorted((r.id, r.payload["body"]) for r in rows if r.channel == "sms" and r.state == "sent")
        asked = [r.form.get("Body") for r in prism.messages_created() if r.form.get("To") == number]
        if len(sent) >= count and all(body in asked for _, body in sent):
            return [body for _, body in sent]
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {len(sent)} texts reached the Twilio mock: {asked}")


async def test_viewer_sees_but_cannot_change(
    browser_service: Inbox311, sink: SmtpSink, context: BrowserContext
) -> None:
    await add_staff(browser_service.db, "val@city.example", "viewer")
    await _send_reports(browser_service, sink)
    page = await context.new_page()
    await log_in(page, "val@city.example")
    await page.locator("table.tickets a.open").first.click()
    await expect(page.locator("#ticket-summary")).to_be_visible()
    assert await page.locator("#reply-form").count() == 0
    assert await page.locator("form[action$='/status']").count() == 0
    assert await page.locator("input[name=ticket_id]").count() == 0


async def test_report_form_works_inside_a_city_site_iframe(
    browser_service: Inbox311, context: BrowserContext, requests_seen: RequestLog
) -> None:
    """The city's page is another origin (another port): the form shows and submits inside its iframe."""
    port = browser_service.http_address[1]
    page_html = f'<h1>City of Example</h1><iframe id="r" src="http://127.0.0.1:{port}/report" width="600" height="900">'
    city_server = await _serve_one_page(page_html)
    city_site = await context.new_page()
    await city_site.goto(f"http://127.0.0.1:{city_server.sockets[0].getsockname()[1]}/report-a-problem")
    form = city_site.frame_locator("#r")
    await form.locator("#description").fill("Broken swing in the playground of Lake Park, sharp edges showing.")
    await form.locator("#address").fill("Lake Park playground")
    await form.locator("#email").fill("lee@resident.example")
    await form.locator("button.send").click()
    await expect(form.locator("#tracking-number")).to_have_text(re.compile(r"SR-\d{4}-\d{6}"), timeout=10_000)
    await city_site.screenshot(path=artifact("report-embedded.png"), full_page=True)
    async with context.expect_page() as opened:  # the tracking page opens outside the city's frame
        await form.locator("#tracking-link").click()
    tracking = await opened.value
    await expect(tracking.locator("h1")).to_contain_text(re.compile(r"SR-\d{4}-\d{6}"))
    assert requests_seen.foreign == []
    city_server.close()
    await city_server.wait_closed()


async def _serve_one_page(html: str) -> asyncio.Server:
    """The city's web site: a loopback HTTP server answering every request with `html`."""
    body = html.encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)
