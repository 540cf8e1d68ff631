"""Composes the service: storage, ingestors, pipeline worker, outbox senders, web server; starts and stops them.

Stop order matters for "nothing is lost": stop accepting (SMTP, HTTP), commit what was accepted, finish the
pipeline batch in hand, flush the outbox batch in hand, close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from sqlalchemy import text

from gateway.heap import settle_heap
from gateway.ingest.admission import Backlog
from gateway.ingest.imap import ImapIngestor
from gateway.ingest.smtp import SmtpListener
from gateway.ingest.writer import RawWriter
from gateway.listen import CannotListen, bind_tcp, is_ipv4_literal
from gateway.metrics import Metrics
from gateway.outbox.email import SmtpSender
from gateway.outbox.email_process import ProcessSmtpSender
from gateway.outbox.open311 import Open311Sender
from gateway.outbox.sms import TwilioSender
from gateway.outbox.worker import OutboxWorker, Sender
from gateway.pipeline import Services
from gateway.scheduler import Scheduler
from gateway.services import build_services
from gateway.settings import Settings
from gateway.stage_process import StageProcesses
from gateway.web.app import build_page_templates, create_web_app
from gateway.web.deps import WebContext
from gateway.worker import PipelineWorker, new_owner_id
from storage.db import Database, upgrade
from storage.outbox import count_outbox_by_state
from storage.raw import count_raw_by_state
from storage.unavailable import DatabaseUnavailable

log = logging.getLogger(__name__)


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn on our loop; signals are handled by the service, not by uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Inbox311:
    def __init__(
        self,
        settings: Settings,
        *,
        services: Services | None = None,
        senders: list[Sender] | None = None,
        bound: dict[str, socket.socket] | None = None,
    ) -> None:
        self.settings = settings
        self._bound = bound or {}  # "smtp", "http": addresses bound before the model and the children were loaded
        self.metrics = Metrics()
        self.db = Database(settings.database.url, echo=settings.database.echo)
        self.services = services or build_services(settings)
        self.owner = new_owner_id()
        # Children can only rebuild helpers made from the settings, not ones handed in (tests' stand-ins).
        n = settings.worker.parse_processes
        processes = StageProcesses(settings, n) if services is None and n > 0 and settings.worker.enabled else None
        self.worker = PipelineWorker(
            self.db, self.services, metrics=self.metrics, owner=self.owner, stage_processes=processes
        )
        self.writer = RawWriter(self.db, on_stored=self.worker.wake)
        self.sending_process: ProcessSmtpSender | None = None  # set by _senders when the relay is talked to from one
        self.outbox = OutboxWorker(
            self.db,
            settings.outbox,
            senders if senders is not None else self._senders(),
            owner=self.owner,
            metrics=self.metrics,
        )
        self.backlog = Backlog(
            self.db, settings.smtp, local_worker=settings.worker.enabled, worker_batch=settings.worker.batch_size
        )
        self.worker.on_settled = self.backlog.settled
        self.worker.on_worked = self.backlog.worked
        self.smtp = (
            SmtpListener(settings.smtp, self.writer, self.metrics, self.backlog) if settings.smtp.enabled else None
        )
        self.imap = [
            ImapIngestor(account, db=self.db, writer=self.writer, metrics=self.metrics) for account in settings.imap
        ]
        self.scheduler = Scheduler(settings, self.db, services=self.services)
        self.web_ctx = WebContext(
            settings=settings,
            db=self.db,
            metrics=self.metrics,
            services=self.services,
            templates=build_page_templates(),
            health=self.health,
            parts={"writer": self.writer, "worker": self.worker, "outbox": self.outbox, "imap": self.imap},
        )
        self.web_app = create_web_app(self.web_ctx)
        self.worker.on_committed = self.outbox.wake  # acknowledgements go out at once, not at the next poll
        self.worker.outbox_lease = self.outbox.lease_offer  # ... and without a claim (gateway/outbox/worker.py)
        self.worker.hand_over = self.outbox.hand_over
        self._http: _EmbeddedUvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None

    def _senders(self) -> list[Sender]:
        relay = self.settings.outbound.email
        if relay.sender_process:
            self.sending_process = ProcessSmtpSender(relay)
        email: Sender = self.sending_process or SmtpSender(relay)
        senders: list[Sender] = [email, Open311Sender(self.settings, self.db)]
        if self.settings.twilio.account_sid:
            senders.append(TwilioSender(self.settings, self.db))
        return senders

    # ---- lifecycle --------------------------------------------------------------------------------------------

    async def start(self, *, migrate: bool = True) -> None:
        if migrate:
            await upgrade(self.settings.database.url)
        self.writer.start()
        if self.settings.worker.enabled:
            await self.worker.start()
        await self.outbox.start()
        self.scheduler.start()
        if self.smtp is not None:
            await self.smtp.start(self._bound.pop("smtp", None))
        for ingestor in self.imap:  # each connects in the background; a failing mailbox does not stop the start
            await ingestor.start()
        if self.settings.http.enabled:
            await self._start_http()

    async def _start_http(self) -> None:
        config = uvicorn.Config(
            self.web_app,
            host=self.settings.http.host,
            port=self.settings.http.port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            proxy_headers=self.settings.http.trust_forwarded,
            server_header=False,
        )
        # Bound here rather than by uvicorn, which logs a failed bind in its own format and exits the process.
        sock = self._bound.pop("http", None) or bind_tcp("http", self.settings.http.host, self.settings.http.port)
        self._http = _EmbeddedUvicorn(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]), name="http")
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
                raise RuntimeError("http server stopped during start-up")
            await asyncio.sleep(0.01)
        log.info("http: listening on %s:%d", *self.http_address)

    async def stop(self) -> None:
        for sock in self._bound.values():  # bound for a listener that a failed start never reached
            sock.close()
        self._bound.clear()
        if self.smtp is not None:
            await self.smtp.stop()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
        # Mailboxes before the writer: an ingestor finishes the batch in hand (store, move, checkpoint) first.
        await asyncio.gather(*(ingestor.stop() for ingestor in self.imap))
        await self.scheduler.stop()
        await self.writer.stop()
        await self.worker.stop()
        await self.outbox.stop()
        await self.db.dispose()

    # ---- introspection ----------------------------------------------------------------------------------------

    @property
    def smtp_address(self) -> tuple[str, int]:
        assert self.smtp is not None
        return self.smtp.address

    @property
    def http_address(self) -> tuple[str, int]:
        assert self._http is not None and self._http.servers
        host, port = self._http.servers[0].sockets[0].getsockname()[:2]
        return host, port

    async def health(self) -> tuple[bool, dict[str, Any]]:
        details: dict[str, Any] = {}
        ok = True
        try:
            async with self.db.read() as session:
                await session.execute(text("SELECT 1"))
                raw = await count_raw_by_state(session=session)
                outbox = await count_outbox_by_state(session=session)
            details["database"] = "ok"
        except Exception as exc:
            details["database"] = f"error: {type(exc).__name__}"
            return False, details
        listeners = {"smtp": self.smtp.running if self.smtp else None, "http": self._http is not None}
        details["listeners"] = {k: ("up" if v else "down") for k, v in listeners.items() if v is not None}
        worker_up = self.worker.running or not self.settings.worker.enabled
        details["worker"] = ("up" if self.worker.running else "down") if self.settings.worker.enabled else "off"
        details["outbox_worker"] = "up" if self.outbox.running else "down"
        if self.worker.stage_processes is not None:  # children that read mail; a replaced one means a crash or hang
            p = self.worker.stage_processes
            details["parse_processes"] = {"running": len(p.pids), "replaced": p.replaced}
        if self.sending_process is not None:  # the child that talks to the relay; started again at the next send
            details["sending_process"] = {
                "running": self.sending_process.running, "replaced": self.sending_process.replaced,
            }  # fmt: skip
        details["raw"] = raw
        details["outbox"] = outbox
        if self.backlog.enabled:  # SMTP flow control: how much may wait, and how often senders were held back
            details["backlog"] = {
                "limit": self.backlog.limit(), "pace_per_second": round(self.backlog.pace, 1),
                "waited": self.backlog.waited, "deferred": self.backlog.refused,
            }  # fmt: skip
        if not all(v for v in listeners.values() if v is not None) or not worker_up:
            ok = False
        if not self.outbox.running:
            ok = False
        if self.imap:
            details["imap"] = {i.account.name: i.state.as_dict() | {"running": i.running} for i in self.imap}
            # a mailbox that cannot be read (refused login, server gone) degrades the service; one still
            # connecting for the first time does not
            if any(not i.running or (i.state.last_error and not i.state.connected) for i in self.imap):
                ok = False
        return ok, details


def bind_listeners(settings: Settings) -> dict[str, socket.socket]:
    """The enabled listeners' addresses, bound (not yet listening: a connection is refused until the service is
    up), those given as IPv4 addresses (the defaults, and most settings); CannotListen for the first that cannot
    be, with the others closed again."""
    listeners = (("smtp", settings.smtp), ("http", settings.http))
    wanted = [(name, s.host, s.port) for name, s in listeners if s.enabled and is_ipv4_literal(s.host)]
    bound: dict[str, socket.socket] = {}
    try:
        for name, host, port in wanted:
            bound[name] = bind_tcp(name, host, port)
    except CannotListen:
        for sock in bound.values():
            sock.close()
        raise
    return bound


async def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT, then stop cleanly and return 0; 1 when the database cannot be opened or a
    listener cannot listen (after stopping what had started)."""
    try:  # the listeners' addresses first: one in use is reported at once, not after the model has loaded
        bound = bind_listeners(settings)
    except CannotListen as exc:
        log.error("inbox311: %s", exc)
        return 1
    service = Inbox311(settings, bound=bound)
    try:
        await service.start()
    except (CannotListen, DatabaseUnavailable) as exc:
        log.error("inbox311: %s; stopping", exc)
        await service.stop()
        return 1
    settle_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("inbox311: serving; SIGTERM or Ctrl-C stops")
    await stop.wait()
    log.info("inbox311: stopping")
    await service.stop()
    log.info("inbox311: stopped")
    return 0
