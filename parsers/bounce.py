"""Delivery failures -> `Bounce`: which of our messages bounced, for whom, hard or soft, and why.

Standard reports (RFC 3464 `multipart/report; report-type=delivery-status`) are read field by field; the
non-standard notices that qmail, Exim, old Sendmail, Exchange and webmail providers still send are recognised by
their sender and wording, and their recipient, status and original Message-ID are dug out of the text.
"""

from __future__ import annotations

import re
from email.message import Message

from parsers import mime
from parsers.bounce_reasons import classify_failure, find_status
from parsers.headers import decode_words, first_message_id, parse_addresses
from parsers.types import Bounce

_DAEMON_SENDER = re.compile(
    r"^(?:mailer-daemon|postmaster|mail-daemon|maildaemon|mailerdaemon|mdaemon|mail\.delivery|bounces?"
    r"|double-bounce|nobody)(?:[+-][^@]*)?(?:@|$)",
    re.IGNORECASE,
)
_DAEMON_NAME = re.compile(r"mail delivery (?:subsystem|system|service)|mailer.daemon|postmaster", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|failed|has failed|problem|report|notification)"
    r"|returned mail|returned to sender|failure notice|mail delivery failed|could not (?:be )?deliver"
    r"|not (?:be )?delivered|delivery (?:to the following )?recipients? failed|nondeliverable|non.?delivery"
    r"|mail system error|permanent (?:error|failure)|rejected|unzustellbar|non remis|no entregado"
    r"|não entregue|warning: could not send|message delivery|mail failure|bounce|unable to deliver|fallo en la entrega"
    r"|échec de la remise|notificación de estado|delivery notice",
    re.IGNORECASE,
)
_FAILED_BODY = re.compile(
    r"could not be delivered|couldn't be delivered|wasn't able to deliver|was not delivered|permanent (?:error|fatal)"
    r"|delivery (?:to the following recipients? )?(?:has )?failed|following address(?:es)?\W+failed|undeliverable"
    r"|unable to deliver|delivery has failed|not be delivered|returned to (?:the )?sender|failed permanently"
    r"|user unknown|no such user|mailbox (?:is )?full|message (?:was )?(?:not delivered|rejected)|fatal errors?"
    r"|did not reach|does not exist|delivery failure|could not deliver|temporary (?:error|failure)|has been delayed"
    r"|have not yet been delivered|delivery attempts? (?:will continue|failed)|problem delivering",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"<?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+)>?")  # fmt: skip
_COPY_MARKER = re.compile(
    r"^.*(?:copy of (?:the|your) (?:original )?message|original message (?:follows|headers)|below this line"
    r"|message headers follow|^-+ ?original message ?-+|returned message|undelivered message|headers of the"
    r"|^return-path:|^received:).*$",
    re.IGNORECASE | re.MULTILINE,
)
_EMBEDDED_ID = re.compile(r"^\s*message-id\s*:\s*(<[^>\s]+>|\S+@\S+)", re.IGNORECASE | re.MULTILINE)
_DSN_FIELD = re.compile(r"^([A-Za-z-]+)\s*:\s*(.*(?:\n[ \t]+.*)*)", re.MULTILINE)
_FAILED_ACTIONS = {"failed", "delayed"}
_MAX_SCAN = 65_536  # a notice's explanation sits at its top


def _dsn_blocks(message: Message) -> tuple[list[dict[str, str]], str]:
    """The field blocks of every message/delivery-status part, and the text of those that hold no fields."""
    blocks: list[dict[str, str]] = []
    loose_text: list[str] = []
    for part in mime.walk_leaves(message):
        kind = mime.content_type(part)
        if kind not in ("message/delivery-status", "message/global-delivery-status", "text/delivery-status"):
            continue
        inner = mime.inner_messages(part)
        found = [{k.lower(): decode_words(str(v)) for k, v in block.items()} for block in inner]
        if not any(found):
            text = "\n\n".join(str(block.get_payload()) for block in inner) if inner else mime.part_text(part)[0]
            found = [{k.lower(): " ".join(v.split()) for k, v in _DSN_FIELD.findall(chunk)}
                     for chunk in re.split(r"\n\s*\n", text)]  # fmt: skip
            if not any(found):
                loose_text.append(text)
        blocks.extend(block for block in found if {"final-recipient", "original-recipient", "action"} & set(block))
    return blocks, "\n".join(loose_text)


def _original_message_id(message: Message, text: str) -> str | None:
    """Message-ID of the message that bounced: from the returned message or headers, else from the notice's text."""
    for part in mime.walk_leaves(message):
        kind = mime.content_type(part)
        if kind in ("message/rfc822", "message/global"):
            for inner in mime.inner_messages(part):
                found = first_message_id(inner.get("message-id"))
                if found:
                    return found
        elif kind in ("text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header"):
            match = _EMBEDDED_ID.search(mime.part_text(part)[0])
            if match:
                return first_message_id(match.group(1))
    match = _EMBEDDED_ID.search(text)
    return first_message_id(match.group(1)) if match else None


def _recipient_from_text(text: str, own: set[str]) -> str | None:
    """The first address in the explanation (before the copy of the original) that is not the notice's own."""
    copy = _COPY_MARKER.search(text)
    explanation = text[: copy.start()] if copy and copy.start() > 40 else text
    for match in _ADDRESS.finditer(explanation):
        address = match.group(1).lower().rstrip(".")
        if address not in own and not _DAEMON_SENDER.match(address):
            return address
    return None


def _from_dsn(blocks: list[dict[str, str]]) -> tuple[str | None, str, str | None] | None:
    """(recipient, diagnostic, status) of the first failed or delayed recipient; None when all were delivered."""
    for block in blocks:
        action = block.get("action", "failed").strip().lower()
        if action not in _FAILED_ACTIONS and not action.startswith(("fail", "delay")):
            continue
        recipient = block.get("final-recipient") or block.get("original-recipient") or ""
        address = recipient.split(";", 1)[-1].strip().strip("<>").lower() or None
        status = find_status(block.get("status", "")) or block.get("status", "").strip() or None
        if action.startswith("delay"):
            status = status if status and status.startswith("4") else "4.4.7"
        return address, block.get("diagnostic-code", ""), status
    return None


def detect_bounce(message: Message, *, sender: str, sender_name: str, subject: str, text: str) -> Bounce | None:
    """A Bounce when this message reports a failed (or delayed) delivery, else None."""
    report_type = (mime.param(message, "report-type") or "").lower()
    if report_type in ("feedback-report", "disposition-notification"):
        return None
    blocks, loose_text = _dsn_blocks(message)
    text = (text + "\n" + loose_text)[:_MAX_SCAN] if loose_text else text[:_MAX_SCAN]
    if blocks:
        found = _from_dsn(blocks)
        if found is None:
            return None  # a success report ("delivered", "relayed", "expanded")
        recipient, diagnostic, status = found
        reason, hard = classify_failure(status, diagnostic or text)
        return Bounce(_original_message_id(message, text), recipient, hard, reason)
    daemon = not sender or bool(_DAEMON_SENDER.match(sender) or _DAEMON_NAME.search(sender_name))
    worded = bool(_BOUNCE_SUBJECT.search(subject))
    if not ((daemon and (worded or _FAILED_BODY.search(text))) or (worded and _FAILED_BODY.search(text))):
        return None
    own = {address for _, address in parse_addresses(str(message.get("from", "")))}
    own.update(address for _, address in parse_addresses(str(message.get("to", ""))))
    recipient = _recipient_from_text(text, own)
    copy = _COPY_MARKER.search(text)
    explanation = text[: copy.start()] if copy and copy.start() > 40 else text
    status = find_status(explanation)
    if status is None and re.search(r"temporar|delay|will (?:continue|retry)|not yet been delivered", explanation,
                                    re.IGNORECASE):  # fmt: skip
        status = "4.0.0"
    reason, hard = classify_failure(status, explanation)
    return Bounce(_original_message_id(message, text), recipient, hard, reason)
