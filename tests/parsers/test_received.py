"""Relay paths and mail loops: a message that went round the same relays too often is refused with the relay named."""

from __future__ import annotations

import pytest

from parsers.email import EmailParseError, parse_email
from parsers.received import MAX_RELAY_HOPS, relay_path


def trace(hops: int) -> bytes:
    fields = [
        f"Received: from mx{n % 2}.loop.example (mx{n % 2}.loop.example [192.0.2.{n % 2 + 1}])\r\n"
        f" by mx{(n + 1) % 2}.loop.example (Postfix) with ESMTP id A{n}; Mon, 23 Nov 2026 10:{n % 60:02d}:00 +0000\r\n"
        for n in range(hops)
    ]
    head = (
        "From: Resident <r@resident.example>\r\nTo: reports@city.example\r\nSubject: pothole\r\n"
        "Message-ID: <loop@resident.example>\r\n\r\nThere is a pothole on Oak Ave.\r\n"
    )
    return ("".join(fields) + head).encode()


def test_a_normal_trace_parses() -> None:
    assert parse_email(trace(4)).subject == "pothole"


def test_a_looping_message_is_refused_naming_the_relay() -> None:
    with pytest.raises(EmailParseError) as caught:
        parse_email(trace(MAX_RELAY_HOPS + 5))
    assert caught.value.reason_code == "mail-loop"
    assert f"{MAX_RELAY_HOPS + 5} Received fields" in caught.value.detail
    assert "loop.example relayed it" in caught.value.detail


def test_relay_path_reads_each_hop_first_relay_first() -> None:
    received = [
        "from b.example (b.example [192.0.2.9]) by mx.city.example with ESMTPS id X; Mon, 23 Nov 2026 10:00:07 +0000",
        "from [10.0.0.2] (unknown [198.51.100.7]) by b.example with ESMTPSA id Y; Mon, 23 Nov 2026 10:00:01 +0000",
    ]
    hops = relay_path(received)
    assert [hop["by"].split()[0] for hop in hops] == ["b.example", "mx.city.example"]
    assert hops[1]["delay"] == 6.0
