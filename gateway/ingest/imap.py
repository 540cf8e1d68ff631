"""The IMAP ingestor: takes every message from one `[[imap]]` mailbox folder into the raw store, exactly once.

Per account, one connection in its own thread; the event loop drives it: search the UIDs above the checkpoint,
fetch them batch by batch with BODY.PEEK[], store each (committed), and only then move them to the processed
folder (or flag them \\Seen) and advance the checkpoint (UIDVALIDITY + last UID). A crash anywhere in between
redoes at most one batch, and the redone messages are recognised (same key, or Message-ID already stored).
New mail arrives by IDLE when the server offers it, by polling otherwise; lost connections are retried with
capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from imapclient import IMAPClient

from gateway.ingest.imap_connect import (
    ImapAuthError,
    ImapError,
    ImapFolderError,
    ImapUnavailable,
    check_imap_account,
    close_imap_client,
    describe_error,
    open_imap_client,
)
from gateway.ingest.imap_folder import (
    FolderStatus,
    fetch_raw,
    mark_processed,
    search_new_uids,
    select_folder,
    wait_in_idle,
)
from gateway.ingest.smtp_scan import message_id_of
from gateway.ingest.writer import RawWriter
from gateway.metrics import Metrics
from gateway.settings import ImapAccountSettings
from storage.db import Database
from storage.imap import get_checkpoint, save_checkpoint, stored_digests_without_message_id, stored_message_ids
from storage.models import utcnow
from storage.raw import NewRaw

__all__ = [
    "ImapAuthError",
    "ImapError",
    "ImapFolderError",
    "ImapIngestor",
    "ImapState",
    "ImapUnavailable",
    "check_imap_account",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ImapState:
    """What `/healthz` and `inbox311 imap status` show for one account."""

    account: str
    folder: str
    connected: bool = False
    idling: bool = False
    last_sync: datetime | None = None
    last_error: str | None = None
    messages_stored: int = 0

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["last_sync"] = self.last_sync.isoformat() if self.last_sync else None
        return data


class ImapIngestor:
    def __init__(
        self, account: ImapAccountSettings, *, db: Database, writer: RawWriter, metrics: Metrics | None = None
    ) -> None:
        self.account = account
        self._db = db
        self._writer = writer
        self._metrics = metrics
        self.source = f"imap:{account.name}"
        self._state = ImapState(account=account.name, folder=account.folder)
        self._stopping = asyncio.Event()
        self._halt = threading.Event()  # the same request, seen from the connection's thread
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._failures = 0

    @property
    def state(self) -> ImapState:
        return self._state

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # ---- lifecycle --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"imap-{self.account.name}")

    async def stop(self, *, grace: float = 10.0) -> None:
        """Finish the batch in hand (its stores, moves and checkpoint), log out, and return.

        An IDLE wait notices the request within half a second; a batch that is not done within `grace` seconds is
        abandoned, which is safe: its messages stay on the server and are recognised on the next start.
        """
        self._stopping.set()
        self._halt.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            log.warning("imap %s: still busy after %.0f s; abandoning the batch in hand", self.account.name, grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Connect, sync, wait for mail; on any failure record it, back off, reconnect. Until stopped."""
        self._stopping.clear()
        self._halt.clear()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"imap-{self.account.name}")
        self._failures = 0
        try:
            while not self._stopping.is_set():
                client: IMAPClient | None = None
                try:
                    client = await self._call(open_imap_client, self.account)
                    status = await self._call(select_folder, client, self.account.folder, self.account.processed_folder)
                    self._update(connected=True)
                    log.info(
                        "imap %s: connected to %s:%d, folder %s (%d messages, %s)",
                        self.account.name,
                        self.account.host,
                        self.account.port,
                        self.account.folder,
                        status.exists,
                        "IDLE" if status.idle and self.account.idle else "polling",
                    )
                    await self._follow(client, status)
                    await self._call(close_imap_client, client, logout=True)
                    client = None
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._failures += 1
                    message = describe_error(exc)
                    self._update(connected=False, idling=False, last_error=message)
                    delay = self._backoff(self._failures)
                    log.warning("imap %s: %s; retrying in %.1f s", self.account.name, message, delay)
                    self._close_soon(client)
                    client = None
                    await self._pause(delay)
                finally:
                    self._close_soon(client)
        finally:
            self._update(connected=False, idling=False)
            self._executor.shutdown(wait=False)

    # ---- one connection ---------------------------------------------------------------------------------------

    async def _follow(self, client: IMAPClient, status: FolderStatus) -> None:
        """Sync, then wait for new mail (IDLE or poll) and sync again, until stopped or the connection fails.

        With IDLE, the folder is still synced every `poll_seconds`: a server that misses a notification (or
        renumbers the folder under a selected session without saying so) delays mail by that much, not forever.
        Each round SELECTs the folder again, which is how a changed UIDVALIDITY is seen.
        """
        use_idle = status.idle and self.account.idle
        while not self._stopping.is_set():
            await self._sync(client, status)
            if self._stopping.is_set():
                return
            if use_idle:
                await self._idle(client)
            else:
                await self._pause(self.account.poll_seconds)
            if not self._stopping.is_set():
                status = await self._call(select_folder, client, self.account.folder, self.account.processed_folder)

    async def _idle(self, client: IMAPClient) -> None:
        # called in the connection's thread once the server has accepted IDLE
        mark_idling = functools.partial(
            asyncio.get_running_loop().call_soon_threadsafe, functools.partial(self._update, idling=True)
        )
        try:
            wake = await self._call(
                wait_in_idle,
                client,
                stop=self._halt,
                renew_after=min(self.account.idle_renew_seconds, self.account.poll_seconds),
                on_idle=mark_idling,
            )
        finally:
            self._update(idling=False)
        log.debug("imap %s: IDLE ended (%s)", self.account.name, wake)

    async def _sync(self, client: IMAPClient, status: FolderStatus) -> None:
        name, folder = self.account.name, self.account.folder
        async with self._db.read() as session:
            checkpoint = await get_checkpoint(session=session, account=name, folder=folder)
        after = 0
        if checkpoint is not None and checkpoint.uidvalidity == status.uidvalidity:
            after = checkpoint.last_uid
        elif checkpoint is not None:
            log.warning(
                "imap %s: UIDVALIDITY of %s changed from %d to %d; re-scanning the folder (messages "
                "already stored are recognised by Message-ID, or by their bytes when they have none)",
                name,
                folder,
                checkpoint.uidvalidity,
                status.uidvalidity,
            )
        uids = await self._call(search_new_uids, client, after)
        batch = self.account.batch_size
        if len(uids) > batch:
            log.info("imap %s: %d new messages in %s, taking them %d at a time", name, len(uids), folder, batch)
        done = 0
        for start in range(0, len(uids), batch):
            if self._stopping.is_set():
                return  # the checkpoint says where to go on
            chunk = uids[start : start + batch]
            fetched = await self._call(fetch_raw, client, chunk)
            stored = await self._store(status.uidvalidity, fetched)
            self._update(messages_stored=self._state.messages_stored + stored)  # committed, whatever happens next
            # Only now, with every message of the batch committed, may the server forget them.
            await self._call(mark_processed, client, sorted(fetched), self.account.processed_folder, status)
            await self._save_checkpoint(status.uidvalidity, chunk[-1])
            done += len(chunk)
            if len(uids) > batch:
                log.info("imap %s: %d/%d taken from %s", name, done, len(uids), folder)
        await self._save_checkpoint(status.uidvalidity, uids[-1] if uids else after)
        self._update(last_sync=utcnow(), last_error=None)
        self._failures = 0  # a completed sync ends a run of failures: the next one backs off from the start

    async def _store(self, uidvalidity: int, fetched: dict[int, bytes]) -> int:
        """Store the fetched messages; returns how many were new. Known Message-IDs are skipped, not stored.

        A message without a Message-ID is recognised by its exact bytes: after a UIDVALIDITY change (even one
        whose re-scan was interrupted) its old key no longer matches, and nothing else identifies it.
        """
        ids = {uid: message_id_of(raw) for uid, raw in fetched.items()}
        anonymous = [uid for uid, message_id in ids.items() if not message_id]
        async with self._db.read() as session:
            known = await stored_message_ids(session=session, message_ids=[m for m in ids.values() if m])
            digests = (
                await stored_digests_without_message_id(
                    session=session, source=self.source, sizes=[len(fetched[uid]) for uid in anonymous]
                )
                if anonymous
                else set()
            )
        items: list[tuple[int, NewRaw]] = []
        for uid in sorted(fetched):
            message_id = ids[uid]
            if message_id and message_id in known:
                log.info(
                    "imap %s: uid=%d message_id=%s is already stored; not storing it again",
                    self.account.name,
                    uid,
                    message_id,
                )
                continue
            if not message_id and digests and hashlib.sha256(fetched[uid]).hexdigest() in digests:
                log.info("imap %s: uid=%d (no Message-ID) is already stored byte for byte", self.account.name, uid)
                continue
            if message_id:
                known.add(message_id)  # the same message twice in one folder
            key = f"imap:{self.account.name}:{self.account.folder}:{uidvalidity}:{uid}"
            items.append(
                (
                    uid,
                    NewRaw(
                        channel="email",
                        source=self.source,
                        idempotency_key=key,
                        raw=fetched[uid],
                        message_id=message_id,
                        envelope_from="",
                        envelope_to="",
                    ),
                )
            )
        # All at once: the writer commits them in one transaction.
        results = await asyncio.gather(*(self._writer.store(item) for _, item in items))
        if self._metrics is not None:
            new = sum(1 for r in results if not r.duplicate)
            self._metrics.accepted.labels("email").inc(new)
            self._metrics.duplicates.labels("email").inc(len(fetched) - new)
        for (uid, item), result in zip(items, results, strict=True):
            log.debug(
                "imap %s: uid=%d raw=%s message_id=%s%s",
                self.account.name,
                uid,
                result.raw_id,
                item.message_id,
                " (already stored)" if result.duplicate else "",
            )
        return sum(1 for r in results if not r.duplicate)

    async def _save_checkpoint(self, uidvalidity: int, last_uid: int) -> None:
        async with self._db.write() as session:
            await save_checkpoint(
                session=session,
                account=self.account.name,
                folder=self.account.folder,
                uidvalidity=uidvalidity,
                last_uid=last_uid,
            )

    # ---- plumbing ---------------------------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking IMAP step in this account's thread."""
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def _close_soon(self, client: IMAPClient | None) -> None:
        """Close without waiting: queued behind whatever the thread is doing, so it never races a command."""
        if client is not None and self._executor is not None:
            self._executor.submit(close_imap_client, client, logout=False)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _backoff(self, failures: int) -> float:
        base, cap = self.account.backoff_base_seconds, self.account.backoff_max_seconds
        delay = min(cap, base * 2 ** min(failures - 1, 30))
        return delay * random.uniform(0.8, 1.0)  # jitter: several accounts on one server do not retry in step

    def _update(self, **changes: Any) -> None:
        self._state = dataclasses.replace(self._state, **changes)
