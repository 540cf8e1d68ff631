"""An aiosmtpd handler for tests of the SMTP protocol classes: accepts recipients at city.example, keeps every
message's bytes, and may say it is stopping (as the service's handler does)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Keeper:
    contents: list[bytes] = field(default_factory=list)
    stopping: bool = False

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not address.endswith("@city.example"):
            return "550 5.1.1 not here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        self.contents.append(envelope.original_content)
        return "250 2.0.0 stored"
