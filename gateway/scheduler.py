"""Time-driven work: an APScheduler 3 `AsyncIOScheduler` on the service's loop, and the jobs it runs.

Jobs are kept in memory and every job is written to be safe when several instances run it at once (each change is
a compare-and-set in the database), so no shared job store is needed to keep a restart or a second instance from
doing a job twice. Each job only calls a service function.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from gateway.open311.mirror import MirrorReport, StatusChanger, mirror_upstream_statuses
from gateway.open311.status import staff_status_changer
from gateway.open311.upstream import UpstreamClient
from gateway.pipeline import Services
from gateway.settings import Settings
from storage.db import Database
from storage.models import utcnow

log = logging.getLogger(__name__)

OPEN311_MIRROR_JOB = "open311-status-mirror"
FIRST_RUN_DELAY = timedelta(seconds=30)  # let the service settle after a start before the first poll


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        services: Services,
        status_changer: StatusChanger | None = None,
        upstream_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        # Through the staff service by default, so a mirrored status change notifies residents like any other.
        self._status_changer = status_changer or staff_status_changer(db, services)
        self._upstream_transport = upstream_transport
        self._scheduler: AsyncIOScheduler | None = None
        self._busy = asyncio.Lock()  # one job body at a time; stop() waits for the one in hand
        self.last_mirror: MirrorReport | None = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()] if self._scheduler is not None else []

    def start(self, *, first_run: datetime | None = None) -> None:
        """Start on the running loop. `first_run` moves every job's first run (tests run them at once)."""
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
        upstream = self._settings.open311.upstream
        if upstream.url:
            scheduler.add_job(
                self.run_open311_mirror,
                "interval",
                minutes=upstream.poll_minutes,
                id=OPEN311_MIRROR_JOB,
                next_run_time=first_run or utcnow() + min(FIRST_RUN_DELAY, timedelta(minutes=upstream.poll_minutes)),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(upstream.poll_minutes * 60)),
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler: started with %d job(s): %s", len(self.job_ids()), ", ".join(self.job_ids()) or "none")

    async def stop(self) -> None:
        if self._scheduler is None:
            return
        self._scheduler.shutdown(wait=False)
        self._scheduler = None
        async with self._busy:  # the job in hand finishes; none starts after this
            pass

    async def run_open311_mirror(self) -> MirrorReport:
        """Job: one pass of the upstream status mirror."""
        async with self._busy:
            client = UpstreamClient(self._settings.open311.upstream, transport=self._upstream_transport)
            try:
                report = await mirror_upstream_statuses(db=self._db, client=client, changer=self._status_changer)
            finally:
                await client.close()
        self.last_mirror = report
        if report.changed or report.errors:
            log.info("open311 mirror: %d polled, %d changed, %d error(s)", report.polled, len(report.changed),
                     len(report.errors))  # fmt: skip
        return report
