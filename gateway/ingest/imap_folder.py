"""The blocking IMAP conversation with one selected folder: find new UIDs, fetch, move or flag, and wait in IDLE.

Every function here runs in the account's own thread (one connection, one thread: imapclient is not thread-safe).
"""

from __future__ import annotations

import imaplib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from imapclient import SEEN, IMAPClient

from gateway.ingest.imap_connect import ImapFolderError, ImapUnavailable

IdleWake = Literal["new-mail", "renew", "stop", "check"]

# How often the IDLE wait looks at the stop flag; bounds how long `stop()` waits for an idle connection.
IDLE_TICK_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class FolderStatus:
    uidvalidity: int
    exists: int
    idle: bool
    move: bool
    uidplus: bool


def select_folder(client: IMAPClient, folder: str, processed_folder: str) -> FolderStatus:
    """SELECT the folder read-write (moving and flagging need it) and make sure the processed folder exists."""
    if processed_folder and not client.folder_exists(processed_folder):
        client.create_folder(processed_folder)
    try:
        info = client.select_folder(folder)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:
        raise ImapFolderError(f"folder {folder!r} cannot be selected: {exc}") from exc
    return FolderStatus(
        uidvalidity=int(info[b"UIDVALIDITY"]),
        exists=int(info.get(b"EXISTS", 0)),
        idle=client.has_capability("IDLE"),
        move=client.has_capability("MOVE"),
        uidplus=client.has_capability("UIDPLUS"),
    )


def search_new_uids(client: IMAPClient, after_uid: int) -> list[int]:
    """UIDs above the checkpoint, ascending. Only the numbers: the messages are fetched batch by batch."""
    # `UID n:*` also matches the highest UID when that is below n (RFC 3501 6.4.8), hence the filter.
    return sorted(uid for uid in client.search(["UID", f"{after_uid + 1}:*"]) if uid > after_uid)


def fetch_raw(client: IMAPClient, uids: Sequence[int]) -> dict[int, bytes]:
    """The exact bytes of each message. BODY.PEEK[] leaves \\Seen alone until the message is stored."""
    response = client.fetch(list(uids), [b"BODY.PEEK[]"])
    return {uid: data[b"BODY[]"] for uid, data in response.items() if data.get(b"BODY[]") is not None}


def mark_processed(client: IMAPClient, uids: Sequence[int], processed_folder: str, status: FolderStatus) -> None:
    """Move stored messages to the processed folder, or flag them \\Seen when no processed folder is set."""
    if not uids:
        return
    if not processed_folder:
        client.add_flags(list(uids), [SEEN])
    elif status.move:
        client.move(list(uids), processed_folder)
    else:
        client.copy(list(uids), processed_folder)
        client.delete_messages(list(uids))
        # UID EXPUNGE removes exactly these; a plain EXPUNGE would also remove what a person marked \Deleted.
        if status.uidplus:
            client.uid_expunge(list(uids))
        else:
            client.expunge()


def wait_in_idle(
    client: IMAPClient, *, stop: threading.Event, renew_after: float, on_idle: Callable[[], None] | None = None
) -> IdleWake:
    """IDLE until new mail, the renewal time (RFC 2177: at most 29 minutes), or a stop request; then DONE.

    Raises ImapUnavailable when the server says BYE (shutdown, admin kick) so the caller reconnects.
    """
    client._imap.untagged_responses.pop("EXISTS", None)  # imapclient has no public view of it
    client.idle()
    # New mail announced as IDLE began is consumed by idle() itself, before the continuation; look for it there.
    wake: IdleWake | None = "new-mail" if client._imap.untagged_responses.pop("EXISTS", None) else None
    if on_idle is not None:
        on_idle()
    deadline = time.monotonic() + renew_after
    bye: str | None = None
    while wake is None:
        if stop.is_set():
            wake = "stop"
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            wake = "renew"
            break
        tick = min(IDLE_TICK_SECONDS, remaining)
        started = time.monotonic()
        responses = client.idle_check(timeout=tick)
        for response in responses:
            if len(response) >= 2 and response[0] == b"BYE":
                bye = b" ".join(p for p in response[1:] if isinstance(p, bytes)).decode("utf-8", "replace")
            elif len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT"):
                wake = "new-mail"
        if bye is not None:
            raise ImapUnavailable(f"server closed the connection: {bye or 'BYE'}")
        if not responses and time.monotonic() - started < tick * 0.8:
            # idle_check swallows EOF and returns nothing at once: end IDLE and let DONE tell us if the
            # connection is gone (it raises) or not (we sync once and idle again).
            wake = "check"
    client.idle_done()
    return wake
