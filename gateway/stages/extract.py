"""Stage `extract`: find where the report is (addresses, intersections, coordinates, photo GPS)."""

from __future__ import annotations

from gateway.pipeline import Stage, StageContext, WorkItem


async def run(item: WorkItem, ctx: StageContext) -> None:
    locator = ctx.services.locator
    if locator is None or item.parsed is None:
        return
    item.locations = locator.locate(item.parsed)
    item.location = item.locations[0] if item.locations else None


STAGE = Stage(name="extract", run=run, transactional=False)
