"""The relay path of an email (its Received trace fields), and mail loops read from it (RFC 5321 §6.3).

Counting the fields is cheap and done for every message; reading them clause by clause (mail-parser) costs about
half a millisecond a field, so it is done only for a message that looks like a loop, to name the relay that loops.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

# Postfix's hopcount_limit; RFC 5321 asks for at least 100 before declaring a loop, real relays stop far sooner.
MAX_RELAY_HOPS = 50
_TRACE_FIELDS_READ = 60


def relay_path(received: Sequence[str]) -> list[dict[str, Any]]:
    """The trace as hops, the first relay first: `from`, `by`, `with`, `date_utc`, `delay` (seconds) where readable."""
    from mailparser.utils import receiveds_parsing  # slow to import, and most messages never need it

    return list(receiveds_parsing([str(value) for value in received]))


def mail_loop(received: Sequence[str]) -> str | None:
    """Why this message is caught in a relay loop, or None when its trace is of a normal length."""
    if len(received) <= MAX_RELAY_HOPS:
        return None
    relays = Counter(
        str(hop["by"]).split()[0].lower()
        for hop in relay_path(received[:_TRACE_FIELDS_READ])
        if str(hop.get("by", "")).strip()
    )
    looping = f"; {relays.most_common(1)[0][0]} relayed it {relays.most_common(1)[0][1]} times" if relays else ""
    return f"{len(received)} Received fields (limit {MAX_RELAY_HOPS}){looping}"
