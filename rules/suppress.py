"""Whether we may send an automatic reply at all. Never answer machines; never write to who asked us not to.

RFC 3834 §2: a responder must not answer auto-submitted mail, bounces, or mail with a null sender.
"""

from __future__ import annotations

from parsers.types import AuthVerdicts, ParsedMessage


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


def auth_failed(auth: AuthVerdicts | None) -> bool:
    """Whether the upstream MTA's verdicts say the sender is likely forged.

    DMARC decides when present; without a DMARC verdict, SPF failing with no passing DKIM signature does.
    """
    if auth is None:
        return False
    if auth.dmarc in ("fail", "reject", "quarantine"):
        return True
    if auth.dmarc == "pass":
        return False
    return auth.spf in ("fail", "softfail") and auth.dkim != "pass"
