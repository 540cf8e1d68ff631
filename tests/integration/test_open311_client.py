"""A third-party Open311 client from PyPI (`georeport`) reads a running Inbox311, in JSON and in XML.

`georeport` reads only (it has no POST), so the requests are posted form-encoded as the spec's example does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from georeport import GeoReport

from gateway.app import Inbox311
from gateway.settings import Settings
from tests.gateway.conftest import service_settings
from tests.gateway.open311.conftest import add_key, base_url, start_service
from tests.smtp_sink import SmtpSink


@pytest.fixture
async def city(settings: Settings, sqlite_url: str) -> AsyncIterator[Inbox311]:
    sink = await SmtpSink().start()
    service = await start_service(
        service_settings(settings, sqlite_url, sink.port, open311={"jurisdiction_id": "city.example"})
    )
    yield service
    await service.stop()
    await sink.stop()


async def test_georeport_client_reads_services_and_requests(city: Inbox311) -> None:
    key = await add_key(city, "resident-app")
    posted = []
    async with httpx.AsyncClient(base_url=base_url(city)) as http:
        for code, where in (("pothole", "12 Main St"), ("street-light", "Main St & 2nd Ave")):
            form = {"api_key": key, "jurisdiction_id": "city.example", "service_code": code, "address_string": where,
                    "description": f"Reported by the app: {code}", "email": "pat@resident.example"}  # fmt: skip
            response = await http.post("/requests.json", data=form)
            assert response.status_code == 200, response.text
            posted.append(response.json()[0]["service_request_id"])

    for fmt in ("json", "xml"):
        client = GeoReport(base_url(city), jurisdiction="city.example", output_format=fmt)
        services = await asyncio.to_thread(client.get_service_list)
        by_code = {s["service_code"]: s for s in services}
        assert len(services) == 20 and by_code["pothole"]["service_name"] == "Pothole or road surface"
        assert by_code["pothole"]["group"] == "streets"

        definition = await asyncio.to_thread(client.get_service_definition, "street-light")
        assert definition["service_code"] == "street-light"

        listed = await asyncio.to_thread(client.get_service_requests, service_request_id=",".join(posted))
        assert sorted(r["service_request_id"] for r in listed) == sorted(posted)
        light = await asyncio.to_thread(client.get_service_request, posted[1])
        assert light["service_code"] == "street-light" and light["status"] == "open"
        assert light["address"] == "Main St & 2nd Ave"
        assert "pat@" not in str(listed) and "resident.example" not in str(light)

        open_potholes = await asyncio.to_thread(client.get_service_requests, service_code="pothole", status="open")
        if fmt == "json":
            assert [r["service_request_id"] for r in open_potholes] == [posted[0]]
        else:  # xmltodict gives a lone record as a dict, not a list of one
            assert open_potholes["service_request_id"] == posted[0]
            assert open_potholes["address"] == "Main St"  # the house number is not published
