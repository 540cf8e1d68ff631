"""The outbox's email sender reads each envelope address once: aiosmtplib's address parsing, cached, answers exactly
as before, still refuses an address that could smuggle SMTP parameters, and the relay gets the right envelope."""

from __future__ import annotations

import aiosmtplib.email
import aiosmtplib.smtp
import pytest

import gateway.outbox.email as outbox_email
from gateway.outbox.email import SmtpSender
from gateway.settings import EmailOutboundSettings
from tests.smtp_sink import SmtpSink

ADDRESSES = [
    "jane@resident.example",
    "Jane Doe <jane@resident.example>",
    '"Doe, Jane" <jane.doe+311@resident.example>',
    '"odd <quoted> local"@resident.example',
    "  padded@resident.example  ",
    "",
]
SMUGGLING = ["jane NOTIFY=SUCCESS@resident.example", "jane\tdoe@resident.example", "<>"]  # refused by aiosmtplib


def test_cached_parse_is_aiosmtplibs_own_and_used_by_every_command() -> None:
    cached = outbox_email._parse_address
    assert aiosmtplib.smtp.parse_address is cached  # sendmail's check
    assert aiosmtplib.email.parse_address is cached  # MAIL and RCPT, through quote_address
    original = cached.__wrapped__
    for address in ADDRESSES * 2:  # the second time from the cache
        assert cached(address) == original(address)
    assert aiosmtplib.email.quote_address("Jane <jane@resident.example>") == "<jane@resident.example>"


@pytest.mark.parametrize("address", SMUGGLING)
def test_an_address_that_could_smuggle_parameters_is_refused_every_time(address: str) -> None:
    for _ in range(2):  # a refusal is never cached as an answer
        with pytest.raises(ValueError):
            aiosmtplib.smtp.parse_address(address)


async def test_replies_reach_the_relay_with_their_envelope(sink: SmtpSink) -> None:
    settings = EmailOutboundSettings(relay_host="127.0.0.1", relay_port=sink.port, **{"from": "City 311 <r@c.example>"})
    sender = SmtpSender(settings)
    try:
        for n in range(3):  # the same resident again: the addresses come from the cache
            payload = {"from": "City 311 <r@c.example>", "to": "Jane Doe <jane@resident.example>",
                       "subject": f"Re: pothole {n}", "text": "Thank you."}  # fmt: skip
            await sender.send_payload(payload)
    finally:
        await sender.close()
    envelopes = sink.handler.envelopes
    assert [(e.mail_from, e.rcpt_tos) for e in envelopes] == [("r@c.example", ["jane@resident.example"])] * 3
    assert [m["Subject"] for m in sink.handler.messages] == ["Re: pothole 0", "Re: pothole 1", "Re: pothole 2"]
