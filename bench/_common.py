"""Shared parts of the benchmarks: report emails from real 311 texts, a timed SMTP client load, and statistics.

Timestamps are `time.monotonic()`, which on Linux is CLOCK_MONOTONIC, one clock for every process on the machine:
a send time taken here and an arrival time taken in the sink process can be subtracted.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import os
import random
import re
import resource
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr
from html import escape
from pathlib import Path

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.ingest.smtp_scan import IngestSMTP

if str(Path(__file__).resolve().parent) not in sys.path:  # (imported as bench._common: its siblings too)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from _smtp_client import PlainSMTP, Refused

DATA_DIR = Path(__file__).parent / "data"
REPORTS_CSV = DATA_DIR / "reports_sample.csv"

_FIRST = ("maria", "james", "aisha", "wei", "carlos", "olivia", "dmitri", "fatima", "kevin", "rosa", "tomas", "grace")
_LAST = ("garcia", "smith", "okafor", "chen", "rivera", "johnson", "kowalski", "haddad", "nguyen", "oconnor")
_PROVIDERS = ("mail.example", "inbox.example", "post.example")


@dataclass(frozen=True, slots=True)
class Report:
    category: str
    address: str
    text: str


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    message_id: str  # without angle brackets
    sender: str
    recipient: str
    data: bytes


def load_reports(path: Path = REPORTS_CSV) -> list[Report]:
    with path.open(encoding="utf-8", newline="") as f:
        return [Report(r["category"], r["address"], r["text"]) for r in csv.DictReader(f)]


def _fake_signature(seed: str, length: int) -> str:
    """Deterministic base64 that looks like a DKIM/ARC signature and costs the parser the same to read."""
    digest = b"".join(hashlib.sha256(f"{seed}:{n}".encode()).digest() for n in range(length // 32 + 1))
    return base64.b64encode(digest).decode()[:length]


def _fold(value: str, width: int = 76) -> str:
    return "\r\n\t".join(value[i : i + width] for i in range(0, len(value), width))


def _trace_headers(i: int, provider: str, when: datetime, domain: str) -> str:
    """What a big mail provider and the city's MTA put in front of a message: Received, ARC, DKIM, auth results."""
    stamp = format_datetime(when)
    ip = f"198.51.100.{i % 250 + 1}"
    auth = (
        f"mx.{domain}; dkim=pass header.d={provider}; spf=pass smtp.mailfrom={provider}; "
        f"dmarc=pass header.from={provider}"
    )
    lines = [
        f"Received: from mail-out{i % 40}.{provider} (mail-out{i % 40}.{provider} [{ip}])\r\n"
        f"\tby mx.{domain} (Postfix) with ESMTPS id {_fake_signature(f'q{i}', 12)}\r\n"
        f"\tfor <reports@{domain}>; {stamp}",
        f"Received: by 2002:a05:6a10:{i % 9999:x}:b0:5e1:{i % 4096:x}:{i % 997:x} with SMTP id u{i};\r\n\t{stamp}",
        f"Authentication-Results: {auth}",
        f"ARC-Seal: i=1; a=rsa-sha256; t={int(when.timestamp())}; cv=none; d={provider}; s=arc-20240605;\r\n"
        f"\tb={_fold(_fake_signature(f'arc{i}', 344))}",
        f"ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d={provider}; s=arc-20240605;\r\n"
        f"\th=to:subject:message-id:date:from:mime-version; bh={_fake_signature(f'bh{i}', 44)};\r\n"
        f"\tb={_fold(_fake_signature(f'ams{i}', 344))}",
        f"ARC-Authentication-Results: i=1; {auth}",
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={provider}; s=20240605;\r\n"
        f"\tt={int(when.timestamp())};\r\n"
        f"\th=to:subject:message-id:date:from:mime-version:from:to:cc:subject:date:message-id:reply-to;\r\n"
        f"\tbh={_fake_signature(f'bh{i}', 44)};\r\n\tb={_fold(_fake_signature(f'dkim{i}', 344))}",
        f"X-Received: by 2002:a17:906:{i % 4096:x} with SMTP id a{i}; {stamp}",
    ]
    return "\r\n".join(lines) + "\r\n"


def _report_part(n: int, report: Report, domain: str) -> tuple[str, bytes, bytes]:
    """The part of a mail that depends only on the report: (signer's name, Subject/To/MIME headers and body, the
    multipart's boundary)."""
    rng = random.Random(n)
    name = f"{rng.choice(_FIRST).title()} {rng.choice(_LAST).title()}"
    text = f"Hello,\n\n{report.text}\n\nLocation: {report.address}\n\nThank you,\n{name}\n\nSent from my phone\n"
    paragraphs = "".join(f'<div dir="ltr">{escape(p)}</div><br>' for p in report.text.splitlines() if p.strip())
    html = (
        '<div dir="ltr"><div dir="ltr">Hello,</div><br>'
        f"{paragraphs}"
        f'<div dir="ltr"><b>Location:</b> <span style="font-family:arial,sans-serif">{escape(report.address)}</span>'
        f'</div><br><div dir="ltr">Thank you,<br>{escape(name)}</div><br>'
        '<div class="gmail_signature" data-smartmail="gmail_signature">Sent from my phone</div></div>\n'
    )
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["MIME-Version"] = "1.0"
    msg["Subject"] = f"{report.category} at {report.address}"
    msg["To"] = formataddr(("City 311", f"reports@{domain}"))
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return name, msg.as_bytes(), msg.get_boundary("").encode()


def build_mails(count: int, *, run_id: str, domain: str) -> list[OutgoingMail]:
    """`count` reports from different residents, as a phone mail app sends them: text and HTML alternatives under
    the headers a large mail provider and the city's MTA add (Received, ARC, DKIM, Authentication-Results)."""
    reports = load_reports()
    parts = [_report_part(n, r, domain) for n, r in enumerate(reports[:count])]
    when = datetime.now(UTC).replace(microsecond=0)
    mails = []
    for i in range(count):
        name, part, boundary = parts[i % len(parts)]
        # A new boundary for every mail, as mail programs make them (the reports repeat after a few hundred mails;
        # a parser that compiles something per boundary must not find it cached).
        part = part.replace(boundary, b"===============%019d==" % random.Random(f"{run_id}-{i}").getrandbits(60))
        provider = _PROVIDERS[i % len(_PROVIDERS)]
        sender = f"{name.lower().replace(' ', '.')}{i}@{provider}"
        message_id = f"bench-{run_id}-{i}@{provider}"
        own = f"From: {formataddr((name, sender))}\r\nDate: {format_datetime(when)}\r\nMessage-ID: <{message_id}>\r\n"
        data = (_trace_headers(i, provider, when, domain) + own).encode() + part
        mails.append(OutgoingMail(message_id=message_id, sender=sender, recipient=f"reports@{domain}", data=data))
    return mails


# ---- load -------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class LoadResult:
    started: float = 0.0
    finished: float = 0.0
    sent: dict[str, tuple[float, float]] = field(default_factory=dict)  # message_id -> (send start, reply 250)
    errors: list[str] = field(default_factory=list)
    client_cpu: float = 0.0  # this process's CPU seconds while sending

    @property
    def rate(self) -> float:
        return len(self.sent) / (self.finished - self.started) if self.finished > self.started else 0.0

    def transaction_ms(self) -> list[float]:
        return [(done - start) * 1000 for start, done in self.sent.values()]


def cpu_seconds_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


CLIENTS = ("plain", "aiosmtplib")  # the load generator's SMTP client: `_smtp_client.PlainSMTP`, or aiosmtplib's


def _client(kind: str, host: str, port: int) -> PlainSMTP | aiosmtplib.SMTP:
    if kind == "aiosmtplib":
        return aiosmtplib.SMTP(hostname=host, port=port, timeout=120, start_tls=False)
    return PlainSMTP(host, port, timeout=120)


async def _send(client: PlainSMTP | aiosmtplib.SMTP, mail: OutgoingMail) -> None:
    if isinstance(client, PlainSMTP):
        await client.send(mail.sender, mail.recipient, mail.data)
    else:
        await client.sendmail(mail.sender, [mail.recipient], mail.data)


async def _connect(client: PlainSMTP | aiosmtplib.SMTP) -> None:
    await client.connect()
    if not isinstance(client, PlainSMTP):
        await client.ehlo()


async def drive_smtp(
    port: int,
    mails: list[OutgoingMail],
    connections: int,
    *,
    rate: float | None = None,
    host: str = "127.0.0.1",
    client: str = "plain",
) -> LoadResult:
    """Send every mail over `connections` reused SMTP sessions and time each one.

    Without `rate`, as fast as the server answers (closed loop). With `rate` (messages per second over all
    sessions), mail i is due at start + i/rate and its latency counts from then, so a server that falls behind
    is charged for the wait (no coordinated omission). `client` is one of CLIENTS.
    """
    result = LoadResult()
    clients = [_client(client, host, port) for _ in range(connections)]
    await asyncio.gather(*(_connect(c) for c in clients))
    queue = enumerate(mails)

    async def work(session: PlainSMTP | aiosmtplib.SMTP) -> None:
        for i, mail in queue:  # one shared iterator: every session takes the next mail when it is free
            start = time.monotonic()
            if rate:
                due = result.started + i / rate
                if due > start:
                    await asyncio.sleep(due - start)
                start = due
            try:
                if not session.is_connected:
                    await _connect(session)
                await _send(session, mail)
            except Refused as exc:  # (the session was reset and goes on)
                result.errors.append(f"{mail.message_id}: refused: {exc}")
                continue
            except (aiosmtplib.SMTPException, OSError, EOFError, TimeoutError) as exc:
                if isinstance(session, PlainSMTP):
                    session.close()  # in an unknown state: the next mail opens a new session
                result.errors.append(f"{mail.message_id}: {type(exc).__name__}: {exc}")
                continue
            result.sent[mail.message_id] = (start, time.monotonic())

    cpu = cpu_seconds_self()
    result.started = time.monotonic()
    await asyncio.gather(*(work(c) for c in clients))
    result.finished = time.monotonic()
    result.client_cpu = cpu_seconds_self() - cpu
    for c in clients:
        try:
            await c.quit()
        except (aiosmtplib.SMTPException, OSError, EOFError, TimeoutError):
            c.close()
    return result


async def drive_split(
    ports: Sequence[int],
    mails: list[OutgoingMail],
    connections: int,
    *,
    rate: float | None = None,
    client: str = "plain",
) -> LoadResult:
    """`drive_smtp` into several servers at once (instances of one service): mail i goes to server i mod n, over
    its share of the connections, at its share of the rate; one result for all of them."""
    if len(ports) == 1:
        return await drive_smtp(ports[0], mails, connections, rate=rate, client=client)
    n = len(ports)
    cpu = cpu_seconds_self()
    parts = await asyncio.gather(
        *(
            drive_smtp(port, mails[k::n], max(1, connections // n), rate=rate / n if rate else None, client=client)
            for k, port in enumerate(ports)
        )
    )
    merged = LoadResult(started=min(p.started for p in parts), finished=max(p.finished for p in parts))
    for part in parts:
        merged.sent.update(part.sent)
        merged.errors.extend(part.errors)
    merged.client_cpu = cpu_seconds_self() - cpu  # (each part's own figure counts the others' sending too)
    return merged


# ---- numbers ----------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: list[float]) -> float:
    return percentile(values, 50)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of another process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_cpu_ticks() -> tuple[int, int]:
    """(idle, total) clock ticks of all the machine's cores so far (Linux /proc/stat): idle includes I/O wait."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return fields[3] + fields[4], sum(fields)


def idle_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU time that was idle between two `machine_cpu_ticks`."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started (the service's parse and sending processes)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def children_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of the processes `pid` started, summed by their names (the service names its children)."""
    by_name: dict[str, float] = {}
    for child in child_pids(pid):
        name = Path(f"/proc/{child}/comm").read_text().strip()
        by_name[name] = by_name.get(name, 0.0) + process_cpu_seconds(child)
    return by_name


# ---- the servers the load goes to, each in a process of its own -----------------------------------------------------

_IN_REPLY_TO = re.compile(rb"^In-Reply-To:[ \t]*<([^>\r\n]+)>", re.IGNORECASE | re.MULTILINE)


class BareHandler:
    """The baseline: aiosmtpd and nothing else; every message is answered 250 and forgotten."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 OK"


class SinkHandler:
    """The relay the service sends its replies to: prints `<monotonic time> <In-Reply-To>` per message.

    The lines of the messages that arrive in one turn of the loop are written together: the time is taken when the
    message is, so batching the writes changes no figure, and saves the sink and the load generator that reads them
    a pipe write and a wake-up a reply."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        head = (envelope.original_content or b"").partition(b"\r\n\r\n")[0]
        found = _IN_REPLY_TO.search(head)
        if not self._lines:
            asyncio.get_running_loop().call_soon(self._write)
        self._lines.append(f"{time.monotonic():.6f} {found.group(1).decode() if found else '-'}\n")
        return "250 2.0.0 OK"

    def _write(self) -> None:
        lines, self._lines = self._lines, []
        sys.stdout.write("".join(lines))
        sys.stdout.flush()


async def serve_smtp(
    handler: object, hostname: str, tasks: Sequence[asyncio.Task[None]] = (), protocol: type[SMTP] = SMTP
) -> None:
    """The body of a server process: listen on a free loopback port, print `port N`, serve until SIGTERM.

    `tasks` are the server's own background work; one that ends before the stop has failed, and the process ends
    with its traceback rather than leave the load generator waiting for answers that never come."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: protocol(handler, hostname=hostname), "127.0.0.1", 0)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    server.close()
    for task in tasks:
        if task.done():
            task.result()


async def run_server(role: str) -> None:
    if role == "sink":
        # The relay stands for the city's MTA, on a machine of its own in production: here it shares the cores with
        # the service, so it reads DATA as the service does (whole reads, not a line at a time) to take less of them.
        await serve_smtp(SinkHandler(), role, protocol=IngestSMTP)
    else:
        await serve_smtp(BareHandler(), role)


class ServerProcess:
    """An SMTP server (bare, sink or the minimal pipeline) started as `python <script> --server-role ROLE [ARGS]`;
    the sink's arrivals are collected."""

    def __init__(self, script: Path, role: str, *args: str) -> None:
        self._script = script
        self.role = role
        self._args = args  # more of the script's options for this role (e.g. the minimal pipeline's relay port)
        self.port = 0
        self.arrivals: dict[str, float] = {}  # In-Reply-To -> arrival time at the sink
        self.expected: set[str] = set()  # the Message-IDs whose replies are awaited
        self.matched = 0  # how many of them have arrived
        self.arrived = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> ServerProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, str(self._script), "--server-role", self.role, *self._args, stdout=asyncio.subprocess.PIPE
        )
        assert self._proc.stdout is not None
        first = await asyncio.wait_for(self._proc.stdout.readline(), 30)
        if not first.startswith(b"port "):
            raise RuntimeError(f"{self.role} server did not start: {first!r}")
        self.port = int(first.split()[1])
        self._reader = asyncio.create_task(self._read(self._proc.stdout))
        return self

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            stamp, _, message_id = line.decode().strip().partition(" ")
            if message_id not in self.arrivals:
                self.arrivals[message_id] = float(stamp)
                self.matched += message_id in self.expected
            self.arrived.set()

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.returncode is None:
            self._proc.terminate()
            await self._proc.wait()
        if self._reader is not None:
            await self._reader
        self._proc = None
