"""Test helpers for the IMAP ingestor: a throw-away folder pair on the suite's Dovecot, a private Dovecot that a
test may restart, a raw writer that can hold a batch half-way, and message builders."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from gateway.ingest.writer import RawWriter
from gateway.settings import ImapAccountSettings, Settings
from storage.db import Database
from storage.models import RawInbound, Ticket
from storage.raw import NewRaw, StoredRaw

CI_DOVECOT = Path(__file__).resolve().parents[1] / ".ci" / "dovecot"
USER, PASSWORD = "inbox@city.test", "secret"
DOVEADM_NOBODY_KICKED = 68


def report_bytes(n: int, *, tag: str = "r", message_id: bool = True, body: str | None = None) -> bytes:
    m = EmailMessage()
    m["From"] = f"Resident {n} <resident{n}@example.test>"
    m["To"] = "311 <inbox@city.test>"
    m["Subject"] = f"Report {n}: pothole"
    if message_id:
        m["Message-ID"] = f"<{tag}-{n}@example.test>"
    m.set_content(body or f"Report number {n}: there is a pothole in front of {n} Main St.\n")
    return bytes(m)


def account(port: int, folder: str, **overrides: Any) -> ImapAccountSettings:
    """An account on loopback with retries fast enough for tests."""
    values: dict[str, Any] = {
        "name": "city", "host": "127.0.0.1", "port": port, "tls": "plain", "username": USER, "password": PASSWORD,
        "folder": folder, "processed_folder": f"{folder}-done", "timeout_seconds": 10.0,
        "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5, "poll_seconds": 600.0,
    }  # fmt: skip
    values.update(overrides)
    return ImapAccountSettings(**values)


class Mailbox:
    """A folder and its processed folder, made for one test on a real server; removed afterwards."""

    def __init__(self, port: int, *, user: str = USER, password: str = PASSWORD) -> None:
        self.port, self.user, self.password = port, user, password
        self.folder = f"t{uuid.uuid4().hex[:10]}"
        self.done = f"{self.folder}-done"

    def client(self) -> IMAPClient:
        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=120)
        c.login(self.user, self.password)
        return c

    def create(self) -> Mailbox:
        with self.client() as c:
            c.create_folder(self.folder)
        return self

    def append(self, messages: list[bytes], *, folder: str | None = None) -> None:
        """MULTIAPPEND in chunks: fast enough for ten thousand messages."""
        with self.client() as c:
            for start in range(0, len(messages), 500):
                c.multiappend(folder or self.folder, messages[start : start + 500])

    def uids(self, folder: str | None = None) -> list[int]:
        with self.client() as c:
            c.select_folder(folder or self.folder, readonly=True)
            return c.search("ALL")

    def count(self, folder: str | None = None) -> int:
        return len(self.uids(folder))

    def flags(self) -> dict[int, tuple[bytes, ...]]:
        with self.client() as c:
            c.select_folder(self.folder, readonly=True)
            uids = c.search("ALL")
            return {uid: d[b"FLAGS"] for uid, d in c.fetch(uids, ["FLAGS"]).items()} if uids else {}

    def uidvalidity(self) -> int:
        with self.client() as c:
            return int(c.folder_status(self.folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def recreate(self) -> None:
        """Delete and create the folder again: the server gives it a new UIDVALIDITY."""
        with self.client() as c:
            c.delete_folder(self.folder)
            c.create_folder(self.folder)

    def remove(self) -> None:
        with self.client() as c:
            for folder in (self.folder, self.done):
                if c.folder_exists(folder):
                    c.delete_folder(folder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateDovecot:
    """A Dovecot of the test's own (the CI start script, other ports and directory), so it can be restarted
    without disturbing other tests; XOAUTH2 is enabled (the passwd-file checks the token like a password)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        # Dovecot's auth process runs as the dovecot user and must reach the users file: pytest's tmp_path
        # (mode 0700 under /tmp/pytest-of-root) is out of its reach, so the directory is made elsewhere.
        self.imap_port, self.imaps_port = free_port(), free_port()
        self.conf = directory / "dovecot.conf"

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[PrivateDovecot]:
        """A started server in a fresh directory that the dovecot user can traverse; stopped and removed after."""
        directory = Path(tempfile.mkdtemp(prefix="inbox311-dovecot-"))
        directory.chmod(0o755)
        try:
            server = cls(directory / "server").start()
            try:
                yield server
            finally:
                server.stop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    @property
    def cafile(self) -> str:
        return str(self.dir / "tls" / "cert.pem")

    def _env(self) -> dict[str, str]:
        return {**os.environ, "DOVECOT_DIR": str(self.dir), "IMAP_PORT": str(self.imap_port),
                "IMAPS_PORT": str(self.imaps_port)}  # fmt: skip

    def start(self) -> PrivateDovecot:
        self._run_daemon([str(CI_DOVECOT / "start.sh")], env=self._env())
        try:
            with self.conf.open("a") as f:
                f.write("\nauth_mechanisms = plain login xoauth2\n")
            self.restart()
        except BaseException:
            self.stop()  # never leave a server behind when the fixture fails
            raise
        return self

    def _run_daemon(self, argv: list[str], env: dict[str, str] | None) -> None:
        # The daemon inherits our stdout: a pipe would never reach EOF, so its output goes to a log file instead.
        log = self.dir.with_name(f"{self.dir.name}-start.log")  # beside the directory: start.sh empties it
        with log.open("ab") as out:
            done = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {log.read_text(errors='replace')[-2000:]}")

    def kick(self) -> None:
        """Disconnect every session of the test user: the server says BYE, as on a shutdown."""
        done = subprocess.run(["doveadm", "-c", str(self.conf), "kick", USER], capture_output=True, check=False)
        # exit 68 (EX_NOUSER) is doveadm's "no users kicked": nobody was connected, which is fine here
        if done.returncode not in (0, DOVEADM_NOBODY_KICKED):
            raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)

    def stop(self) -> None:
        subprocess.run([str(CI_DOVECOT / "stop.sh")], env=self._env(), check=True, capture_output=True)

    def restart(self, *, down_for: float = 0.0) -> None:
        """A server restart as clients see it: BYE to every session, refused connections, then up again."""
        self.kick()
        self.stop()
        time.sleep(down_for)
        self._run_daemon(["dovecot", "-c", str(self.conf)], env=None)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.imap_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private dovecot did not come back")


class GatedWriter(RawWriter):
    """A real RawWriter that, once `hold_after` messages are committed, holds every further caller at a gate:
    the ingestor is then caught between "stored" and "moved on the server"."""

    def __init__(self, db: Database, *, hold_after: int | None = None) -> None:
        super().__init__(db)
        self.hold_after = hold_after
        self.committed = 0
        self.reached = asyncio.Event()
        self.gate = asyncio.Event()

    async def store(self, item: NewRaw) -> StoredRaw:
        result = await super().store(item)
        self.committed += 1
        if self.hold_after is not None and self.committed >= self.hold_after:
            self.reached.set()
            await self.gate.wait()
        return result


async def wait_until(predicate: Callable[[], Any], *, within: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)


async def raw_rows(db: Database) -> list[RawInbound]:
    from sqlalchemy import select

    async with db.read() as session:
        return list((await session.execute(select(RawInbound).order_by(RawInbound.id))).scalars())


async def raw_bytes(db: Database, rows: list[RawInbound]) -> list[bytes]:
    """The stored bytes of each of `rows`, in their order."""
    from storage.raw import read_raw_bodies

    async with db.read() as session:
        bodies = await read_raw_bodies(session=session, raw_ids=[r.id for r in rows if r.id is not None])
    return [bodies[r.id] for r in rows if r.id is not None]


async def tickets_after_pipeline(db: Database, settings: Settings) -> list[Ticket]:
    """Run the real pipeline over every stored row (rules only, no model: fast) and return the tickets made."""
    from gateway.outbox.templates import build_templates
    from gateway.pipeline import Services
    from gateway.worker import PipelineWorker
    from storage.tickets import list_tickets

    worker = PipelineWorker(db, Services(settings=settings, templates=build_templates()))
    await worker.drain()
    async with db.read() as session:
        return list(await list_tickets(session=session, limit=100_000))


async def wait_for_rows(db: Database, count: int, *, within: float = 10.0) -> list[RawInbound]:
    deadline = time.monotonic() + within
    while True:
        rows = await raw_rows(db)
        if len(rows) >= count:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s with {len(rows)} of {count} raw rows")
        await asyncio.sleep(0.05)
