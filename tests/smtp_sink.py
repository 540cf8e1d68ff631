"""A real SMTP server on loopback that records what it receives: the relay our outbox sends through in tests."""

from __future__ import annotations

import asyncio
import email
from email.message import Message

from aiosmtpd.smtp import SMTP, Envelope, Session


class RecordingHandler:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.arrived = asyncio.Event()
        self.refuse_with: str | None = None  # e.g. "451 4.3.0 try later" to simulate a failing relay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_with:
            return self.refuse_with
        self.envelopes.append(envelope)
        self.arrived.set()
        return "250 2.0.0 OK"

    @property
    def messages(self) -> list[Message]:
        return [email.message_from_bytes(e.original_content) for e in self.envelopes]

    async def wait_for(self, count: int, within: float = 10.0) -> list[Message]:
        async def _wait() -> None:
            while len(self.envelopes) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(_wait(), within)
        return self.messages


class SmtpSink:
    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self._server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> SmtpSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self.handler, hostname="sink"), "127.0.0.1", port)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
