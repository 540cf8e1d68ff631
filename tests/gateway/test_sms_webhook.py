"""The Twilio webhooks at the edge: signatures checked against the URL Twilio signed, the raw form committed before
the empty TwiML answer, redeliveries dropped, delivery receipts recorded on the outbox row."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from gateway.app import Inbox311
from gateway.settings import Settings
from gateway.web.routes.twilio import EMPTY_TWIML, signature_valid
from storage.models import Contact, Outbox, OutboxState, RawInbound
from storage.outbox import enqueue_outbox
from storage.raw import read_raw_bodies
from tests.twilio_support import (
    PUBLIC_BASE,
    RESIDENT,
    SMS_PATH,
    STATUS_PATH,
    TOKEN,
    inbound,
    new_sid,
    post_signed,
    signature,
    sms_settings,
)

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "fixtures/twilio/signature_vectors.json").read_text())


async def _service(settings: Settings) -> Inbox311:
    svc = Inbox311(settings, senders=[])
    await svc.start()
    return svc


@pytest.fixture
async def service(settings: Settings, db_url: str) -> AsyncIterator[Inbox311]:
    svc = await _service(sms_settings(settings, db_url))
    yield svc
    await svc.stop()


def _client(service: Inbox311) -> httpx.AsyncClient:
    host, port = service.http_address
    return httpx.AsyncClient(base_url=f"http://{host}:{port}")


async def _raw_rows(service: Inbox311) -> list[RawInbound]:
    async with service.db.read() as session:
        return list((await session.execute(select(RawInbound).order_by(RawInbound.id))).scalars())


async def test_signed_text_is_stored_before_the_empty_twiml_answer(service: Inbox311) -> None:
    form = inbound("Pothole in front of 1420 W Addison")
    async with _client(service) as client:
        response = await post_signed(client, SMS_PATH, form)
    assert response.status_code == 200
    assert response.content == EMPTY_TWIML and response.headers["content-type"].startswith("text/xml")
    [row] = await _raw_rows(service)  # committed when the answer was given
    assert row.channel == "sms" and row.source == "twilio"
    assert row.idempotency_key == f"twilio:{form['MessageSid']}" and row.message_id == form["MessageSid"]
    async with service.db.read() as session:
        stored = await read_raw_bodies(session=session, raw_ids=[row.id])
    assert stored == {row.id: urlencode(form).encode()}  # exactly what Twilio posted
    assert row.envelope_from == RESIDENT


async def test_redelivery_is_answered_and_dropped(service: Inbox311) -> None:
    form = inbound("Streetlight out")
    async with _client(service) as client:
        first = await post_signed(client, SMS_PATH, form)
        again = await post_signed(client, SMS_PATH, form)
    assert first.status_code == again.status_code == 200
    assert len(await _raw_rows(service)) == 1


@pytest.mark.parametrize(
    "tamper",
    ["missing", "wrong-token", "other-url", "changed-body", "other-path"],
)
async def test_bad_or_missing_signature_is_refused_and_nothing_stored(service: Inbox311, tamper: str) -> None:
    form = inbound("Graffiti on the bridge")
    sig = signature(PUBLIC_BASE + SMS_PATH, form)
    if tamper == "wrong-token":
        sig = signature(PUBLIC_BASE + SMS_PATH, form, token="not-the-token")
    elif tamper == "other-url":
        sig = signature("https://elsewhere.example" + SMS_PATH, form)
    elif tamper == "other-path":
        sig = signature(PUBLIC_BASE + STATUS_PATH, form)  # a signature from the other endpoint is not reusable
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if tamper != "missing":
        headers["X-Twilio-Signature"] = sig
    body = urlencode({**form, "Body": "Graffiti on the bridge!!"} if tamper == "changed-body" else form)
    async with _client(service) as client:
        response = await client.post(SMS_PATH, content=body, headers=headers)
    assert response.status_code == 403
    assert await _raw_rows(service) == []


async def test_query_string_is_part_of_the_signed_url(service: Inbox311) -> None:
    form = inbound("Tree down")
    async with _client(service) as client:
        ok = await post_signed(client, f"{SMS_PATH}?city=chicago", form)
        stripped = await post_signed(client, f"{SMS_PATH}?city=chicago", form, signed_url=PUBLIC_BASE + SMS_PATH)
    assert ok.status_code == 200 and stripped.status_code == 403


async def test_signed_form_without_message_sid_is_a_bad_request(service: Inbox311) -> None:
    form = {"From": RESIDENT, "Body": "hello"}
    async with _client(service) as client:
        response = await post_signed(client, SMS_PATH, form)
    assert response.status_code == 400 and await _raw_rows(service) == []


async def test_oversized_body_is_refused(service: Inbox311) -> None:
    form = inbound("x" * 300_000)
    async with _client(service) as client:
        response = await post_signed(client, SMS_PATH, form)
    assert response.status_code == 413 and await _raw_rows(service) == []


async def test_oversized_body_without_a_length_is_refused(service: Inbox311) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to refuse it by
        for _ in range(40):
            yield b"Body=" + b"x" * 10_000 + b"&"

    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}
    async with _client(service) as client:
        response = await client.post(SMS_PATH, content=chunks(), headers=headers)
    assert response.status_code == 413 and await _raw_rows(service) == []


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=x", None])
async def test_only_a_form_is_taken(service: Inbox311, content_type: str | None) -> None:
    form = inbound("Broken hydrant")
    headers = {"X-Twilio-Signature": signature(PUBLIC_BASE + SMS_PATH, form)}
    if content_type:
        headers["Content-Type"] = content_type
    async with _client(service) as client:
        response = await client.post(SMS_PATH, content=urlencode(form), headers=headers)
        charset = await post_signed(
            client,
            SMS_PATH,
            inbound("Broken hydrant"),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
        )
    assert response.status_code == 415
    assert charset.status_code == 200 and len(await _raw_rows(service)) == 1


async def test_other_methods_are_not_allowed_and_answers_carry_the_security_headers(service: Inbox311) -> None:
    async with _client(service) as client:
        get = await client.get(SMS_PATH)
        ok = await post_signed(client, SMS_PATH, inbound("Sinkhole"))
        health = await client.get("/healthz")  # every other path is the web app's, as before
    assert get.status_code == 405 and get.headers["allow"] == "POST"
    for response in (get, ok):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors" in response.headers["content-security-policy"]
    assert ok.headers["content-type"] == "text/xml; charset=utf-8"
    assert health.status_code == 200 and health.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("trust", [False, True])
async def test_forwarded_headers_only_when_trusted(settings: Settings, db_url: str, trust: bool) -> None:
    # Behind a proxy Twilio signs the proxy's URL; X-Forwarded-* say what it was, if we may believe them.
    svc = await _service(sms_settings(settings, db_url).replace(http={"trust_forwarded": trust}))
    try:
        form = inbound("Noise after midnight")
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.city.example", "X-Forwarded-Prefix": "/311"}
        async with _client(svc) as client:
            response = await post_signed(
                client, SMS_PATH, form, headers=headers, signed_url="https://sms.city.example/311" + SMS_PATH
            )
        assert response.status_code == (200 if trust else 403)
        assert len(await _raw_rows(svc)) == (1 if trust else 0)
    finally:
        await svc.stop()


async def test_public_base_url_with_a_path(settings: Settings, db_url: str) -> None:
    svc = await _service(sms_settings(settings, db_url).replace(http={"public_base_url": "https://city.example/311"}))
    try:
        form = inbound("Missed pickup")
        async with _client(svc) as client:
            response = await post_signed(client, SMS_PATH, form, signed_url="https://city.example/311" + SMS_PATH)
        assert response.status_code == 200
    finally:
        await svc.stop()


async def test_without_signature_checking_unsigned_texts_are_taken(settings: Settings, db_url: str) -> None:
    svc = await _service(sms_settings(settings, db_url, validate_signature=False, auth_token=""))
    try:
        async with _client(svc) as client:
            response = await client.post(SMS_PATH, data=inbound("Dead animal on the road"))
        assert response.status_code == 200 and len(await _raw_rows(svc)) == 1
    finally:
        await svc.stop()


async def test_no_auth_token_means_no_texts_are_taken(settings: Settings, db_url: str) -> None:
    svc = await _service(sms_settings(settings, db_url, auth_token=""))
    try:
        async with _client(svc) as client:
            response = await post_signed(client, SMS_PATH, inbound("Pothole"), token="")
        assert response.status_code == 403 and await _raw_rows(svc) == []
    finally:
        await svc.stop()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"][:50])
def test_signature_vectors(vector: dict) -> None:
    if "raw_body" in vector:
        params: object = vector["raw_body"]
    elif "params_multi" in vector:
        from starlette.datastructures import ImmutableMultiDict

        params = ImmutableMultiDict(vector["params_multi"])
    else:
        params = vector["params"]
    assert signature_valid(vector["auth_token"], [vector["url"]], params, vector["signature"]) is vector["valid"]


@pytest.mark.parametrize("case", VECTORS["validation_relations"], ids=lambda c: f"{c['signed_url']}|{c['request_url']}")
def test_signed_and_requested_url_relations(case: dict) -> None:
    sig = signature(case["signed_url"], case["params"], case["auth_token"])
    assert signature_valid(case["auth_token"], [case["request_url"]], case["params"], sig) is case["valid"]


# ---- delivery receipts ----------------------------------------------------------------------------------------


async def _sent_text(service: Inbox311, sid: str, recipient: str = RESIDENT) -> int:
    async with service.db.write() as session:
        row = await enqueue_outbox(
            session=session,
            channel="sms",
            kind="ack",
            recipient=recipient,
            payload={"body": "hi"},
            state=OutboxState.SENT,
        )
        row.provider_id = sid
        return row.id


def _receipt(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {"SmsSid": sid, "SmsStatus": status, "MessageStatus": status, "To": RESIDENT, "MessageSid": sid,
            "AccountSid": "AC" + "0" * 32, "From": "+13125550199", "ApiVersion": "2010-04-01", **extra}  # fmt: skip


async def _outbox(service: Inbox311, outbox_id: int) -> Outbox:
    async with service.db.read() as session:
        row = await session.get(Outbox, outbox_id)
        assert row is not None
        return row


async def test_delivery_receipt_marks_the_row_delivered_and_a_late_sent_does_not_undo_it(service: Inbox311) -> None:
    sid = new_sid()
    outbox_id = await _sent_text(service, sid)
    async with _client(service) as client:
        delivered = await post_signed(client, f"{STATUS_PATH}?outbox={outbox_id}", _receipt(sid, "delivered"))
        late = await post_signed(client, f"{STATUS_PATH}?outbox={outbox_id}", _receipt(sid, "sent"))
    assert delivered.status_code == late.status_code == 204
    assert (await _outbox(service, outbox_id)).state == OutboxState.DELIVERED


async def test_receipt_found_by_sid_alone(service: Inbox311) -> None:
    sid = new_sid()
    outbox_id = await _sent_text(service, sid)
    async with _client(service) as client:
        await post_signed(client, STATUS_PATH, _receipt(sid, "undelivered", ErrorCode="30003"))
    row = await _outbox(service, outbox_id)
    assert row.state == OutboxState.BOUNCED and row.error == "undelivered 30003"


@pytest.mark.parametrize(("code", "opted_out", "bounced"), [("21610", True, False), ("30006", False, True)])
async def test_failed_receipt_marks_the_number(service: Inbox311, code: str, opted_out: bool, bounced: bool) -> None:
    sid = new_sid()
    outbox_id = await _sent_text(service, sid)
    async with _client(service) as client:
        await post_signed(client, f"{STATUS_PATH}?outbox={outbox_id}", _receipt(sid, "failed", ErrorCode=code))
    assert (await _outbox(service, outbox_id)).state == OutboxState.BOUNCED
    async with service.db.read() as session:
        contact = (await session.execute(select(Contact).where(Contact.address == RESIDENT))).scalar_one()
    assert (contact.opted_out, contact.bounced) == (opted_out, bounced)


async def test_receipts_must_be_signed_too(service: Inbox311) -> None:
    sid = new_sid()
    outbox_id = await _sent_text(service, sid)
    async with _client(service) as client:
        forged = await client.post(
            STATUS_PATH, data=_receipt(sid, "delivered"), headers={"X-Twilio-Signature": "AAAA" + TOKEN}
        )
        unknown = await post_signed(client, STATUS_PATH, _receipt(new_sid(), "delivered"))
    assert forged.status_code == 403 and unknown.status_code == 204
    assert (await _outbox(service, outbox_id)).state == OutboxState.SENT
