"""Whether we may send an automatic reply at all. Never answer machines; never write to who asked us not to.

RFC 3834 §2: a responder must not answer auto-submitted mail, bounces, or mail with a null sender.
"""

from __future__ import annotations

from parsers.types import ParsedMessage


def reply_suppressed(
    parsed: ParsedMessage,
    *,
    own_addresses: frozenset[str],
    contact_opted_out: bool = False,
    contact_bounced: bool = False,
) -> str | None:
    """The reason code that forbids an automatic reply, or None when one may go out."""
    if not parsed.sender:
        return "null-sender"
    if parsed.bounce is not None:
        return "bounce"
    if parsed.auto_submitted:
        return f"auto:{parsed.auto_submitted}"
    if parsed.sender.lower() in own_addresses:
        return "own-address"
    if contact_opted_out:
        return "opted-out"
    if contact_bounced:
        return "bounced"
    return None
