"""`inbox311 serve` as a real process: one line per listener, clean stop on SIGTERM, and recovery after SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest

from tests.gateway.conftest import report
from tests.smtp_sink import SmtpSink


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    def __init__(self, tmp_path: Path, relay_port: int) -> None:
        self.smtp_port, self.http_port = free_port(), free_port()
        self.log = tmp_path / "serve.log"
        self.config = tmp_path / "inbox311.toml"
        self.config.write_text(
            f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/inbox311.db"\n'
            f"[smtp]\nport = {self.smtp_port}\n[http]\nport = {self.http_port}\n"
            f"[outbound.email]\nrelay_port = {relay_port}\n"
            "[outbox]\nbackoff_base_seconds = 0.1\nbackoff_max_seconds = 0.5\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX311__")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            env=env,
        )
        for _ in range(1200):  # start-up loads the classifier model; allow for a busy machine
            if "http: listening" in self.log.read_text():
                return
            assert self.proc.poll() is None, self.log.read_text()
            await asyncio.sleep(0.05)
        raise AssertionError(f"serve did not start:\n{self.log.read_text()}")

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "gateway", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout

    async def send(self, n: int) -> None:
        msg = report(
            subject=f"Graffiti {n}",
            body=f"Tags on the wall at {n} Main St.",
            message_id=f"<proc{n}@resident.example>",
            sender=f"r{n}@resident.example",
        )
        await aiosmtplib.send(msg, hostname="127.0.0.1", port=self.smtp_port)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return await asyncio.to_thread(self.proc.wait, 30)


@pytest.fixture
def procs() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for p in started:
        if p.proc is not None and p.proc.poll() is None:
            p.proc.kill()


async def test_sigterm_stops_cleanly_after_logging_listeners(tmp_path: Path, procs: list[ServeProcess]) -> None:
    sink = await SmtpSink().start()
    serve = ServeProcess(tmp_path, sink.port)
    procs.append(serve)
    await serve.start()
    await asyncio.gather(*(serve.send(n) for n in range(10)))
    await sink.handler.wait_for(10, within=20)
    assert await serve.stop(signal.SIGTERM) == 0
    log = serve.log.read_text()
    assert "smtp: listening on 127.0.0.1" in log and "http: listening on 127.0.0.1" in log
    assert log.count("smtp: accepted raw=") == 10
    assert "r1@resident.example" not in log and "r***@resident.example" in log  # addresses are redacted
    assert "inbox311: stopped" in log
    await sink.stop()


async def test_sigkill_with_work_in_flight_loses_nothing(tmp_path: Path, procs: list[ServeProcess]) -> None:
    sink = await SmtpSink().start()
    relay_port = sink.port
    await sink.stop()  # the relay is down: acknowledgements stay queued in the outbox
    serve = ServeProcess(tmp_path, relay_port)
    procs.append(serve)
    await serve.start()
    await asyncio.gather(*(serve.send(n) for n in range(40)))  # every one was answered 250
    await serve.stop(signal.SIGKILL)

    await sink.start(relay_port)
    again = ServeProcess.__new__(ServeProcess)
    again.__dict__.update(serve.__dict__)
    procs.append(again)
    await again.start()
    messages = await sink.handler.wait_for(40, within=60)
    await asyncio.sleep(1.0)
    assert await again.stop() == 0
    replies = [m["In-Reply-To"] for m in sink.handler.messages]
    assert len(replies) == len(set(replies)) == 40, f"{len(messages)} replies for 40 reports"
    tickets = again.cli("tickets", "list", "--format", "json")
    assert tickets.count('"tracking_number"') == 40
    await sink.stop()
