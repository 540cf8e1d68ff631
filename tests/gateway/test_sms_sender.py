"""The outbound side: the real `twilio` client against a mock serving Twilio's own OpenAPI contract (Prism), and
Twilio's error answers mapped to retry or give up, with 21610 marking the number opted out."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from sqlalchemy import select

from gateway.outbox.sms import TwilioSender
from gateway.outbox.worker import OutboxError
from gateway.settings import ConfigError, Settings
from storage.db import Database
from storage.models import Contact, Outbox
from storage.sms import set_phone_opt_out
from tests.twilio_support import ACCOUNT_SID, OUR_NUMBER, RESIDENT, TOKEN, LoopbackHttp, PrismRecorder

SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
SERVICE_SID = "MG" + "0123456789abcdef" * 2


@pytest.fixture
async def prism(twilio_mock: str) -> AsyncIterator[PrismRecorder]:
    recorder = await PrismRecorder(twilio_mock).start()
    yield recorder
    await recorder.stop()


def _settings(settings: Settings, api_base: str, **twilio: str) -> Settings:
    section = {"account_sid": ACCOUNT_SID, "auth_token": TOKEN, "from_number": OUR_NUMBER, "api_base": api_base}
    return settings.replace(twilio={**section, **twilio})


def _row(recipient: str = RESIDENT, kind: str = "ack", outbox_id: int = 7) -> Outbox:
    return Outbox(
        id=outbox_id, channel="sms", kind=kind, recipient=recipient, payload={"body": "SR-2026-000042 received"}
    )


async def _send(sender: TwilioSender, row: Outbox) -> str | None:
    try:
        return await sender.send(row)
    finally:
        await sender.close()


async def test_create_message_fits_twilios_contract(settings: Settings, prism: PrismRecorder) -> None:
    sid = await _send(TwilioSender(_settings(settings, prism.url(""))), _row())
    [call] = prism.messages_created()
    assert call.status == 201 and sid == call.json["sid"] and SID.fullmatch(sid)  # the SID the mock returned
    assert call.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert call.form == {
        "To": RESIDENT,
        "From": OUR_NUMBER,
        "Body": "SR-2026-000042 received",
        "StatusCallback": "http://311.city.example/webhooks/twilio/status?outbox=7",
    }
    assert call.headers["Authorization"].startswith("Basic ")


async def test_through_a_messaging_service(settings: Settings, prism: PrismRecorder) -> None:
    sender = TwilioSender(_settings(settings, prism.url(""), messaging_service_sid=SERVICE_SID))
    assert SID.fullmatch(await _send(sender, _row()) or "")
    [call] = prism.messages_created()
    assert call.form["MessagingServiceSid"] == SERVICE_SID and "From" not in call.form


async def test_whatsapp_answers_go_back_on_whatsapp(settings: Settings, prism: PrismRecorder) -> None:
    await _send(TwilioSender(_settings(settings, prism.url(""))), _row("whatsapp:+31612345678"))
    [call] = prism.messages_created()
    assert (call.form["To"], call.form["From"]) == ("whatsapp:+31612345678", f"whatsapp:{OUR_NUMBER}")


async def test_a_request_outside_the_contract_is_refused_by_the_mock(settings: Settings, prism: PrismRecorder) -> None:
    sender = TwilioSender(_settings(settings, prism.url(""), messaging_service_sid="MG-not-a-sid"))
    with pytest.raises(OutboxError) as caught:
        await _send(sender, _row())
    assert "422" in str(caught.value) and not caught.value.retryable
    assert prism.messages_created()[0].status == 422


def _twilio_error(status: int, code: int, message: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    ("status", "code", "retryable", "opted_out", "bounced"),
    [
        (400, 21610, False, True, False),  # the number sent STOP to our Twilio sender
        (400, 21211, False, False, True),  # not a valid phone number
        (400, 21408, False, False, False),  # region not enabled: ours to fix, and retrying will not help
        (429, 20429, True, False, False),
        (500, 20500, True, False, False),
        (503, 0, True, False, False),
        (401, 20003, True, False, False),
    ],
)
async def test_twilio_errors(
    settings: Settings, db: Database, status: int, code: int, retryable: bool, opted_out: bool, bounced: bool
) -> None:
    server = LoopbackHttp()
    server.route("POST", "/2010-04-01/Accounts/{sid}/Messages.json", lambda _: _answer(status, code))
    await server.start()
    try:
        with pytest.raises(OutboxError) as caught:
            await _send(TwilioSender(_settings(settings, server.url("")), db), _row())
    finally:
        await server.stop()
    assert caught.value.retryable is retryable
    if code:
        assert str(code) in str(caught.value)
    async with db.read() as session:
        contact = (await session.execute(select(Contact).where(Contact.address == RESIDENT))).scalar_one_or_none()
    assert (bool(contact and contact.opted_out), bool(contact and contact.bounced)) == (opted_out, bounced)


async def _answer(status: int, code: int) -> web.Response:
    return _twilio_error(status, code, "error") if code else web.Response(status=status, text="unavailable")


async def test_an_unreachable_api_is_retried(settings: Settings) -> None:
    server = await LoopbackHttp().start()
    url = server.url("")
    await server.stop()  # nothing listens there any more
    with pytest.raises(OutboxError) as caught:
        await _send(TwilioSender(_settings(settings, url)), _row())
    assert caught.value.retryable and "unreachable" in str(caught.value)


async def test_opted_out_numbers_get_only_the_stop_confirmation_and_help(
    settings: Settings, db: Database, prism: PrismRecorder
) -> None:
    async with db.write() as session:
        await set_phone_opt_out(session=session, phone=RESIDENT, opted_out=True)
    sender = TwilioSender(_settings(settings, prism.url("")), db)
    with pytest.raises(OutboxError) as caught:
        await _send(sender, _row(kind="status"))
    assert not caught.value.retryable and "opted-out" in str(caught.value)
    assert prism.messages_created() == []
    for kind in ("stop", "help"):
        assert SID.fullmatch(await _send(sender, _row(kind=kind)) or "")
    assert len(prism.messages_created()) == 2


def test_a_sender_needs_a_from_number_or_a_messaging_service(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"twilio\.from_number"):
        TwilioSender(_settings(settings, "", from_number=""))
