"""`inbox311 serve` as a real process: one line per listener, clean stop on SIGTERM, and recovery after SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest

from tests.gateway.conftest import report
from tests.smtp_sink import SmtpSink

TAG = "INBOX311_TEST_SERVE_TAG"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    def __init__(self, tmp_path: Path, relay_port: int, host: str = "127.0.0.1") -> None:
        self.smtp_port, self.http_port = free_port(), free_port()
        self.log = tmp_path / "serve.log"
        self.config = tmp_path / "inbox311.toml"
        self.config.write_text(
            f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/inbox311.db"\n'
            f'[smtp]\nhost = "{host}"\nport = {self.smtp_port}\n[http]\nhost = "{host}"\nport = {self.http_port}\n'
            f"[outbound.email]\nrelay_port = {relay_port}\n"
            "[outbox]\nbackoff_base_seconds = 0.1\nbackoff_max_seconds = 0.5\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.tag = uuid.uuid4().hex

    def processes_left(self) -> list[int]:
        """Processes still carrying this service's tag in their environment (the service and its children)."""
        left = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and f"{TAG}={self.tag}".encode() in (entry / "environ").read_bytes():
                    left.append(int(entry.name))
            except OSError:  # gone meanwhile, or not ours to read
                continue
        return left

    async def start(self, *, wait: bool = True, own_group: bool = False) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX311__")}
        env[TAG] = self.tag  # inherited by the child processes: tells which are this service's
        before = self.log.stat().st_size if self.log.exists() else 0  # a restart appends to the same log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            env=env,
            start_new_session=own_group,  # its own process group, as a service manager starts it
        )
        if not wait:
            return
        for _ in range(1200):  # start-up loads the classifier model; allow for a busy machine
            if b"http: listening" in self.log.read_bytes()[before:]:
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


async def test_sigterm_to_the_whole_group_under_load_stops_cleanly_and_loses_nothing(
    tmp_path: Path, procs: list[ServeProcess]
) -> None:
    """systemd (KillMode=control-group), docker and `timeout` signal every process of the service at once: the
    children must stay up for the service to finish its work in hand, and stop with it."""
    sink = await SmtpSink().start()
    serve = ServeProcess(tmp_path, sink.port)
    procs.append(serve)
    await serve.start(own_group=True)
    accepted: list[int] = []
    under_way = asyncio.Event()

    async def resident(n: int) -> None:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):  # refused once the service is stopping
            await serve.send(n)
            accepted.append(n)
            if len(accepted) == 20:
                under_way.set()

    load = [asyncio.create_task(resident(n)) for n in range(300)]
    await asyncio.wait_for(under_way.wait(), 60)
    assert serve.proc is not None
    os.killpg(serve.proc.pid, signal.SIGTERM)
    assert await asyncio.to_thread(serve.proc.wait, 60) == 0
    await asyncio.gather(*load)
    log = serve.log.read_text()
    assert "inbox311: stopped" in log
    assert "process was lost" not in log and "sending process ended" not in log and " ERROR " not in log

    again = ServeProcess.__new__(ServeProcess)
    again.__dict__.update(serve.__dict__)
    procs.append(again)
    await again.start()
    await sink.handler.wait_for(len(accepted), within=60)
    await asyncio.sleep(1.0)  # room for a reply sent twice to show
    assert await again.stop() == 0
    replied = sorted(m["In-Reply-To"] for m in sink.handler.messages)
    assert replied == sorted(f"<proc{n}@resident.example>" for n in accepted)  # each one answered, once
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


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # bound before the model loads / when it starts
@pytest.mark.parametrize("listener", ["smtp", "http"])
async def test_an_address_in_use_stops_the_start_with_one_clear_line(
    tmp_path: Path, procs: list[ServeProcess], listener: str, host: str
) -> None:
    serve = ServeProcess(tmp_path, free_port(), host)
    procs.append(serve)
    port = serve.smtp_port if listener == "smtp" else serve.http_port
    with socket.create_server(("127.0.0.1", port)):  # another program holds the address
        await serve.start(wait=False)
        assert serve.proc is not None
        code = await asyncio.to_thread(serve.proc.wait, 120)
    log = serve.log.read_text()
    assert code == 1, log
    assert f"ERROR gateway.app inbox311: {listener}: cannot listen on {host}:{port}: address already in use" in log
    assert "Traceback" not in log
    # Nothing of it is left running: with a name for host, the parse and sending processes had started and were
    # stopped (multiprocessing's resource tracker follows its parent out within moments; a child would stay).
    for _ in range(100):
        if not serve.processes_left():
            break
        await asyncio.sleep(0.1)
    assert serve.processes_left() == []
