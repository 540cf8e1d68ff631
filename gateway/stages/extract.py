"""Stage `extract`: find where the report is (addresses, intersections, coordinates, photo GPS)."""

from __future__ import annotations

from collections.abc import Callable

from gateway.pipeline import Stage, StageContext, WorkItem
from parsers.types import Channel, Location, ParsedMessage

# Locations a channel's form states outright (Open311 lat/long, address_string): they come before any found in text.
STATED_LOCATIONS: dict[Channel, Callable[[ParsedMessage], list[Location]]] = {}


async def run(item: WorkItem, ctx: StageContext) -> None:
    locator = ctx.services.locator
    if item.parsed is None:
        return
    stated = STATED_LOCATIONS.get(item.parsed.channel)
    item.locations = [
        *(stated(item.parsed) if stated is not None else []),
        *(locator.locate(item.parsed) if locator is not None else []),
    ]
    item.location = item.locations[0] if item.locations else None


STAGE = Stage(name="extract", run=run, transactional=False)
