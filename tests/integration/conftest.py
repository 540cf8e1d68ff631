"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, a running service with a relay sink, the
Twilio mock and a staff account, and a recorder of every request the browser makes (only 127.0.0.1 is allowed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from gateway.app import Inbox311
from gateway.settings import Settings
from tests.gateway.conftest import service_settings
from tests.gateway.web.conftest import PASSWORD, add_staff, base_url
from tests.smtp_sink import SmtpSink
from tests.twilio_support import ACCOUNT_SID, OUR_NUMBER, TOKEN, PrismRecorder

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    s = await SmtpSink().start()
    yield s
    await s.stop()


@pytest.fixture
async def prism(twilio_mock: str) -> AsyncIterator[PrismRecorder]:
    """The Prism mock of Twilio's API, behind a recorder of what our sender asked it."""
    recorder = await PrismRecorder(twilio_mock).start()
    yield recorder
    await recorder.stop()


@pytest.fixture
async def browser_service(
    settings: Settings, sqlite_url: str, sink: SmtpSink, prism: PrismRecorder
) -> AsyncIterator[Inbox311]:
    twilio = {"account_sid": ACCOUNT_SID, "auth_token": TOKEN, "from_number": OUR_NUMBER, "api_base": prism.url("")}
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port, twilio=twilio))
    await svc.start()
    await add_staff(svc.db, "dana@city.example", "agent", name="Dana Ortiz")
    yield svc
    await svc.stop()


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS, headless=True)
        yield b
        await b.close()


class RequestLog:
    """Every URL the browser asked for; anything not on 127.0.0.1 is refused and listed in `foreign`."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.foreign: list[str] = []

    async def route(self, route: Route) -> None:
        url = route.request.url
        self.urls.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname == "127.0.0.1":
            await route.continue_()
        else:
            self.foreign.append(url)
            await route.abort()


@pytest.fixture
async def requests_seen() -> RequestLog:
    return RequestLog()


@pytest.fixture
async def context(
    browser: Browser, browser_service: Inbox311, requests_seen: RequestLog
) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(
        base_url=base_url(browser_service),
        viewport={"width": 1280, "height": 860},
        geolocation={"latitude": 41.9474, "longitude": -87.6561},  # for "use my location" on the report form
        permissions=["geolocation"],
    )
    await ctx.route("**/*", requests_seen.route)
    yield ctx
    await ctx.close()


async def log_in(page: Page, email: str = "dana@city.example") -> None:
    await page.goto("/inbox")
    assert "/inbox/login" in page.url  # not logged in yet: sent to the login page
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/inbox")


def artifact(name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / name)
