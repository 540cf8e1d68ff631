"""Outbox email sent from a child process of the service, over the same relay connections `SmtpSender` keeps.

Under load the SMTP conversations with the relay (aiosmtplib, rendering, socket writes) are about a tenth of the
service's event loop, which also answers every inbound SMTP session and runs the pipeline's transactions. In a child
they run on another core. The outbox worker still claims and settles the rows in the service: the child only sends
payloads and answers with each one's outcome, so the database, leases and retries work exactly as in process.

A child that dies or stops answering fails the sends it held as retryable; they go out again after the outbox's
backoff (as after a crash of the service between sending and recording it, a relay may then see one twice).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from multiprocessing.connection import Connection
from typing import Any

from gateway.child_process import ChildLost, SpawnedChild
from gateway.outbox.email import SmtpSender
from gateway.outbox.worker import OutboxError
from gateway.settings import EmailOutboundSettings
from storage.models import Outbox

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 30.0
Outcome = tuple[str, bool] | None  # None: sent; else (reason, retryable)


# ---- the child ----------------------------------------------------------------------------------------------------


def _child_main(conn: Connection, settings: EmailOutboundSettings) -> None:
    asyncio.run(_serve(conn, SmtpSender(settings)))


class _Answers:
    """Outcomes of sends, written to the service together: those that finish in one turn of the child's loop go
    as one message, so the service's loop wakes once for them rather than once a reply."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._ready: list[tuple[int, Outcome]] = []

    def add(self, key: int, outcome: Outcome) -> None:
        if not self._ready:
            asyncio.get_running_loop().call_soon(self._write)
        self._ready.append((key, outcome))

    def _write(self) -> None:
        ready, self._ready = self._ready, []
        try:
            self._conn.send(ready)
        except OSError:  # the service went away; _serve ends at its next read
            pass


async def _send_one(sender: SmtpSender, answers: _Answers, key: int, payload: dict[str, Any]) -> None:
    outcome: Outcome = None
    try:
        await sender.send_payload(payload)
    except OutboxError as exc:
        outcome = (str(exc), exc.retryable)
    except Exception as exc:  # a bug must not take the other sends with it
        outcome = (f"{type(exc).__name__}: {exc}", True)
    answers.add(key, outcome)


async def _serve(conn: Connection, sender: SmtpSender) -> None:
    """Send each (key, payload) that arrives, concurrently, answering lists of (key, outcome); None asks us to
    finish."""
    loop = asyncio.get_running_loop()
    answers = _Answers(conn)
    readable = asyncio.Event()
    loop.add_reader(conn.fileno(), readable.set)
    sending: set[asyncio.Task[None]] = set()
    conn.send("ready")
    try:
        while True:
            await readable.wait()
            readable.clear()
            while conn.poll():
                try:
                    batch: list[tuple[int, dict[str, Any]]] | None = conn.recv()
                except (EOFError, OSError):  # the service went away
                    return
                if batch is None:
                    await asyncio.gather(*sending)
                    await asyncio.sleep(0)  # the last outcomes written
                    return
                for key, payload in batch:
                    task = asyncio.create_task(_send_one(sender, answers, key, payload))
                    sending.add(task)
                    task.add_done_callback(sending.discard)
    finally:
        loop.remove_reader(conn.fileno())
        await sender.close()


# ---- the service's side -------------------------------------------------------------------------------------------


class ProcessSmtpSender:
    """The `email` sender of the outbox, through a child process started with the outbox (and, after one is lost,
    at the next send)."""

    channel = "email"

    def __init__(self, settings: EmailOutboundSettings) -> None:
        self._settings = settings
        # A send is given up after this long: every relay step in the child is bounded by timeout_seconds.
        self._within = 4 * settings.timeout_seconds + 10
        self._child: SpawnedChild | None = None
        self._starting = asyncio.Lock()
        self._keys = itertools.count()
        self._waiting: dict[int, asyncio.Future[Outcome]] = {}
        self._queued: list[tuple[int, dict[str, Any]]] = []
        self.replaced = 0  # children lost (a crash, a hang) while in use

    @property
    def pid(self) -> int | None:
        return self._child.process.pid if self._child is not None else None

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.process.is_alive()

    async def start(self) -> None:
        """Start the child now rather than at the first reply (its interpreter takes a second to start)."""
        try:
            await self._running_child()
        except OutboxError as exc:
            log.warning("outbox: %s; tried again at the first send", exc)

    async def send(self, row: Outbox) -> str | None:
        child = await self._running_child()
        loop = asyncio.get_running_loop()
        key = next(self._keys)
        answer: asyncio.Future[Outcome] = loop.create_future()
        self._waiting[key] = answer
        if not self._queued:  # the rows of one outbox batch start together: they go to the child as one message
            loop.call_soon(self._flush)
        self._queued.append((key, row.payload))
        try:
            outcome = await asyncio.wait_for(asyncio.shield(answer), self._within)
        except TimeoutError:
            reason = f"no answer from the sending process within {self._within:g} s"
            self._lose(child, reason)
            outcome = answer.result() if answer.done() else (reason, True)
        finally:
            self._waiting.pop(key, None)
        if outcome is not None:
            reason, retryable = outcome
            raise OutboxError(reason, retryable=retryable)
        return None

    async def close(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        try:
            child.conn.send(None)  # finish what it holds, close the relay connections, exit
            await asyncio.get_running_loop().run_in_executor(None, child.process.join, self._settings.timeout_seconds)
        except OSError:
            pass
        self._stop_reading(child)
        child.kill()

    async def _running_child(self) -> SpawnedChild:
        async with self._starting:
            if self._child is None:
                self._child = await self._start_child()
            return self._child

    async def _start_child(self) -> SpawnedChild:
        child = SpawnedChild(_child_main, (self._settings,), "inbox311-send")
        try:
            await child.ready(START_TIMEOUT_SECONDS)
        except ChildLost as exc:
            child.kill()
            raise OutboxError(f"the sending process did not start: {exc}") from exc
        asyncio.get_running_loop().add_reader(child.conn.fileno(), self._receive, child)
        log.info("outbox: sending process %d started", child.process.pid)
        return child

    def _flush(self) -> None:
        batch, self._queued = self._queued, []
        child = self._child
        if not batch:  # (a child lost before this flush took its queue along)
            return
        if child is None:
            self._fail([key for key, _ in batch], "the sending process ended")
            return
        try:
            child.conn.send(batch)
        except OSError:
            self._lose(child, "the sending process ended")

    def _receive(self, child: SpawnedChild) -> None:
        try:
            while child.conn.poll():
                for key, outcome in child.conn.recv():
                    answer = self._waiting.get(key)
                    if answer is not None and not answer.done():
                        answer.set_result(outcome)
        except (EOFError, OSError):
            self._lose(child, f"the sending process ended (exit code {child.process.exitcode})")

    def _lose(self, child: SpawnedChild, reason: str) -> None:
        """Fail every send the child held (retryable) and drop it; the next send starts a new one."""
        if child is self._child:
            self._child = None
            self.replaced += 1
            self._queued = []  # failed below with the rest: never to be sent by the next child as well
            log.warning("outbox: %s; %d send(s) will be retried", reason, len(self._waiting))
            self._fail(list(self._waiting), reason)
        self._stop_reading(child)
        child.kill()

    def _fail(self, keys: list[int], reason: str) -> None:
        for key in keys:
            answer = self._waiting.get(key)
            if answer is not None and not answer.done():
                answer.set_result((reason, True))

    def _stop_reading(self, child: SpawnedChild) -> None:
        try:
            asyncio.get_running_loop().remove_reader(child.conn.fileno())
        except (OSError, ValueError):  # closed already
            pass
