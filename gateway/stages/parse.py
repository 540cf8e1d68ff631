"""Stage `parse`: raw bytes -> ParsedMessage, by channel. Unparseable input is rejected with its reason."""

from __future__ import annotations

from collections.abc import Callable

from gateway.pipeline import Hold, Reject, Stage, StageContext, WorkItem
from parsers.email import EmailParseError, parse_email
from parsers.types import Channel, ParsedMessage
from rules.suppress import auth_failed

PARSERS: dict[Channel, Callable[[bytes], ParsedMessage]] = {Channel.EMAIL: parse_email}


def register_parser(channel: Channel, parser: Callable[[bytes], ParsedMessage]) -> None:
    """Channels other than email (SMS, web, Open311) register how their stored raw form is read."""
    PARSERS[channel] = parser


async def run(item: WorkItem, ctx: StageContext) -> None:
    parser = PARSERS.get(item.channel)
    if parser is None:
        raise Reject("unknown-channel", str(item.channel))
    try:
        item.parsed = parser(item.raw)
    except EmailParseError as exc:
        raise Reject(f"parse-{exc.reason_code}", exc.detail) from exc
    if ctx.settings.email.auth_failure == "hold" and auth_failed(item.parsed.auth):
        raise Hold("auth-failed", "held for review: the sender failed DMARC/SPF at the upstream MTA")


STAGE = Stage(name="parse", run=run, transactional=False)
