"""Stage `parse`: raw bytes -> ParsedMessage, by channel. Unparseable input is rejected with its reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache, partial

from gateway.pipeline import Hold, Reject, Stage, StageContext, WorkItem
from parsers.attachments import AttachmentLimits
from parsers.email import EmailParseError, parse_email
from parsers.types import Channel, ParsedMessage
from rules.suppress import auth_failed

PARSERS: dict[Channel, Callable[[bytes], ParsedMessage]] = {Channel.EMAIL: parse_email}
# What a channel must add after parsing and before the write transaction, where network I/O may run (MMS media
# fetched from the provider). Registered by the channel's own module.
Enricher = Callable[[WorkItem, StageContext], Awaitable[None]]
ENRICHERS: dict[Channel, Enricher] = {}


def register_parser(channel: Channel, parser: Callable[[bytes], ParsedMessage]) -> None:
    """Channels other than email (SMS, web, Open311) register how their stored raw form is read."""
    PARSERS[channel] = parser


def register_enricher(channel: Channel, enricher: Enricher) -> None:
    ENRICHERS[channel] = enricher


def _has_content(parsed: ParsedMessage) -> bool:
    """Anything a report can be made of: words, a photo, media to fetch, or a shared location."""
    shared_location = any(name == "latitude" for name, _ in parsed.extra)
    return bool(
        parsed.subject.strip() or parsed.body_text.strip() or parsed.attachments or parsed.media or shared_location
    )


@cache
def _email_limits(max_file: int, max_total: int) -> AttachmentLimits:
    return AttachmentLimits(max_file_bytes=max_file, max_total_bytes=max_total)


def _parse_email_with_limits(ctx: StageContext) -> Callable[[bytes], ParsedMessage]:
    e = ctx.settings.email
    return partial(parse_email, limits=_email_limits(e.max_attachment_bytes, e.max_attachments_bytes))


async def run(item: WorkItem, ctx: StageContext) -> None:
    parser = _parse_email_with_limits(ctx) if item.channel is Channel.EMAIL else PARSERS.get(item.channel)
    if parser is None:
        raise Reject("unknown-channel", str(item.channel))
    try:
        item.parsed = parser(item.raw)
    except EmailParseError as exc:
        raise Reject(f"parse-{exc.reason_code}", exc.detail) from exc
    parsed = item.parsed
    if parsed is not None and parsed.bounce is None and not _has_content(parsed):
        raise Reject("empty", "no subject, no text and no attachments")
    if ctx.settings.email.auth_failure == "hold" and auth_failed(item.parsed.auth):
        raise Hold("auth-failed", "held for review: the sender failed DMARC/SPF at the upstream MTA")
    enrich = ENRICHERS.get(item.channel)
    if enrich is not None:
        await enrich(item, ctx)


STAGE = Stage(name="parse", run=run, transactional=False)
