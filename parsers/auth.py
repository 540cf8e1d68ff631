"""SPF, DKIM and DMARC verdicts from the `Authentication-Results` headers an upstream MTA added (RFC 8601).

Anyone can write an Authentication-Results header into a message before sending it, so only headers from a
trusted authserv-id count when the caller names some; otherwise the topmost one is taken, since that is the one
added by the server nearest to us. `Received-SPF` (RFC 7208 §9.1) fills in SPF when no result names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from parsers.types import AuthVerdicts

_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"(?:^|;)\s*(spf|dkim|dmarc)\s*=\s*([a-z]+)", re.IGNORECASE)
_KNOWN = {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy"}
# When several DKIM signatures were checked, the best one speaks for the message.
_DKIM_RANK = ("pass", "policy", "neutral", "temperror", "permerror", "fail", "none")


def _authserv_id(value: str) -> str:
    return value.split(";", 1)[0].strip().split()[0].lower() if value.strip() else ""


def parse_authentication_results(
    values: Iterable[str],
    received_spf: Iterable[str] = (),
    trusted_authserv_ids: Iterable[str] | None = None,
) -> AuthVerdicts | None:
    """Verdicts from Authentication-Results values (in header order, topmost first), or None when there are none."""
    trusted = {name.lower() for name in trusted_authserv_ids} if trusted_authserv_ids is not None else None
    chosen: str | None = None
    for raw in values:
        value = " ".join(_COMMENT.sub(" ", str(raw)).split())
        if trusted is None or _authserv_id(value) in trusted:
            chosen = value
            break
    found: dict[str, list[str]] = {}
    if chosen is not None:
        for method, result in _RESULT.findall(chosen):
            result = result.lower()
            found.setdefault(method.lower(), []).append(result if result in _KNOWN else "permerror")
    if "spf" not in found:
        for raw in received_spf:
            word = str(raw).strip().split(None, 1)
            if word and word[0].lower() in _KNOWN:
                found["spf"] = [word[0].lower()]
                break
    if not found:
        return None
    dkim = found.get("dkim")
    best_dkim = min(dkim, key=lambda r: _DKIM_RANK.index(r) if r in _DKIM_RANK else len(_DKIM_RANK)) if dkim else None
    return AuthVerdicts(
        spf=found["spf"][0] if "spf" in found else None,
        dkim=best_dkim,
        dmarc=found["dmarc"][0] if "dmarc" in found else None,
    )
