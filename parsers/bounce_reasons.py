"""Why a delivery failed, as a stable reason code, from the status code and the remote server's words.

Reason names follow the vocabulary of the Sisimai bounce library (kebab-cased: `user-unknown`, `mailbox-full`, ...),
so results can be compared with its published expectations. A bounce is *hard* only when the address itself is
dead (unknown user or domain, moved, does not accept mail): a full mailbox or a spam block says nothing about
whether the resident can be written to next week.
"""

from __future__ import annotations

import re

HARD_REASONS = frozenset({"user-unknown", "host-unknown", "has-moved", "not-accept"})

# The words, when the status code is generic (5.0.0, 5.7.1) or missing. Order matters: first match wins.
_TEXT_PATTERNS = (
    ("mailbox-full", r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|full)|exceeded (?:storage|quota)"
     r"|insufficient (?:system )?storage|mailbox size limit|user is over|full mailbox|disk quota|mailfolder is full"
     r"|mail ?box (?:has )?exceeded|not enough (?:storage|space)"),
    ("mesg-too-big", r"message (?:size )?(?:is )?too (?:large|big)|size (?:limit|exceeds)|exceeds? (?:the )?"
     r"(?:maximum|size)|message length exceeds|mail size"),
    ("has-moved", r"has moved|address changed|no longer (?:at|with)|moved to"),
    ("user-unknown", r"user(?:name)? (?:is )?unknown|unknown (?:user|recipient|local|mailbox|address)"
     r"|no such (?:user|mailbox|recipient|address|account)|(?:user|mailbox|recipient|address|account)"
     r"(?: \S+)? (?:does not|doesn't|did not) exist|does not exist"
     r"|invalid (?:recipient|mailbox|address)|recipient ?not ?found|not (?:a )?(?:valid|known) (?:user|recipient)"
     r"|mailbox (?:unavailable|not found|is disabled|not exist)|user not found|no mailbox|address unknown"
     r"|unrouteable address|not our customer|undeliverable address|bad destination mailbox|account is disabled"
     r"|no account|email account that you tried to reach does not exist|RecipNotFound|RecipientNotFound"
     r"|user doesn't have|addressee unknown|unknown address|invalid address|not listed in|deactivated"),
    ("host-unknown", r"host (?:or domain name )?not found|domain (?:name )?not found|unknown (?:host|domain)"
     r"|no mx|name service error|name or service not known|nxdomain|domain does not exist|no such domain"
     r"|unrouteable mail domain|dns (?:error|failure)|host unknown|couldn't find any host|non-existent domain"
     r"|unable to route|no route to host"),
    ("suspend", r"suspended|account (?:has been )?(?:disabled|locked|inactive|expired)|inactive|temporarily"
     r" disabled|mailbox is frozen"),
    ("virus-detected", r"virus"),
    ("spam-detected", r"\bspam\b|junk mail|content (?:was )?rejected|message (?:content )?rejected as"),
    ("auth-failure", r"\bspf\b|\bdkim\b|\bdmarc\b|authenticat(?:e|ion) (?:fail|required)"),
    ("require-ptr", r"\bptr\b|reverse (?:dns|lookup|hostname)|rdns"),
    ("blocked", r"block ?list|black ?list|blocked|\blisted\b|\brbl\b|dnsbl|spamhaus|reputation|banned"
     r"|access denied|client host rejected"),
    ("no-relaying", r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited)|not permitted to relay"
     r"|unable to relay|relay not allowed"),
    ("too-many-conn", r"too many (?:connections|recipients|messages)|rate limit|try again later|throttl"),
    ("expired", r"retry (?:time|timeout)|timed? ?out|delivery time expired|expired|could not be delivered"
     r" within|gave up|giving up|delay(?:ed)?|deferred|4\.4\.7"),
    ("network-error", r"connection (?:refused|reset|closed)|network|routing loop|mail loop|too many hops"),
    ("content-error", r"content|mime|header (?:syntax|error)|malformed"),
    ("system-error", r"system (?:error|config)|internal (?:server )?error|local error|configuration error"),
    ("policy-violation", r"policy|not allowed|prohibited|refused"),
    ("rejected", r"reject|denied|refused"),
)  # fmt: skip
_TEXT_RULES = tuple((reason, re.compile(pattern, re.IGNORECASE)) for reason, pattern in _TEXT_PATTERNS)

# RFC 3463 enhanced status codes: a specific one decides before the words do.
_STATUS_REASONS = {
    "1.1": "user-unknown", "1.2": "host-unknown", "1.3": "user-unknown", "1.6": "has-moved",
    "1.10": "user-unknown", "2.1": "suspend", "2.2": "mailbox-full", "2.3": "mesg-too-big",
    "2.4": "system-error", "3.1": "system-full", "3.2": "not-accept", "3.4": "mesg-too-big",
    "3.5": "system-error", "4.1": "network-error", "4.2": "network-error", "4.3": "system-error",
    "4.4": "host-unknown", "4.6": "network-error", "4.7": "expired", "5.0": "syntax-error",
    "5.3": "too-many-conn", "6.0": "content-error", "7.0": "blocked", "7.1": "rejected",
    "7.7": "security-error", "7.23": "auth-failure", "7.25": "require-ptr", "7.26": "auth-failure",
    "7.27": "not-accept",
}  # fmt: skip
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"(?<![\d.])([245])\d\d(?![\d.])")


def find_status(text: str) -> str | None:
    """The first RFC 3463 status code ("5.1.1") in a diagnostic text."""
    match = _STATUS.search(text)
    return match.group(0) if match else None


def classify_failure(status: str | None, diagnostic: str) -> tuple[str, bool]:
    """(reason code, hard) for one failed recipient."""
    status = status or find_status(diagnostic)
    reason = None
    if status and _STATUS.fullmatch(status):
        _, subject, detail = status.split(".")
        if detail != "0" and f"{subject}.{detail}" != "7.1":  # specific codes say more than the prose around them
            reason = _STATUS_REASONS.get(f"{subject}.{detail}")
    if reason is None:
        for name, pattern in _TEXT_RULES:
            if pattern.search(diagnostic):
                reason = name
                break
    if reason in (None, "rejected", "policy-violation", "system-error") and status and _STATUS.fullmatch(status):
        _, subject, detail = status.split(".")
        reason = _STATUS_REASONS.get(f"{subject}.{detail}") or reason
    if reason is None:
        reason = "undefined"
    permanent = (status or "").startswith("5") or (status is None and _is_permanent_reply(diagnostic))
    return reason, reason in HARD_REASONS and (permanent or status is None)


def _is_permanent_reply(text: str) -> bool:
    match = _REPLY.search(text)
    return bool(match and match.group(1) == "5")
