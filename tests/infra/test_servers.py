"""Smoke tests: each real server `.ci/run` starts (or the tool it installs) is there and does its job.

Dovecot (IMAP with STARTTLS and IMAPS, APPEND, IDLE), PostgreSQL (a migrated per-test database), Prism serving
Twilio's API contract, Chromium driven by Playwright, and swaks talking to an aiosmtpd server on loopback.
A failure here means the test machine is broken, not the product.
"""

from __future__ import annotations

import asyncio
import email
import functools
import http.server
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from imapclient import IMAPClient
from playwright.async_api import async_playwright
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

# users of .ci/dovecot/start.sh (IMAP_USERS default)
IMAP_USER, IMAP_PASSWORD = "inbox@city.test", "secret"
ACCOUNT_SID = "AC" + "0" * 32

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # the machine has no network: without these, Chromium keeps dialling Google's services
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def _report(message_id: str) -> bytes:
    return (
        f"From: Resident <res@example.test>\r\nTo: 311 <{IMAP_USER}>\r\nSubject: Tree down on Oak Ave\r\n"
        f"Message-ID: {message_id}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "A big branch is blocking the sidewalk.\r\n"
    ).encode()


def _imap(port: int, cafile: str) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=10)  # ssl defaults to True
    client.starttls(ssl.create_default_context(cafile=cafile))
    client.login(IMAP_USER, IMAP_PASSWORD)
    return client


def _has_exists(responses: list[tuple[Any, ...]]) -> bool:
    return any(len(response) > 1 and response[1] == b"EXISTS" for response in responses)


# ---- Dovecot ---------------------------------------------------------------------------------------------------


def test_dovecot_idle_sees_append_over_starttls(imap_port: int, imap_cafile: str) -> None:
    message_id = f"<{uuid.uuid4().hex}@example.test>"
    raw = _report(message_id)
    with _imap(imap_port, imap_cafile) as watcher, _imap(imap_port, imap_cafile) as sender:
        watcher.select_folder("INBOX")
        watcher.idle()
        sender.append("INBOX", raw)
        pushed: list[tuple[Any, ...]] = []
        deadline = time.monotonic() + 10
        while not _has_exists(pushed) and time.monotonic() < deadline:
            pushed += watcher.idle_check(timeout=1)  # "still here" keepalives may come first
        watcher.idle_done()
        uids = watcher.search(["HEADER", "Message-ID", message_id])
        fetched = watcher.fetch(uids, ["BODY.PEEK[]", "FLAGS"])  # PEEK: reading must not mark it \Seen

    assert _has_exists(pushed), pushed
    assert len(uids) == 1
    assert fetched[uids[0]][b"BODY[]"] == raw
    assert b"\\Seen" not in fetched[uids[0]][b"FLAGS"]


def test_dovecot_imaps_needs_the_test_ca(imaps_port: int, imap_cafile: str) -> None:
    trusted = ssl.create_default_context(cafile=imap_cafile)
    with IMAPClient("localhost", port=imaps_port, ssl=True, ssl_context=trusted, timeout=10) as client:
        client.login(IMAP_USER, IMAP_PASSWORD)
        folders = {name for _flags, _sep, name in client.list_folders()}
    assert {"INBOX", "Processed", "Quarantine"} <= folders

    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient("localhost", port=imaps_port, ssl=True, ssl_context=ssl.create_default_context(), timeout=10)


# ---- PostgreSQL ------------------------------------------------------------------------------------------------


async def test_postgresql_gives_each_test_a_migrated_database(pg_url: str) -> None:
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            version = int(await conn.scalar(text("SHOW server_version_num")))
            database = await conn.scalar(text("SELECT current_database()"))
            tables = set(await conn.run_sync(lambda sync_conn: inspect(sync_conn).get_table_names()))
            await conn.execute(text("CREATE TEMP TABLE probe (id serial PRIMARY KEY, body text NOT NULL)"))
            new_id = await conn.scalar(text("INSERT INTO probe (body) VALUES ('pothole') RETURNING id"))
            stored = await conn.scalar(text("SELECT body FROM probe WHERE id = :id"), {"id": new_id})
    finally:
        await engine.dispose()

    assert version >= 150000
    assert database == pg_url.rsplit("/", 1)[1]
    assert {"alembic_version", "raw_inbound", "ticket", "outbox"} <= tables
    assert stored == "pothole"


# ---- Prism (Twilio API mock) -----------------------------------------------------------------------------------


class PrismHttpClient(TwilioHttpClient):
    """Sends every Twilio request, whatever its product domain, to the Prism mock instead."""

    def __init__(self, mock_url: str) -> None:
        super().__init__(timeout=10)
        self.mock = urlsplit(mock_url)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        local = urlunsplit((self.mock.scheme, self.mock.netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, local, *args, **kwargs)


def test_twilio_client_against_prism_contract(twilio_mock: str) -> None:
    client = Client(ACCOUNT_SID, "test-auth-token", http_client=PrismHttpClient(twilio_mock))

    message = client.messages.create(
        to="+15558675310",
        from_="+15017122661",
        body="Ticket 311-0042 received",
        media_url=["http://127.0.0.1/photo-1.jpg", "http://127.0.0.1/photo-2.jpg"],  # repeated form keys
    )
    assert re.fullmatch(r"(SM|MM)[0-9a-fA-F]{32}", message.sid)

    # a request the contract forbids (no To) is refused by the mock, as Twilio would
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    refused = client.request("POST", url, data={"From": "+15017122661", "Body": "no recipient"})
    assert refused.status_code == 422, refused.text


# ---- Chromium through Playwright -------------------------------------------------------------------------------


@pytest.fixture
def page_server(tmp_path: Path) -> Iterator[str]:
    """A static page on a loopback HTTP server; yields its URL."""
    (tmp_path / "index.html").write_text(
        "<title>Staff inbox</title><h1>Staff inbox</h1>"
        "<button id=assign onclick=\"this.textContent = 'Assigned'\">Assign</button>",
        encoding="utf-8",
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_chromium_loads_and_clicks_a_local_page(chromium_path: str, page_server: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(page_server)
            await page.click("#assign")
            title = await page.title()
            label = await page.text_content("#assign")
            screenshot = await page.screenshot()
        finally:
            await browser.close()

    assert title == "Staff inbox"
    assert label == "Assigned"
    assert screenshot.startswith(b"\x89PNG\r\n\x1a\n")


# ---- swaks -> aiosmtpd -----------------------------------------------------------------------------------------


class RecordingHandler:
    """aiosmtpd handler that keeps every envelope it is given."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 queued"


async def test_swaks_delivers_to_aiosmtpd_on_loopback() -> None:
    handler = RecordingHandler()
    loop = asyncio.get_running_loop()
    # hostname given: aiosmtpd would otherwise ask DNS for this machine's FQDN
    server = await loop.create_server(lambda: SMTP(handler, hostname="mx.city.test"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        swaks = await asyncio.create_subprocess_exec(
            *("swaks", "--server", f"127.0.0.1:{port}", "--helo", "client.example.test", "--timeout", "10"),
            *("--from", "res@example.test", "--to", "inbox@city.test"),
            *("--header", "Subject: Pothole", "--body", "Big hole at 12 Main St"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        transcript, _ = await asyncio.wait_for(swaks.communicate(), 30)
    finally:
        server.close()
        await server.wait_closed()

    assert swaks.returncode == 0, transcript.decode()
    assert [envelope.rcpt_tos for envelope in handler.envelopes] == [["inbox@city.test"]]
    message = email.message_from_bytes(handler.envelopes[0].original_content, policy=policy.default)
    assert message["Subject"] == "Pothole"
    assert "12 Main St" in message.get_content()
