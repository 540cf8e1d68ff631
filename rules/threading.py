"""Which ticket a message belongs to: the pure parts (reply tokens in addresses, tracking numbers in subjects).

Order of the rules (first match wins), applied by the `thread` stage:
1. a reply token in a recipient address (`reports+<token>@domain`, our Reply-To),
2. In-Reply-To/References naming a Message-ID we sent or received on the ticket,
3. a tracking number in the subject (`[SR-2026-000042]`, or written by hand),
4. otherwise a new ticket.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache


def find_reply_token(recipients: Iterable[str], *, mailbox: str, domains: Iterable[str]) -> str | None:
    """The token of the first `mailbox+token@domain` recipient, or None."""
    domain_set = {d.lower() for d in domains}
    prefix = f"{mailbox.lower()}+"
    for address in recipients:
        local, _, domain = address.lower().rpartition("@")
        if domain in domain_set and local.startswith(prefix):
            token = address.rpartition("@")[0][len(prefix) :]  # tokens are case-sensitive
            if token:
                return token
    return None


@cache
def _tracking_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(prefix)}[-\s]?(\d{{4}})[-\s]?(\d{{6}})(?!\d)", re.IGNORECASE)


def find_tracking_numbers(text: str, *, prefix: str) -> list[str]:
    """Tracking numbers written anywhere in `text`, normalised to `SR-2026-000042`, in order of appearance."""
    seen: list[str] = []
    for match in _tracking_pattern(prefix).finditer(text):
        number = f"{prefix.upper()}-{match.group(1)}-{match.group(2)}"
        if number not in seen:
            seen.append(number)
    return seen


def reply_address(from_address: str, token: str) -> str:
    """reports@city.example + token -> reports+token@city.example."""
    local, _, domain = from_address.partition("@")
    return f"{local}+{token}@{domain}"
