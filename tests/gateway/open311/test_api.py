"""The Open311 API of a running service: every answer in JSON and XML, checked against the spec's schemas."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import httpx
import pytest

from gateway.app import Inbox311
from gateway.open311.ratelimit import RateLimiter
from gateway.settings import Settings
from storage.tickets import create_ticket, get_ticket_by_number, list_events, list_tickets
from tests.gateway.conftest import service_settings
from tests.gateway.open311.conftest import add_key, base_url, staff_sets_status, start_service
from tests.gateway.open311.spec import (
    assert_schema,
    assert_swagger,
    assert_xml_mirrors_json,
    example_json,
    example_post_body,
    example_xml,
)
from tests.smtp_sink import SmtpSink

NUMBER = re.compile(r"^SR-\d{4}-\d{6}$")
PERSONAL = ("smit333", "sfgov", "john", "smith", "111111111", "tt222111", "123456")


def spec_post(api_key: str, **changes: str) -> dict[str, str]:
    """The spec's POST example, for our pothole service, with our key."""
    form = dict(parse_qsl(example_post_body(), keep_blank_values=True))
    form.update({"api_key": api_key, "service_code": "pothole", **changes})
    form.pop("jurisdiction_id")
    return form


async def post(client: httpx.AsyncClient, form: dict[str, str], fmt: str = "json") -> list[dict]:
    response = await client.post(f"/requests.{fmt}", data=form)
    assert response.status_code == 200, response.text
    return response.json() if fmt == "json" else []


async def test_service_list_and_definitions(client: httpx.AsyncClient) -> None:
    services = (await client.get("/services.json")).json()
    assert_schema("services.json", services)
    assert set(services[0]) == set(example_json("get_service_list")[0])
    xml = (await client.get("/services.xml")).content
    top = assert_xml_mirrors_json(xml, services, "services", "service")
    assert {c.tag for c in top[0]} == {c.tag for c in example_xml("get_service_list")[0]}
    for code in ("pothole", "street-light"):
        definition = (await client.get(f"/services/{code}.json")).json()
        assert_schema("service-definition.json", definition)
        assert definition == {"service_code": code, "attributes": []}
        xml_def = await client.get(f"/services/{code}.xml")
        assert b"<service_definition><service_code>" + code.encode() in xml_def.content
    missing = await client.get("/services/DMV66.json")
    assert missing.status_code == 404 and missing.json() == [
        {"code": 404, "description": "service_code 'DMV66' not found"}
    ]


async def test_post_makes_a_ticket_through_the_pipeline(
    o311: Inbox311, client: httpx.AsyncClient, api_key: str, sink: SmtpSink
) -> None:
    answer = await post(client, spec_post(api_key))
    assert_swagger("RequestResponse", answer)
    assert set(answer[0]) == set(example_json("post_service_request")[0])
    number = answer[0]["service_request_id"]
    assert NUMBER.match(number)

    async with o311.db.read() as session:
        ticket = await get_ticket_by_number(session=session, tracking_number=number)
        assert ticket is not None
        events = [e.action for e in await list_events(session=session, ticket_id=ticket.id)]
    assert ticket.channel == "open311" and ticket.category == "pothole"
    assert ticket.category_decided_by == "open311-service-code" and ticket.department == "streets"
    assert (ticket.lat, ticket.lon, ticket.address) == (37.76524078, -122.4212043, "1234 5th street")
    assert ticket.status == "acknowledged" and events[:2] == ["created", "categorised"]

    [ack] = await sink.handler.wait_for(1)  # the reporter left an email address: the usual acknowledgement
    assert ack["To"] == "smit333@sfgov.edu" and number in ack["Subject"]
    assert number in ack.get_payload(decode=True).decode()

    again = await post(client, spec_post(api_key))  # the same request twice is one ticket
    assert again[0]["service_request_id"] == number
    xml = await client.post("/requests.xml", data=spec_post(api_key))
    assert_xml_mirrors_json(xml.content, [{"service_request_id": number, "service_notice": None, "account_id": None}],
                            "service_requests", "request")  # fmt: skip
    async with o311.db.read() as session:
        assert len(await list_tickets(session=session)) == 1

    one = (await client.get(f"/requests/{number}.json")).json()
    assert_schema("requests.json", one)
    assert list(one[0]) == list(example_json("get_service_request")[0])
    assert one[0]["address"] == "5th street" and one[0]["status"] == "open"
    assert one[0]["description"] == "A large sinkhole is destroying the street"
    xml_one = (await client.get(f"/requests/{number}.xml")).content
    top = assert_xml_mirrors_json(xml_one, one, "service_requests", "request")
    assert [c.tag for c in top[0]] == [c.tag for c in example_xml("get_service_request")[0]]
    listed = (await client.get("/requests.json")).text + (await client.get("/requests.xml")).text
    for secret in PERSONAL:  # no personal data in any public answer
        assert secret not in listed.lower() and secret not in xml_one.decode().lower()


@pytest.mark.parametrize("open311_config", [{"post_wait_seconds": 0.2}], ids=["wait-0.2s"])
async def test_a_token_when_the_pipeline_is_not_done_yet(
    o311: Inbox311, client: httpx.AsyncClient, api_key: str
) -> None:
    await o311.worker.stop()  # nothing is processed until it runs again
    answer = await post(client, spec_post(api_key, description="Sinkhole, second report"))
    assert_swagger("RequestResponse", answer)
    token = answer[0]["token"]
    assert "service_request_id" not in answer[0]
    pending = (await client.get(f"/tokens/{token}.json")).json()
    assert pending == [{"token": token}]
    await o311.worker.start()
    await o311.worker.drain()
    resolved = (await client.get(f"/tokens/{token}.json")).json()
    assert_swagger("TokenResponse", resolved)
    assert set(resolved[0]) == set(example_json("get_service_request_id_from_a_token")[0])
    assert NUMBER.match(resolved[0]["service_request_id"])
    xml = (await client.get(f"/tokens/{token}.xml")).content
    assert_xml_mirrors_json(xml, resolved, "service_requests", "request")
    assert [c.tag for c in example_xml("get_service_request_id_from_a_token")[0]] == ["service_request_id", "token"]
    unknown = await client.get("/tokens/0123456789abcdef.xml")
    assert unknown.status_code == 404 and b"<errors><error><code>404</code>" in unknown.content


async def test_errors_in_the_spec_shape(client: httpx.AsyncClient, api_key: str) -> None:
    bad_key = await client.post("/requests.json", data=spec_post("wrong"))
    assert bad_key.status_code == 403
    assert bad_key.json() == [
        {"code": 403, "description": "Invalid api_key received -- can't proceed with create_request."}
    ]
    no_key = await client.post("/requests.xml", data={"service_code": "pothole"})
    assert no_key.status_code == 403 and no_key.headers["content-type"] == "text/xml; charset=utf-8"
    cases = [
        (spec_post(api_key, service_code=""), 400, "service_code was not provided"),
        (spec_post(api_key, lat="", long="", address_string=""), 400, "a location is required"),
        (spec_post(api_key, lat="91"), 400, "lat must be between -90 and 90"),
    ]
    for form, code, start in cases:
        response = await client.post("/requests.json", data=form)
        [error] = response.json()
        assert response.status_code == error["code"] == code and error["description"].startswith(start)
    assert (await client.get("/requests.html")).status_code == 404
    assert (await client.get("/requests.json", params={"status": "pending"})).status_code == 400
    wide = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
    assert (await client.get("/requests.json", params=wide)).json()[0]["description"].endswith("more than 90 days")
    assert (await client.get("/requests/SR-1999-000001.json")).status_code == 404


async def test_get_requests_filters_and_defaults(o311: Inbox311, client: httpx.AsyncClient, api_key: str) -> None:
    pothole = (await post(client, spec_post(api_key)))[0]["service_request_id"]
    graffiti = (await post(client, spec_post(api_key, service_code="graffiti", description="Tags")))[0]
    graffiti_number = graffiti["service_request_id"]
    old = datetime.now(UTC) - timedelta(days=120)
    await staff_sets_status(o311, graffiti_number, "closed", "Painted over.")
    async with o311.db.write() as session:
        ancient = await create_ticket(session=session, prefix="SR", now=old, status="new", channel="email",
                                      summary="Old pothole", category="pothole")  # fmt: skip

    async def numbers(**params: str) -> list[str]:
        response = await client.get("/requests.json", params=params)
        assert response.status_code == 200, response.text
        assert_schema("requests.json", response.json())
        return [r["service_request_id"] for r in response.json()]

    assert await numbers() == [graffiti_number, pothole]  # newest first; 120 days ago is outside the default window
    assert await numbers(service_code="graffiti") == [graffiti_number]
    assert await numbers(service_code="graffiti,pothole", status="open") == [pothole]
    assert await numbers(service_code="DMV66") == []
    closed = (await client.get("/requests.json", params={"status": "closed"})).json()
    assert [(r["status"], r["status_notes"]) for r in closed] == [("closed", "Painted over.")]
    since = (old - timedelta(days=1)).isoformat()
    assert await numbers(start_date=since) == [ancient.tracking_number]
    ids = f"{ancient.tracking_number},{pothole}"
    assert sorted(await numbers(service_request_id=ids, status="closed")) == sorted([ancient.tracking_number, pothole])


async def test_posts_are_rate_limited_per_key(o311: Inbox311, client: httpx.AsyncClient, api_key: str) -> None:
    o311.web_ctx.parts["open311_limiter"] = RateLimiter(per_minute=1, burst=2)
    for n in range(2):
        await post(client, spec_post(api_key, description=f"Report {n}"))
    limited = await client.post("/requests.json", data=spec_post(api_key, description="Report 3"))
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()[0]["code"] == 429
    other = await add_key(o311, "another-client")
    await post(client, spec_post(other, description="Report from another app"))


async def test_jurisdiction_is_checked_when_configured(settings: Settings, sqlite_url: str, sink: SmtpSink) -> None:
    service = await start_service(
        service_settings(settings, sqlite_url, sink.port, open311={"jurisdiction_id": "city.gov"})
    )
    try:
        async with httpx.AsyncClient(base_url=base_url(service)) as client:
            missing = await client.get("/services.json")
            assert missing.status_code == 400 and missing.json()[0]["description"] == "jurisdiction_id was not provided"
            wrong = await client.get("/services.xml", params={"jurisdiction_id": "other.gov"})
            assert wrong.status_code == 404 and b"<code>404</code>" in wrong.content
            right = await client.get("/services.json", params={"jurisdiction_id": "city.gov"})
            assert right.status_code == 200 and len(right.json()) == 20
    finally:
        await service.stop()
