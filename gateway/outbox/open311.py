"""Sends `open311` outbox rows: POSTs a forwarded ticket to the upstream Open311 system and keeps its id or token.

Retries are the outbox worker's (backoff, then dead); a 4xx other than 408/429 is not retried, since the same
request would be refused again. Each POST carries `Idempotency-Key: <tracking number>`, so a retry after a lost
answer does not make a second request at an upstream that honours it (Inbox311 does).
"""

from __future__ import annotations

import logging

import httpx

from gateway.open311 import channel as _channel  # noqa: F401  (registers the pipeline hooks that queue forwards)
from gateway.open311.services import load_catalog, unknown_service_map_categories
from gateway.open311.upstream import UpstreamClient, UpstreamError
from gateway.outbox.worker import OutboxError
from gateway.settings import ConfigError, Settings
from storage.db import Database
from storage.models import Outbox
from storage.open311 import record_upstream_ids
from storage.tickets import add_event

log = logging.getLogger(__name__)


class Open311Sender:
    channel = "open311"

    def __init__(self, settings: Settings, db: Database, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        upstream = settings.open311.upstream
        if upstream.service_map:  # a typo in a category name would silently forward nothing of it
            unknown = unknown_service_map_categories(load_catalog(settings.rules.file), upstream.service_map)
            if unknown:
                raise ConfigError(f"config key open311.upstream.service_map: unknown category {unknown[0]!r}")
        self._settings = upstream
        self._db = db
        self._client = UpstreamClient(upstream, transport=transport)

    async def send(self, row: Outbox) -> str | None:
        if not self._settings.url:
            raise OutboxError("open311 forward: [open311.upstream] url is not set", retryable=False)
        fields = row.payload.get("fields", {})
        number = str(row.payload.get("tracking_number", ""))
        try:
            created = await self._client.post_request(fields, idempotency_key=number or f"outbox-{row.id}")
        except UpstreamError as exc:
            raise OutboxError(str(exc), retryable=exc.retryable) from exc
        if row.ticket_id is not None:
            async with self._db.write() as session:
                await record_upstream_ids(
                    session=session,
                    ticket_id=row.ticket_id,
                    upstream_id=created.service_request_id,
                    upstream_token=created.token,
                )
                await add_event(session=session, ticket_id=row.ticket_id, actor="system", action="forwarded",
                                data={"upstream": self._settings.url, "service_request_id": created.service_request_id,
                                      "token": created.token, "service_notice": created.service_notice})  # fmt: skip
        log.info("outbox=%s ticket=%s forwarded upstream as %s", row.id, number,
                 created.service_request_id or f"token {created.token}")  # fmt: skip
        return created.service_request_id or created.token

    async def close(self) -> None:
        await self._client.close()
