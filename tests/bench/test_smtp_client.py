"""The benchmark's SMTP client delivers exactly what aiosmtplib delivers, pipelined where the server offers it."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP

from gateway.ingest.smtp_scan import IngestSMTP
from tests.smtp_keeper import Keeper

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _client_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_smtp_client", BENCH / "_smtp_client.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


client = _client_module()

MESSAGES = [
    b"Subject: one\r\n\r\nPothole on Elm St.\r\n",
    b"Subject: two\r\n\r\n.a line that starts with a dot\r\n.\r\n..\r\nend",  # stuffed, and no final CRLF
    b".Subject: three\r\n\r\nbare\nline ends\n",
    b"Subject: four\r\n\r\n" + (b"x" * 70 + b"\r\n") * 100,
]


@asynccontextmanager
async def serving(protocol: type[SMTP]) -> AsyncIterator[tuple[Keeper, int]]:
    keeper = Keeper()
    server = await asyncio.get_running_loop().create_server(lambda: protocol(keeper, decode_data=False), "127.0.0.1", 0)
    try:
        yield keeper, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(("protocol", "pipelined"), [(SMTP, False), (IngestSMTP, True)], ids=["aiosmtpd", "ingest"])
async def test_delivers_the_same_bytes_as_aiosmtplib(protocol: type[SMTP], pipelined: bool) -> None:
    async with serving(protocol) as (keeper, port):
        reference = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await reference.connect()
        for data in MESSAGES:
            await reference.sendmail("jane@resident.example", ["reports@city.example"], data)
        await reference.quit()
        expected, keeper.contents = keeper.contents, []

        session = client.PlainSMTP("127.0.0.1", port, timeout=10)
        await session.connect()
        assert session.pipelining is pipelined
        for data in MESSAGES:
            await session.send("jane@resident.example", "reports@city.example", data)
        await session.quit()
        assert keeper.contents == expected
        assert len(expected) == len(MESSAGES)


@pytest.mark.parametrize("protocol", [SMTP, IngestSMTP], ids=["aiosmtpd", "ingest"])
async def test_a_refused_message_raises_and_the_session_goes_on(protocol: type[SMTP]) -> None:
    async with serving(protocol) as (keeper, port):
        session = client.PlainSMTP("127.0.0.1", port, timeout=10)
        await session.connect()
        with pytest.raises(client.Refused, match=r"550 5\.1\.1"):
            await session.send("jane@resident.example", "someone@elsewhere.example", MESSAGES[0])
        with pytest.raises(client.Refused, match="553"):
            await session.send("jane@@", "reports@city.example", MESSAGES[0])
        await session.send("jane@resident.example", "reports@city.example", MESSAGES[1])
        await session.quit()
        assert len(keeper.contents) == 1


def test_wire_data_stuffs_dots_and_ends_lines() -> None:
    assert client.wire_data(b"a\r\n.b\r\n") == b"a\r\n..b\r\n.\r\n"
    assert client.wire_data(b".x") == b"..x\r\n.\r\n"
    assert client.wire_data(b"a\nb\n") == b"a\r\nb\r\n.\r\n"
    assert client.wire_data(b"") == b"\r\n.\r\n"


def test_the_edge_benchmark_runs_both_protocols_under_both_clients() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.smtp_edge", "--messages", "40", "--connections", "4", "--rounds", "1"],
        cwd=BENCH.parent, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    rows = re.findall(r"^  (\w+) +with (\w+) +(\d+) msg/s +server ([\d.]+) ms/msg", out.stdout, re.MULTILINE)
    assert {(protocol, client) for protocol, client, *_ in rows} == {
        (p, c) for p in ("aiosmtpd", "ingest") for c in ("plain", "aiosmtplib")
    }
    # (a server's CPU is read from /proc in clock ticks of 10 ms, which 40 messages may not fill: not checked here)
    assert all(int(rate) > 0 for *_, rate, _ in rows)
