"""Whatever arrives, the worker ends every message as a ticket change or as a row with a reason, and keeps going."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from email.message import EmailMessage

from sqlalchemy import delete, func, select, update

from gateway.app import Inbox311
from gateway.settings import Settings
from storage.models import Attachment, Blob, RawBody, RawInbound, RawState
from storage.raw import NewRaw, list_raw, store_raw_batch
from tests.gateway.conftest import service_settings
from tests.parsers.email_fixtures import EMAIL, all_message_files
from tests.smtp_sink import SmtpSink

SETTLED = {RawState.DONE, RawState.QUARANTINED, RawState.DISCARDED, RawState.HELD}


def mutate(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    match rng.randrange(4):
        case 0:  # flip bytes
            for _ in range(rng.randint(1, 20)):
                if data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
        case 1:  # truncate
            data = data[: rng.randrange(len(data) + 1)]
        case 2:  # duplicate a header block
            head, sep, body = bytes(data).partition(b"\n\n")
            data = bytearray(head + b"\n" + head + sep + body)
        case _:  # damage MIME boundaries
            data = bytearray(bytes(data).replace(b"--", b"-", rng.randint(1, 5)))
    return bytes(data)


async def test_mutated_corpus_through_the_whole_pipeline(settings: Settings, sqlite_url: str, sink: SmtpSink) -> None:
    rng = random.Random(311)
    files = all_message_files()
    samples = [mutate(rng.choice(files).read_bytes(), rng) for _ in range(300)]
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port, replies={"per_sender_per_hour": 1000}))
    await svc.start()
    try:
        async with svc.db.write() as session:
            await store_raw_batch(
                session=session,
                items=[
                    NewRaw(channel="email", source="fuzz", idempotency_key=f"fuzz:{i}", raw=raw)
                    for i, raw in enumerate(samples)
                ],
            )
        await svc.worker.drain(within=300)
        async with svc.db.read() as session:
            rows = await list_raw(session=session, limit=1000)
        assert svc.worker.running and svc.smtp.running
    finally:
        await svc.stop()
    assert len(rows) == 300
    assert {r.state for r in rows} <= SETTLED
    unsettled_reasons = [r for r in rows if r.state != RawState.DONE and not r.reason]
    assert unsettled_reasons == []
    crashes = [r.reason for r in rows if r.reason and ("Error:" in r.reason or "parse-unparseable" in r.reason)]
    assert crashes == [], "a stage raised instead of deciding"
    reasons = Counter((r.reason or "").split(":")[0] + ":" + (r.reason or "").split(":")[1] for r in rows if r.reason)
    print(f"\nfuzzed pipeline: {sum(r.state == RawState.DONE for r in rows)} done; set aside: {dict(reasons)}")


async def test_photo_is_stored_once_with_its_gps(service: Inbox311, sink: SmtpSink) -> None:
    photo = (EMAIL / "piexif" / "r_canon.jpg").read_bytes()  # a real camera JPEG
    for n in range(2):
        m = EmailMessage()
        m["From"] = f"r{n}@resident.example"
        m["To"] = "reports@city.example"
        m["Subject"] = "Broken sign"
        m["Message-ID"] = f"<photo{n}@resident.example>"
        m.set_content("See the photo.")
        m.add_attachment(photo, maintype="image", subtype="jpeg", filename="../../etc/passwd\x07.jpg")
        async with service.db.write() as session:
            await store_raw_batch(
                session=session, items=[NewRaw(channel="email", source="t", idempotency_key=f"p{n}", raw=m.as_bytes())]
            )
    await service.worker.drain()
    async with service.db.read() as session:
        attachments = list((await session.execute(select(Attachment))).scalars())
        blobs = (await session.execute(select(func.count()).select_from(Blob))).scalar_one()
    assert len(attachments) == 2 and blobs == 1
    assert all("/" not in a.filename and "\x07" not in a.filename for a in attachments)
    assert attachments[0].content_type == "image/jpeg"


async def test_quarantined_message_can_be_replayed_from_the_cli(
    settings: Settings, sqlite_url: str, sink: SmtpSink, tmp_path
) -> None:
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port))
    await svc.start()
    await svc.worker.stop()
    async with svc.db.write() as session:
        await store_raw_batch(
            session=session,
            items=[NewRaw(channel="email", source="t", idempotency_key="q1", raw=b"From: a@b.example\r\n\r\n")],
        )
    async with svc.db.write() as session:
        await session.execute(update(RawInbound).values(state=RawState.QUARANTINED, reason="test: set aside"))
    await svc.stop()
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "{sqlite_url}"\n')
    listed = subprocess.run(
        [sys.executable, "-m", "gateway", "raw", "list", "--state", "quarantined", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "test: set aside" in listed
    replay = subprocess.run(
        [sys.executable, "-m", "gateway", "raw", "replay", "1", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert replay.startswith("1 message(s) queued")
    listed = subprocess.run(
        [sys.executable, "-m", "gateway", "raw", "list", "--state", "pending", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "\n1 " in listed


async def test_a_row_whose_bytes_are_missing_is_quarantined_and_the_next_is_answered(
    settings: Settings, sqlite_url: str, sink: SmtpSink
) -> None:
    """Only a damaged database has a queue row without its bytes: the row is set aside with the reason, once, and
    the rest of its batch goes on."""
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port))
    await svc.start()
    try:
        await svc.worker.stop()
        report = b"From: r@resident.example\r\nTo: reports@city.example\r\nSubject: pothole\r\n\r\nPothole, Main St\r\n"
        async with svc.db.write() as session:
            [lost, kept] = await store_raw_batch(
                session=session,
                items=[NewRaw(channel="email", source="t", idempotency_key=f"b{n}", raw=report) for n in (1, 2)],
            )
            await session.execute(delete(RawBody).where(RawBody.raw_id == lost.raw_id))
        await svc.worker.start()
        await svc.worker.drain()
        async with svc.db.read() as session:
            rows = {r.id: r for r in await list_raw(session=session)}
    finally:
        await svc.stop()
    assert rows[lost.raw_id].state == RawState.QUARANTINED
    assert rows[lost.raw_id].reason == "raw-body: the message's bytes are missing"
    assert rows[kept.raw_id].state == RawState.DONE and rows[kept.raw_id].ticket_id is not None
